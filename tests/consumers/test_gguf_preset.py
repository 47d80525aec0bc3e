"""qtool preset from-gguf: plans from GGUF files written by the `gguf`
package (llama.cpp's own writer), and clean failures on malformed files.

usage: test_gguf_preset.py QTOOL
"""
import json
import os
import random
import re
import struct
import subprocess
import sys
import tempfile

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

from harness import Tally

QTOOL = sys.argv[1]
tally = Tally("gguf_preset")
tmp = tempfile.mkdtemp(prefix="qk-gguf-")


def qtool(*args):
    return subprocess.run([QTOOL, *args], capture_output=True, text=True, errors="replace",
                          timeout=60)


def quant_bytes(rows, cols, qtype):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    return np.arange(rows * cols // block * size, dtype=np.uint8).reshape(rows, -1)


def write_gguf(path, arch, tensors, extra_kv=True, alignment=None):
    """tensors: (name, rows, cols or 0, ggml type)."""
    w = gguf.GGUFWriter(path, arch)
    if alignment:
        w.add_custom_alignment(alignment)
    if extra_kv:  # every metadata value type, arrays of strings and nested arrays
        w.add_uint8("t.u8", 1)
        w.add_int8("t.i8", -1)
        w.add_uint16("t.u16", 2)
        w.add_int16("t.i16", -2)
        w.add_uint32("t.u32", 3)
        w.add_int32("t.i32", -3)
        w.add_float32("t.f32", 0.5)
        w.add_bool("t.bool", True)
        w.add_string("t.str", "hello")
        w.add_uint64("t.u64", 4)
        w.add_int64("t.i64", -4)
        w.add_float64("t.f64", 0.25)
        w.add_array("t.arr_str", ["a", "bc", ""])
        w.add_array("t.arr_i32", [1, 2, 3])
        w.add_array("t.arr_nested", [[1, 2], [3]])
        w.add_array("t.arr_empty", [])
    for name, rows, cols, qtype in tensors:
        if isinstance(cols, tuple):  # a 3-D tensor: (depth, cols)
            data = quant_bytes(rows * cols[0], cols[1], qtype).reshape(cols[0], rows, -1)
            w.add_tensor(name, data, raw_dtype=qtype)
            continue
        shape = (rows, cols) if cols else (rows,)
        if qtype == T.F32:
            w.add_tensor(name, np.ones(shape, np.float32))
        elif qtype == T.F16:
            w.add_tensor(name, np.ones(shape, np.float16))
        else:
            data = quant_bytes(rows, cols if cols else 1, qtype)
            if not cols:
                data = data.reshape(-1)
            w.add_tensor(name, data, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def plan_format(plan, name):
    """What convert would pick: the first entry (in file order) whose ERE
    matches; None when none does (convert's --format decides)."""
    for pattern, fmt in plan["layers"].items():
        if re.search(pattern, name):
            return fmt
    return None


def check_plan(label, gguf_path, expected, args=()):
    out = os.path.join(tmp, label + ".json")
    r = qtool("preset", "from-gguf", gguf_path, "-o", out, *args)
    if not tally.check(r.returncode == 0, f"{label}: exit 0", r.stderr.strip()):
        return None
    plan = json.load(open(out))  # dicts keep the file's order
    tally.check(set(plan) == {"layers"}, f"{label}: keys", str(sorted(plan)))
    bad = [(n, f, plan_format(plan, n)) for n, f in expected.items() if plan_format(plan, n) != f]
    tally.check(not bad, f"{label}: every tensor gets its format", str(bad[:5]))
    pats = [p for p in plan["layers"] if p != ".*"]
    bad = [p for p in pats if not (p.startswith("^") and p.endswith("$")) or "(?" in p]
    tally.check(not bad, f"{label}: {len(pats)} anchored POSIX EREs", str(bad[:3]))
    return plan


# 1. A diffusion GGUF (ComfyUI-GGUF keeps the safetensors names): mixed
#    K-quants in one layer kind must not be generalized.
diff = os.path.join(tmp, "flux.gguf")
tensors = [("img_in.weight", 64, 256, T.F16), ("img_in.bias", 64, 0, T.F32)]
for b in range(3):
    tensors += [
        (f"blocks.{b}.norm1.weight", 256, 0, T.F32),
        (f"blocks.{b}.attn.qkv.weight", 768, 256, T.Q4_K),
        (f"blocks.{b}.attn.proj.weight", 256, 256, T.Q5_0 if b else T.Q6_K),
        (f"blocks.{b}.mlp.fc1.weight", 1024, 256, T.IQ4_XS),
        (f"blocks.{b}.mlp.fc2.weight", 256, 1024, T.Q8_0),
    ]
tensors += [("final_layer.linear.weight", 64, 256, T.BF16),
            ("experts.weight", 64, (2, 256), T.Q4_K)]  # 3-D: convert cannot quantize it
write_gguf(diff, "flux", tensors, alignment=64)
fmt = {T.F16: "skip", T.F32: "skip", T.BF16: "skip", T.Q4_K: "nvfp4", T.Q5_0: "nvfp4",
       T.IQ4_XS: "nvfp4", T.Q6_K: "float8_e4m3fn", T.Q8_0: "float8_e4m3fn"}
expected = {n: fmt[t] for n, _, _, t in tensors}
expected["experts.weight"] = "skip"
plan = check_plan("flux", diff, expected)
if plan:
    generic = [p for p in plan["layers"] if "[0-9]+" in p]
    tally.check(r"^blocks\.[0-9]+\.attn\.qkv\.weight$" in generic, "flux: uniform layers share one entry",
                str(generic))
    exact = [p for p in plan["layers"] if "attn\\.proj" in p]
    tally.check(len(exact) == 3 and all("[0-9]+" not in m for m in exact),
                "flux: mixed layers get exact entries", str(exact))
    tally.check(list(plan["layers"])[-1] == ".*" and plan["layers"][".*"] == "skip",
                "flux: tensors the GGUF lacks are kept (last catch-all skip)")
# Formats are passed through verbatim; --default convert leaves the rest to convert.
expected2 = {n: {"nvfp4": "int8_tensorwise:row", "float8_e4m3fn": "mxfp8"}.get(f, f)
             for n, f in expected.items()}
expected2["not_in_gguf.weight"] = None
check_plan("flux-opts", diff, expected2,
           ("--format", "int8_tensorwise:row", "--format8", "mxfp8", "--default", "convert"))
# bitsandbytes has no 8-bit format: 6/8-bit layers are kept.
check_plan("flux-bnb", diff, {n: {"nvfp4": "nf4:dq", "float8_e4m3fn": "skip"}.get(f, f)
                              for n, f in expected.items()}, ("--format", "nf4:dq"))

# 2. A llama.cpp LLM: names are mapped to Hugging Face names.
llm = os.path.join(tmp, "llama.gguf")
tensors = [("token_embd.weight", 512, 256, T.Q4_0), ("output_norm.weight", 256, 0, T.F32),
           ("output.weight", 512, 256, T.Q6_K)]
for b in range(2):
    tensors += [(f"blk.{b}.attn_norm.weight", 256, 0, T.F32),
                (f"blk.{b}.attn_q.weight", 256, 256, T.Q4_K),
                (f"blk.{b}.attn_k.weight", 64, 256, T.Q4_K),
                (f"blk.{b}.attn_v.weight", 64, 256, T.Q6_K if b == 0 else T.Q4_K),
                (f"blk.{b}.attn_output.weight", 256, 256, T.Q4_K),
                (f"blk.{b}.ffn_norm.weight", 256, 0, T.F32),
                (f"blk.{b}.ffn_gate.weight", 512, 256, T.Q4_K),
                (f"blk.{b}.ffn_up.weight", 512, 256, T.Q4_K),
                (f"blk.{b}.ffn_down.weight", 256, 512, T.Q5_K)]
write_gguf(llm, "llama", tensors)
hf = {"model.embed_tokens.weight": "nvfp4", "model.norm.weight": "skip",
      "lm_head.weight": "float8_e4m3fn"}
for b in range(2):
    hf.update({f"model.layers.{b}.input_layernorm.weight": "skip",
               f"model.layers.{b}.self_attn.q_proj.weight": "nvfp4",
               f"model.layers.{b}.self_attn.k_proj.weight": "nvfp4",
               f"model.layers.{b}.self_attn.v_proj.weight": "float8_e4m3fn" if b == 0 else "nvfp4",
               f"model.layers.{b}.self_attn.o_proj.weight": "nvfp4",
               f"model.layers.{b}.post_attention_layernorm.weight": "skip",
               f"model.layers.{b}.mlp.gate_proj.weight": "nvfp4",
               f"model.layers.{b}.mlp.up_proj.weight": "nvfp4",
               f"model.layers.{b}.mlp.down_proj.weight": "nvfp4"})
check_plan("llama", llm, hf)
check_plan("llama-identity", llm, {n: ("skip" if t == T.F32 else "float8_e4m3fn" if t == T.Q6_K
                                       else "nvfp4") for n, _, _, t in tensors},
           ("--names", "identity"))

# 3. Bad options are usage errors (exit 2).
for args in (("--format", "nvfp5"), ("--names", "gpt"), ("--default", "nvfp4"),
             ("--format8", "int8_tensorwise:zz"), ("--format", "nf4", "--format8", "mxfp8")):
    r = qtool("preset", "from-gguf", diff, "-o", os.path.join(tmp, "x.json"), *args)
    tally.check(r.returncode == 2, f"usage error for {args}", f"rc {r.returncode}")


# 4. Malformed files: exit 1 with a message naming the problem, never a crash.
def expect_error(label, data, needle):
    path = os.path.join(tmp, label + ".gguf")
    with open(path, "wb") as f:
        f.write(data)
    r = qtool("preset", "from-gguf", path, "-o", os.path.join(tmp, label + ".json"))
    tally.check(r.returncode == 1 and needle in r.stderr, f"malformed {label}: '{needle}'",
                f"rc {r.returncode}: {r.stderr.strip()}")


def s(x):
    b = x.encode()
    return struct.pack("<Q", len(b)) + b


def header(n_tensors, n_kv, version=3):
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv)


def tinfo(name, dims, qtype, offset):
    return s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) \
        + struct.pack("<IQ", qtype, offset)


def pad(b, a=32):
    return b + b"\0" * (-len(b) % a)


good = pad(header(1, 1) + s("general.alignment") + struct.pack("<II", 4, 32)
           + tinfo("w", [32, 2], int(T.Q4_0), 0)) + b"\1" * 36
with open(os.path.join(tmp, "good.gguf"), "wb") as f:
    f.write(good)
r = qtool("preset", "from-gguf", os.path.join(tmp, "good.gguf"), "-o", os.path.join(tmp, "g.json"))
tally.check(r.returncode == 0, "hand-written minimal GGUF parses", r.stderr)

expect_error("empty", b"", "not a GGUF file")
expect_error("magic", b"GGML" + good[4:], "not a GGUF file")
expect_error("v1", b"GGUF" + struct.pack("<I", 1) + good[8:], "v1 is not supported")
expect_error("bigendian", b"GGUF" + struct.pack(">I", 3) + good[8:], "big-endian")
expect_error("v9", b"GGUF" + struct.pack("<I", 9) + good[8:], "unknown GGUF version 9")
expect_error("huge-counts", header(1 << 60, 1 << 60) + b"\0" * 64, "cannot fit")
expect_error("bad-value-type", header(0, 1) + s("k") + struct.pack("<I", 13) + b"\0" * 16,
             "unknown metadata value type 13")
expect_error("bad-array-type", header(0, 1) + s("k") + struct.pack("<IIQ", 9, 99, 1) + b"\0" * 16,
             "unknown array element type 99")
expect_error("huge-array", header(0, 1) + s("k") + struct.pack("<IIQ", 9, 8, 1 << 40) + b"\0" * 16,
             "truncated file")
expect_error("huge-string", header(0, 1) + s("k") + struct.pack("<IQ", 8, 1 << 62) + b"\0" * 16,
             "truncated file")
expect_error("alignment-type", header(0, 1) + s("general.alignment") + struct.pack("<IQ", 10, 32),
             "must be u32")
expect_error("alignment-odd", header(0, 1) + s("general.alignment") + struct.pack("<II", 4, 24),
             "not a power of two")
expect_error("rank0", pad(header(1, 0) + tinfo("w", [], 0, 0)), "rank 0")
expect_error("rank5", pad(header(1, 0) + tinfo("w", [1] * 5, 0, 0)), "rank 5")
expect_error("dim0", pad(header(1, 0) + tinfo("w", [0, 4], 0, 0)), "bad dimension 0")
expect_error("dim-overflow", pad(header(1, 0) + tinfo("w", [1 << 40, 1 << 40], 0, 0)), "bad dimension")
expect_error("unknown-type", pad(header(1, 0) + tinfo("w", [32], 4, 0)) + b"\0" * 64,
             "unknown ggml type 4")
expect_error("partial-block", pad(header(1, 0) + tinfo("w", [16, 2], int(T.Q4_0), 0)) + b"\0" * 64,
             "not a multiple of Q4_0's block of 32")
expect_error("misaligned", pad(header(1, 0) + tinfo("w", [4], 0, 8)) + b"\0" * 64, "not aligned")
expect_error("overlap", pad(header(2, 0) + tinfo("a", [16], 0, 0) + tinfo("b", [16], 0, 32))
             + b"\0" * 128, "overlap")
expect_error("duplicate", pad(header(2, 0) + tinfo("a", [8], 0, 0) + tinfo("a", [8], 0, 32))
             + b"\0" * 64, "duplicate tensor name 'a'")
expect_error("nul-name", pad(header(1, 0) + tinfo("a\0b", [8], 0, 0)) + b"\0" * 32, "NUL")
expect_error("data-past-end", good[:-1], "truncated file: tensor 'w'")
expect_error("long-name", pad(header(1, 0) + tinfo("a." * 200, [8], 0, 0)) + b"\0" * 32,
             "tensor name too long")
# Every truncation of a real file fails cleanly.
real = open(llm, "rb").read()
cuts = sorted(set(range(0, 600)) | set(random.Random(1).sample(range(600, len(real)), 200)))
crashes = []
for n in cuts:
    path = os.path.join(tmp, "cut.gguf")
    with open(path, "wb") as f:
        f.write(real[:n])
    r = qtool("preset", "from-gguf", path, "-o", os.path.join(tmp, "cut.json"))
    if r.returncode != 1 or not r.stderr.startswith("qtool: preset from-gguf:"):
        crashes.append((n, r.returncode, r.stderr[:80]))
tally.check(not crashes, f"{len(cuts)} truncations of a real file fail with exit 1", str(crashes[:3]))
# Random byte corruption in the header region: exit 0 or 1, never a crash.
rng = random.Random(2)
hdr_len = 600
crashes = []
for i in range(300):
    data = bytearray(real)
    for _ in range(rng.randint(1, 4)):
        data[rng.randrange(4, hdr_len)] = rng.randrange(256)
    path = os.path.join(tmp, "fuzz.gguf")
    with open(path, "wb") as f:
        f.write(data)
    r = qtool("preset", "from-gguf", path, "-o", os.path.join(tmp, "fuzz.json"))
    if r.returncode not in (0, 1):
        crashes.append((i, r.returncode, r.stderr[:80]))
tally.check(not crashes, "300 corrupted headers: exit 0 or 1, no crash", str(crashes[:3]))


# 5. End to end: a GGUF of qtool's synthetic model (same names, as
#    ComfyUI-GGUF writes them) -> plan -> `qtool convert --layers`: every layer
#    gets the format the plan says.
def end_to_end():
    model = os.path.join(tmp, "model.safetensors")
    r = qtool("make-model", model, "--blocks", "2", "--width", "256")
    if not tally.check(r.returncode == 0, "make-model", r.stderr):
        return
    with open(model, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    header.pop("__metadata__", None)
    choice = {}
    for name, info in header.items():
        shape = info["shape"]
        if len(shape) != 2 or "adaLN" in name:
            choice[name] = T.F32
        elif "blocks.1.attn.qkv" in name:
            choice[name] = T.Q6_K
        elif "final_layer" in name:
            choice[name] = T.Q8_0
        else:
            choice[name] = T.Q4_0
    g = os.path.join(tmp, "model.gguf")
    write_gguf(g, "synthetic", [(n, *(header[n]["shape"] + [0])[:2], t) for n, t in choice.items()],
               extra_kv=False)
    layers = os.path.join(tmp, "model-layers.json")
    r = qtool("preset", "from-gguf", g, "-o", layers)
    if not tally.check(r.returncode == 0, "e2e: preset", r.stderr):
        return
    out = os.path.join(tmp, "model-planned.safetensors")
    r = qtool("convert", model, "-o", out, "--format", "nvfp4", "--layers", layers,
              "--backend", "cpu")
    if not tally.check(r.returncode == 0, "e2e: convert --layers", r.stderr.strip()[-300:]):
        return
    with open(out, "rb") as f:
        oh = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    meta = json.loads(oh.get("__metadata__", {}).get("_quantization_metadata", "{}"))
    got = {k: v.get("format") for k, v in meta.get("layers", {}).items()}
    want = {}
    for name, t in choice.items():
        if name.endswith(".weight") and t != T.F32:
            want[name[: -len(".weight")]] = "float8_e4m3fn" if t in (T.Q6_K, T.Q8_0) else "nvfp4"
    tally.check(got == want, "e2e: every layer quantized as the GGUF plan says",
                str(sorted(set(got.items()) ^ set(want.items()))[:4]))


end_to_end()
sys.exit(tally.finish())
