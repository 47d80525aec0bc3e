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
"""
import json
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
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
