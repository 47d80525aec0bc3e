#!/usr/bin/env python3
"""Lists, per SPIR-V module, the function-local arrays (and vectors) that an
access chain indexes with a non-constant index. On NVIDIA such a variable
usually lives in local memory unless the driver unrolls the loop around it
(QK_VULKAN_PIPELINE_STATS=1 prints 'Local Memory Size'). Reads the modules
with spirv-dis (Debian: spirv-tools).

usage: tools/spv-dynamic-index.py build/src/backends/vulkan/*.spv
"""
import re
import subprocess
import sys


def dynamic_vars(path):
    text = subprocess.run(["spirv-dis", path], capture_output=True, text=True, check=True).stdout
    consts = set(re.findall(r"^\s*(%\S+) = OpConstant", text, re.M))
    local = dict(re.findall(r"^\s*(%\S+) = OpVariable (%_ptr_Function\S*) Function", text, re.M))
    found = {}
    for m in re.finditer(r"^\s*%\S+ = OpAccessChain %\S+ (%\S+) (.*)$", text, re.M):
        var, idx = m.group(1), m.group(2).split()
        if var in local and any(i not in consts for i in idx):
            found[var] = local[var]
    return found


def main(paths):
    for p in paths:
        if p.endswith(".raw.spv"):
            continue
        found = dynamic_vars(p)
        types = ", ".join(sorted(t.replace("%_ptr_Function_", "") for t in found.values()))
        print(f"{p.rsplit('/', 1)[-1]}: {len(found)}" + (f" ({types})" if found else ""))


if __name__ == "__main__":
    main(sys.argv[1:])
