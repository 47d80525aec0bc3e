#!/usr/bin/env python3
"""Structural and self-consistency check of tests/golden (numpy + ml_dtypes only, no anchors).

For every case: offsets 16-byte aligned and inside G.bin, part sizes as the layout
dictates, and the f32 dequant re-derived from the stored parts with an independent
numpy decoder (plain formulas, cuBLAS block-scale unswizzle), bit for bit.
Usage: check_golden.py [DIR]   (default tests/golden)
"""
import json
import math
import os
import sys

import ml_dtypes
import numpy as np

ES = {"f32": 4, "f16": 2, "bf16": 2}
NP = {"f32": np.float32, "f16": np.float16, "bf16": ml_dtypes.bfloat16}
E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6], np.float32)
NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                0.7229568362236023, 1.0], np.float32)
FP4 = np.array([0.0, 0.005208333333, 0.66666667, 1.0, 0.33333333, 0.5, 0.16666667, 0.25], np.float32)


def c(x, m):
    return -(-x // m) * m


def unswizzle(b, rows, cols):
    """cuBLAS block-scale layout [ceil128(rows), ceil4(cols)] -> [rows, cols]."""
    nrb, ncb = c(rows, 128) // 128, c(cols, 4) // 4
    t = np.frombuffer(b, np.uint8).reshape(nrb, ncb, 32, 4, 4)  # tile, (r%32), (r//32 within tile), col%4
    return t.transpose(0, 3, 2, 1, 4).reshape(nrb * 128, ncb * 4)[:rows, :cols]


def check_group(d, g):
    man = json.load(open(os.path.join(d, g + ".json")))
    blob = open(os.path.join(d, g + ".bin"), "rb").read()
    names = set()
    bad = 0
    for cs in man["cases"]:
        nm = cs["name"]
        assert nm not in names, nm
        names.add(nm)
        R, C, dt, fmt, p = cs["rows"], cs["cols"], cs["dtype"], cs["format"], cs["params"]
        n = R * C

        def get(r):
            off, ln = r
            assert off % 16 == 0 and off + ln <= len(blob), (nm, r)
            return blob[off:off + ln]

        x = np.frombuffer(get(cs["input"]), NP[dt]).reshape(R, C)
        assert cs["input"][1] == n * ES[dt]
        for T, r in cs["dequant"].items():
            assert r[1] == n * ES[T], (nm, T)
        deq = np.frombuffer(get(cs["dequant"]["f32"]), np.float32).reshape(R, C)
        P = {k: get(v) for k, v in cs["parts"].items()}
        want = None
        if fmt in ("nf4", "fp4"):
            bs, dq = p["block_size"], p["double_quant"]
            nb = -(-n // bs)
            assert len(P["data"]) == (n + 1) // 2
            q = np.frombuffer(P["data"], np.uint8)
            codes = np.stack([q >> 4, q & 15], -1).reshape(-1)[:n]
            if dq:
                assert len(P["scale"]) == nb and len(P["scale2"]) == 4 * -(-nb // 256) and len(P["offset"]) == 4
            else:
                assert len(P["scale"]) == 4 * nb
                am = np.frombuffer(P["scale"], np.float32)[np.arange(n) // bs]
                lut = NF4[codes] if fmt == "nf4" else FP4[codes & 7] * np.where(codes & 8, -1, 1).astype(np.float32)
                with np.errstate(invalid="ignore"):
                    want = (lut * am).astype(np.float32).reshape(R, C)
        elif fmt == "nvfp4":
            Rp, Cp = c(R, 16), c(C, 16)
            assert len(P["data"]) == Rp * Cp // 2
            assert len(P["scale"]) == c(R, 128) * c(Cp // 16, 4) and len(P["scale2"]) == 4
            q = np.frombuffer(P["data"], np.uint8).reshape(Rp, Cp // 2)
            codes = np.stack([q >> 4, q & 15], -1).reshape(Rp, Cp)
            bsc = unswizzle(P["scale"], Rp, Cp // 16).view(ml_dtypes.float8_e4m3fn).astype(np.float32)
            s2 = np.frombuffer(P["scale2"], np.float32)[0]
            tot = (s2 * bsc).astype(np.float32)
            want = (E2M1[codes] * np.repeat(tot, 16, axis=1)).astype(np.float32)[:R, :C]
        elif fmt == "mxfp8":
            Rp, Cp = c(R, 32), c(C, 32)
            assert len(P["data"]) == Rp * Cp and len(P["scale"]) == c(R, 128) * c(Cp // 32, 4)
            v = np.frombuffer(P["data"], ml_dtypes.float8_e4m3fn).reshape(Rp, Cp).astype(np.float32)
            e = unswizzle(P["scale"], Rp, Cp // 32).astype(np.uint32)
            sc = np.where(e == 0, np.uint32(0), e << np.uint32(23)).view(np.float32)
            want = (v * np.repeat(sc, 32, axis=1)).astype(np.float32)[:R, :C]
        elif fmt in ("float8_e4m3fn", "float8_e5m2"):
            f8 = ml_dtypes.float8_e4m3fn if fmt == "float8_e4m3fn" else ml_dtypes.float8_e5m2
            v = np.frombuffer(P["data"], f8).reshape(R, C).astype(np.float32)
            s = np.frombuffer(P["scale"], np.float32)
            if p["scaling"] == "tensor":
                assert len(s) == 1
                sm = np.full((R, C), s[0], np.float32)
            elif p["scaling"] == "row":
                assert len(s) == R
                sm = np.repeat(s[:, None], C, axis=1)
            else:
                B = p["block_size"]
                tr, tc = -(-R // B), -(-C // B)
                assert len(s) == tr * tc
                sm = np.repeat(np.repeat(s.reshape(tr, tc), B, 0), B, 1)[:R, :C]
            want = (v * sm).astype(np.float32)
        elif fmt == "int8_tensorwise":
            q = np.frombuffer(P["data"], np.int8).reshape(R, C).astype(np.float32)
            s = np.frombuffer(P["scale"], np.float32)
            assert len(s) == (1 if p["scaling"] == "tensor" else R)
            if "rotated" in cs:
                assert cs["rotated"][1] == n * ES[dt]
                get(cs["rotated"])
            if not p["convrot_group"]:
                want = (q * (s[0] if len(s) == 1 else s[:, None])).astype(np.float32)
        elif fmt == "int8_blockwise":
            B = p["block_size"]
            assert R % B == 0 and C % B == 0
            s = np.frombuffer(P["scale"], np.float32).reshape(R // B, C // B)
            q = np.frombuffer(P["data"], np.int8).reshape(R, C).astype(np.float32)
            want = (q * np.repeat(np.repeat(s, B, 0), B, 1)).astype(np.float32)
        else:
            raise ValueError(fmt)
        if want is not None:
            same = (want.view(np.uint32) == deq.view(np.uint32)) | (np.isnan(want) & np.isnan(deq))
            if not same.all():
                bad += 1
                i = np.argwhere(~same)[0]
                print(f"  {g}/{nm}: f32 dequant differs from the independent decode at {tuple(i)}: "
                      f"{deq[tuple(i)]!r} vs {want[tuple(i)]!r} ({(~same).sum()} elements)")
    print(f"{g}: {len(man['cases'])} cases, {len(blob)} bytes, {bad} self-consistency failures")
    return bad


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden")
    bad = 0
    for g in ("bnb4", "nvfp4", "mxfp8", "fp8", "int8"):
        if os.path.exists(os.path.join(d, g + ".json")):
            bad += check_group(d, g)
    cd = os.path.join(d, "codec_digests.json")
    if os.path.exists(cd):
        j = json.load(open(cd))
        assert all(v.startswith("0x") and len(v) == 18 for v in j["fnv1a64"].values())
        print(f"codec_digests: {len(j['fnv1a64'])} digests")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
