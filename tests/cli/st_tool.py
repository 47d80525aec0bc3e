#!/usr/bin/env python3
"""Small safetensors surgery for the qtool CLI tests (standard library only).

  st_tool.py header FILE                  print the header JSON
  st_tool.py tensor FILE NAME             print a tensor's bytes as text (U8 JSON blobs)
  st_tool.py corrupt KIND IN OUT          write a broken copy of IN (see KINDS)
  st_tool.py shard IN OUTDIR N            split IN into N shards + model.safetensors.index.json
  st_tool.py rename IN OUT OLD=NEW...     rename tensors (prefix substitution)
  st_tool.py scaled_fp8 QUANT OUT         rewrite a float8_e4m3fn ComfyUI file in the legacy layout
  st_tool.py aligned FILE...              fail unless every tensor starts at a multiple of its element size
  st_tool.py misalign IN OUT              the same tensors after a header of odd length
  st_tool.py odd_sizes IN OUT             IN plus small tensors whose sizes are not multiples of 8, first
  st_tool.py mutants IN OUTDIR N SEED     N copies of IN, each with a random header or byte mutation
"""
import json
import random
import struct
import sys


def read(path):
    d = open(path, "rb").read()
    n = struct.unpack("<Q", d[:8])[0]
    return json.loads(d[8:8 + n]), d[8 + n:]


def write(path, header, data, raw_header=None):
    h = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)


def tensors(header):
    return [(k, v) for k, v in header.items() if k != "__metadata__"]


def blob(header, data, name):
    o = header[name]["data_offsets"]
    return data[o[0]:o[1]]


def rebuild(items, meta):
    """items: (name, dtype, shape, bytes) in order -> header, data."""
    h, out, pos = {}, b"", 0
    for name, dtype, shape, b in items:
        h[name] = {"dtype": dtype, "shape": shape, "data_offsets": [pos, pos + len(b)]}
        out += b
        pos += len(b)
    if meta:
        h["__metadata__"] = meta
    return h, out


def corrupt(kind, src, dst):
    h, d = read(src)
    names = [k for k, _ in tensors(h)]
    first = names[0]
    if kind == "truncated":
        raw = open(src, "rb").read()
        open(dst, "wb").write(raw[:len(raw) - 100])
    elif kind == "badjson":
        write(dst, None, d, raw_header=b'{"a": [1, 2')
    elif kind == "oob":
        h[first]["data_offsets"][1] = len(d) + 4096
        write(dst, h, d)
    elif kind == "overlap":
        a, b = names[0], names[1]
        sa = h[a]["data_offsets"]
        n = h[b]["data_offsets"][1] - h[b]["data_offsets"][0]
        h[b]["data_offsets"] = [sa[0], sa[0] + n]
        write(dst, h, d)
    elif kind == "hugeheader":
        open(dst, "wb").write(struct.pack("<Q", 200 * 1024 * 1024) + b"{" + b" " * 64)
    elif kind == "baddtype":
        h[first]["dtype"] = "Q4_K"
        write(dst, h, d)
    elif kind == "shapemismatch":
        h[first]["shape"] = [h[first]["shape"][0] + 1] + h[first]["shape"][1:]
        write(dst, h, d)
    elif kind == "notjson":
        open(dst, "wb").write(b"\x00\x01\x02")
    elif kind == "nan":  # a bf16 NaN in the middle of the first attention qkv weight
        name = next(k for k, v in tensors(h) if k.endswith("qkv.weight") and v["dtype"] == "BF16")
        a, b = h[name]["data_offsets"]
        at = a + (b - a) // 4 * 2
        d = d[:at] + b"\xc0\x7f" + d[at + 2:]
        write(dst, h, d)
    else:
        sys.exit("unknown corruption " + kind)


def shard(src, outdir, n):
    h, d = read(src)
    items = tensors(h)
    per = (len(items) + n - 1) // n
    wm = {}
    for k in range(n):
        part = items[k * per:(k + 1) * per]
        name = "model-%05d-of-%05d.safetensors" % (k + 1, n)
        sh, sd = rebuild([(t, v["dtype"], v["shape"], blob(h, d, t)) for t, v in part], h.get("__metadata__"))
        write(outdir + "/" + name, sh, sd)
        for t, _ in part:
            wm[t] = name
    json.dump({"metadata": {"total_size": len(d)}, "weight_map": wm},
              open(outdir + "/model.safetensors.index.json", "w"), indent=2)


def rename(src, dst, pairs):
    h, d = read(src)
    items = []
    for t, v in tensors(h):
        new = t
        for p in pairs:
            old, rep = p.split("=", 1)
            if new.startswith(old):
                new = rep + new[len(old):]
        items.append((new, v["dtype"], v["shape"], blob(h, d, t)))
    sh, sd = rebuild(items, h.get("__metadata__"))
    write(dst, sh, sd)


def scaled_fp8(src, dst):
    h, d = read(src)
    items = []
    for t, v in tensors(h):
        b = blob(h, d, t)
        if t.endswith(".comfy_quant"):
            continue
        if t.endswith(".weight_scale"):
            t = t[:-len(".weight_scale")] + ".scale_weight"
        items.append((t, v["dtype"], v["shape"], b))
    items.append(("scaled_fp8", "F8_E4M3", [0], b""))
    sh, sd = rebuild(items, None)
    write(dst, sh, sd)


SIZES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2,
         "U16": 2}


def aligned(paths):
    bad = []
    for path in paths:
        d = open(path, "rb").read(8)
        start = 8 + struct.unpack("<Q", d)[0]
        for k, v in tensors(read(path)[0]):
            if (start + v["data_offsets"][0]) % SIZES.get(v["dtype"], 1):
                bad.append(f"{path}: {k} ({v['dtype']}) at byte {start + v['data_offsets'][0]}")
    if bad:
        sys.exit("\n".join(bad))


def misalign(src, dst):
    h, d = read(src)
    raw = json.dumps(h, separators=(",", ":")).encode()
    raw += b" " * ((1 - len(raw)) % 8)  # 8 + len is odd: every tensor moves by one byte
    open(dst, "wb").write(struct.pack("<Q", len(raw)) + raw + d)


def odd_sizes(src, dst):
    h, d = read(src)
    items = [("odd.bf16", "BF16", [3], bytes(range(6))), ("odd.u8", "U8", [7], bytes(7)),
             ("odd.f32", "F32", [5], struct.pack("<5f", 1, 2, 3, 4, 5)), ("odd.f16", "F16", [1], b"\x00\x3c")]
    items += [(k, v["dtype"], v["shape"], blob(h, d, k)) for k, v in tensors(h)]
    sh, sd = rebuild(items, h.get("__metadata__"))
    raw = json.dumps(sh, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    open(dst, "wb").write(struct.pack("<Q", len(raw)) + raw + sd)


def mutant(rng, h, d):
    """One random change of a valid file: an offset, shape, dtype or name,
    the quantization metadata, a cut, or a few bytes anywhere."""
    h = json.loads(json.dumps(h))
    names = [k for k, _ in tensors(h)]
    t = h[rng.choice(names)]
    op = rng.randrange(9)
    if op == 0:
        t["data_offsets"][rng.randrange(2)] += rng.choice([-1, 1, 7, 1 << 20, -(1 << 40), 1 << 62])
    elif op == 1:
        t["shape"] = [rng.choice([0, 1, 3, 65, 1 << 31, -1, 1 << 40]) for _ in range(rng.randrange(5))]
    elif op == 2:
        t["dtype"] = rng.choice(["U8", "I8", "F8_E4M3", "F16", "BF16", "F32", "F64", "BOOL", ""])
    elif op == 3:
        del h[rng.choice(names)]
    elif op == 4:
        h.setdefault("__metadata__", {})["_quantization_metadata"] = rng.choice(
            ["{", "[]", '{"layers": 5}', '{"format_version":"1.0","layers":{"blocks.0.attn.qkv":{"format":"nf4"}}}'])
    elif op == 5:
        t["data_offsets"] = list(h[rng.choice(names)]["data_offsets"])
    elif op == 6:
        d = d[:rng.randrange(len(d) + 1)]
    elif op == 7:
        b = bytearray(d)  # quant states, markers and scales are in the data
        for _ in range(16):
            b[rng.randrange(len(b))] = rng.randrange(256)
        d = bytes(b)
    else:
        t["shape"] = t["shape"][::-1]
    raw = json.dumps(h, separators=(",", ":")).encode()
    if rng.random() < 0.1:
        raw = raw[:rng.randrange(len(raw))]
    return struct.pack("<Q", len(raw)) + raw + d


def mutants(src, outdir, n, seed):
    h, d = read(src)
    rng = random.Random(seed)
    for i in range(n):
        open(f"{outdir}/mut{i:03d}.safetensors", "wb").write(mutant(rng, h, d))


def main():
    cmd = sys.argv[1]
    if cmd == "header":
        print(json.dumps(read(sys.argv[2])[0], indent=1))
    elif cmd == "tensor":
        h, d = read(sys.argv[2])
        print(blob(h, d, sys.argv[3]).decode())
    elif cmd == "corrupt":
        corrupt(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "shard":
        shard(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "rename":
        rename(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif cmd == "scaled_fp8":
        scaled_fp8(sys.argv[2], sys.argv[3])
    elif cmd == "aligned":
        aligned(sys.argv[2:])
    elif cmd == "misalign":
        misalign(sys.argv[2], sys.argv[3])
    elif cmd == "odd_sizes":
        odd_sizes(sys.argv[2], sys.argv[3])
    elif cmd == "mutants":
        mutants(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
