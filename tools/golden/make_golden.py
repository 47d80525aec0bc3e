#!/usr/bin/env python3
"""Generate qk's golden conformance vectors by CALLING the anchor libraries.

Anchors: comfy-kitchen (eager backend, CPU) for nvfp4 / mxfp8 / fp8 / int8, the
block-wise INT8 eager functions of silveroxides/comfy-kitchen (loaded at run time,
see --int8-blockwise-src), and bitsandbytes (CUDA) for nf4 / fp4.

  --part cpu   groups nvfp4, mxfp8, fp8, int8 and codec_digests.json (runs anywhere)
  --part bnb   group bnb4 (needs a CUDA GPU; --device cpu gives a structural dry run
               whose bytes are NOT the anchor's) and, with --rcp-json, the
               rcp.approx model check of bnb's quantize_4bit.

Every output is deterministic (seeds derive from case names).  See README.md.
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import os
import subprocess
import sys
import zlib
from fractions import Fraction

import numpy as np
import torch

assert sys.byteorder == "little", "blobs are little-endian; run on a little-endian host"

GENERATOR = "tools/golden/make_golden.py"
DT = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
OUT_TYPES = ("f32", "f16", "bf16")
DTYPE_CODE = {"f32": 0, "f16": 1, "bf16": 2}

INT8_BLOCKWISE_REPO = "silveroxides/comfy-kitchen"
INT8_BLOCKWISE_COMMIT = "b7a8273b04ea2d6efa7c891c5d90fd57f8974540"
INT8_BLOCKWISE_PATH = "comfy_kitchen/backends/eager/quantization.py"
INT8_BLOCKWISE_MIRROR = "/work/.mirror/silveroxides+comfy-kitchen/repo"


# --------------------------------------------------------------------------- utils
def raw(t: torch.Tensor) -> bytes:
    """Little-endian raw bytes of a tensor (row-major)."""
    t = t.detach().to("cpu").contiguous()
    if t.element_size() == 4:
        v = t.view(torch.int32)
    elif t.element_size() == 2:
        v = t.view(torch.int16)
    elif t.element_size() == 1:
        v = t.view(torch.uint8)
    else:
        raise TypeError(t.dtype)
    return v.numpy().tobytes()


def rng_for(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def from_f64(a, dtype: str) -> torch.Tensor:
    """float64/float32 numpy -> f32 (RNE) -> dtype (RNE)."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(a, dtype=np.float32))).to(DT[dtype])


def exact(vals, dtype: str) -> torch.Tensor:
    """Tensor of values that must be exactly representable in dtype."""
    a = np.asarray(vals, dtype=np.float64)
    t = torch.from_numpy(a).to(DT[dtype])
    back = t.double().numpy()
    bad = ~((back == a) | (np.isnan(a) & np.isnan(back)))
    assert not bad.any(), f"not exact in {dtype}: {a[bad][:5]}"
    return t


def dist(kind: str, R: int, C: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "normal":
        return rng.standard_normal((R, C))
    if kind == "uniform":
        return rng.uniform(-1.0, 1.0, (R, C))
    if kind == "weight":
        a = 0.02 * rng.standard_normal((R, C))
        k = max(1, (R * C) // 256)
        idx = rng.choice(R * C, size=k, replace=False)
        a.reshape(-1)[idx] = rng.uniform(1.0, 8.0, k) * rng.choice([-1.0, 1.0], k)
        return a
    if kind == "wide":  # many binades (reaches f16 subnormals)
        return rng.choice([-1.0, 1.0], (R, C)) * np.exp(rng.uniform(-12.0, 4.0, (R, C)))
    raise ValueError(kind)


DISTS = ("normal", "weight", "uniform", "wide")


def shape_sweep(case, group: str, extra):
    """Small ragged shapes in every dtype (distributions in turn), then the
    group's larger (R, C, dtype, kind) shapes; inputs seeded by group + name."""
    i = 0
    for dt in ("f32", "f16", "bf16"):
        for (R, C) in [(1, 1), (3, 5), (7, 33), (16, 16), (33, 47)]:
            kind = DISTS[i % 4]
            i += 1
            nm = f"{dt}-{R}x{C}-{kind}"
            case(nm, from_f64(dist(kind, R, C, rng_for(group + nm)), dt))
    for (R, C, dt, kind) in extra:
        nm = f"{dt}-{R}x{C}-{kind}"
        case(nm, from_f64(dist(kind, R, C, rng_for(group + nm)), dt))


def step_bits(t: torch.Tensor, steps) -> torch.Tensor:
    """Move each element `steps` bit-pattern units (away from zero for positive steps)."""
    it = {4: torch.int32, 2: torch.int16}[t.element_size()]
    s = torch.as_tensor(steps, dtype=it)
    return (t.contiguous().view(it) + s).view(t.dtype)


def fnv1a64(b: bytes) -> str:
    h = 0xCBF29CE484222325
    for c in b:
        h ^= c
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"0x{h:016x}"


def ceil_to(x: int, m: int) -> int:
    return (x + m - 1) // m * m


class Group:
    def __init__(self, name: str, anchors: dict):
        self.name = name
        self.anchors = anchors
        self.buf = bytearray()
        self.cases = []
        self.names = set()

    def put(self, b: bytes):
        self.buf += b"\0" * ((-len(self.buf)) % 16)
        off = len(self.buf)
        self.buf += b
        return [off, len(b)]

    def add(self, *, name, fmt, dtype, x, params, parts, dequant, anchor_call, notes=None, extra=None):
        assert name not in self.names, name
        self.names.add(name)
        R, C = x.shape
        assert x.dtype == DT[dtype]
        case = {
            "name": name,
            "format": fmt,
            "dtype": dtype,
            "rows": int(R),
            "cols": int(C),
            "params": params,
            "input": self.put(raw(x)),
            "parts": {k: self.put(v if isinstance(v, (bytes, bytearray)) else raw(v)) for k, v in parts.items()},
            "dequant": {},
            "anchor_call": anchor_call,
        }
        for T in OUT_TYPES:
            d = dequant[T]
            assert d.dtype == DT[T] and tuple(d.shape) == (R, C), (name, T, d.dtype, d.shape)
            case["dequant"][T] = self.put(raw(d))
        if notes:
            case["notes"] = notes
        if extra:
            case.update(extra)
        self.cases.append(case)

    def write(self, out_dir: str):
        os.makedirs(out_dir, exist_ok=True)
        head = {"group": self.name, "generator": GENERATOR, "anchors": self.anchors}
        with open(os.path.join(out_dir, self.name + ".json"), "w") as f:  # one case per line
            f.write(json.dumps(head, indent=1)[:-2] + ',\n "cases": [\n')
            f.write(",\n".join("  " + json.dumps(c, separators=(",", ":")) for c in self.cases))
            f.write("\n ]\n}\n")
        with open(os.path.join(out_dir, self.name + ".json")) as f:
            assert json.load(f)["cases"] == json.loads(json.dumps(self.cases))
        with open(os.path.join(out_dir, self.name + ".bin"), "wb") as f:
            f.write(bytes(self.buf))
        print(f"{self.name}: {len(self.cases)} cases, blob {len(self.buf)} bytes", flush=True)


def params(scaling, block_size=0, double_quant=0, convrot_group=0):
    return {"scaling": scaling, "block_size": block_size, "double_quant": double_quant, "convrot_group": convrot_group}


def anchors_cpu():
    import importlib.metadata as md

    return {
        "torch": torch.__version__,
        "comfy_kitchen": md.version("comfy-kitchen"),
        "bitsandbytes": "n/a",
    }


# ======================================================================== nvfp4
def gen_nvfp4(out_dir):
    from comfy_kitchen.backends.eager import quantization as ckq
    from comfy_kitchen.tensor import TensorCoreNVFP4Layout

    g = Group("nvfp4", anchors_cpu())

    def case(name, x, notes=None):
        R, C = x.shape
        dtype = {v: k for k, v in DT.items()}[x.dtype]
        assert torch.isfinite(x).all() and (x != 0).any()
        # per-tensor scale exactly as comfy_kitchen/tensor/nvfp4.py computes it (the layout itself)
        lq, lp = TensorCoreNVFP4Layout.quantize(x)
        s2 = lp.scale
        assert s2.dtype == torch.float32 and s2.dim() == 0
        data, bscale = ckq.quantize_nvfp4(x, s2, pad_16x=True)
        assert data.dtype == torch.uint8 and tuple(data.shape) == (ceil_to(R, 16), ceil_to(C, 16) // 2)
        assert bscale.dtype == torch.float8_e4m3fn
        assert tuple(bscale.shape) == (ceil_to(R, 128), ceil_to(ceil_to(C, 16) // 16, 4)), bscale.shape
        assert torch.equal(data, lq) and torch.equal(bscale.view(torch.uint8), lp.block_scale.view(torch.uint8))
        deq = {T: ckq.dequantize_nvfp4(data, s2, bscale, output_type=DT[T])[:R, :C].contiguous() for T in OUT_TYPES}
        g.add(
            name=name, fmt="nvfp4", dtype=dtype, x=x, params=params("block", 16),
            parts={"data": data, "scale": bscale.view(torch.uint8), "scale2": s2.reshape(1)},
            dequant=deq,
            anchor_call="s2 = TensorCoreNVFP4Layout.quantize(x)[1].scale  # amax(|x|)/(448*6) in x.dtype -> f32; "
            "data, scale = comfy_kitchen.backends.eager.quantization.quantize_nvfp4(x, s2, pad_16x=True); "
            "dequant: dequantize_nvfp4(data, s2, scale, output_type=T)[:R,:C]",
            notes=notes,
        )

    shape_sweep(case, "nvfp4", [(16, 130, "f32", "weight"), (130, 32, "bf16", "normal"),
                                (257, 16, "f16", "uniform"), (20, 80, "bf16", "wide")])

    # exact ties: per-tensor scale 2^-4 (one block has amax 168 = 6*448*2^-4), block scales exact e4m3
    mids = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -0.25, -0.75, -1.25, -1.75, -2.5, -3.5, -5.0, 6.0, -0.0]
    svals = [448.0, 1.0, 0.5, 2.0, 1.125, 3.5, 2.0 ** -9, 2.0 ** -6, 0.375, 13.0, 1.75, 0.0625, 240.0, 5.0, 0.25, 1.0]
    for dt in ("f32", "f16", "bf16"):
        rows = []
        for r in range(2):
            row = []
            for b in range(8):
                s = svals[r * 8 + b] * 2.0 ** -4
                v = list(mids)
                rng_for(f"nvfp4ties{dt}{r}{b}").shuffle(v)
                row += [m * s for m in v]
            rows.append(row)
        rows.append([0.0] * 64 + [6.0 * 2.0 ** -4 * 0.5] + [0.0] * 63)  # row 3: zero block + lone value
        x = exact(rows, dt)
        case(f"{dt}-ties", x, notes="per-tensor scale exactly 2^-4 and exact e4m3 block scales; every value sits on "
             "an E2M1 midpoint (0.25,0.75,1.25,1.75,2.5,3.5,5) times its block scale (RNE ties), plus -0.0")

    # all-zero blocks inside a nonzero tensor, +-0
    for dt in ("f32", "f16", "bf16"):
        a = dist("normal", 20, 48, rng_for("nvfp4zb" + dt))
        a[0:1, 16:32] = 0.0
        a[5:20, 0:16] = 0.0
        a[7, :] = 0.0
        a[9, 40] = -0.0
        x = from_f64(a, dt)
        x[9, 33] = -0.0
        case(f"{dt}-zero-blocks", x, notes="all-zero 16-blocks, a zero row, -0.0 entries")

    # input-dtype subnormals: a block whose scale underflows in e4m3 next to normal blocks
    for dt, sub in (("f32", 3e-41), ("f16", 3e-7), ("bf16", 3e-40)):
        rng = rng_for("nvfp4sub" + dt)
        a = rng.standard_normal((4, 48))
        a[1, :] = rng.standard_normal(48) * sub
        a[2, 16:32] = rng.standard_normal(16) * 1e-4
        x = from_f64(a, dt)
        case(f"{dt}-subnormal-blocks", x, notes="row 1 holds input-dtype subnormals: e4m3 block scale underflows to 0 "
             "so the anchor writes zero codes; row 2 block 1 is tiny but normal")
    for dt, sub in (("f32", 1e-39), ("bf16", 1e-39)):
        a = rng_for("nvfp4subt" + dt).standard_normal((3, 20)) * sub
        x = from_f64(a, dt)
        case(f"{dt}-all-subnormal", x, notes="whole tensor subnormal: per-tensor scale underflows to 0 in the input "
             "dtype; anchor masks zero total scales, so every code is 0")

    # huge outliers
    for dt, big in (("f32", 3e4), ("f16", 6e4), ("bf16", 3e4)):
        a = dist("weight", 16, 64, rng_for("nvfp4out" + dt))
        a[3, 7] = big
        a[11, 50] = -big / 3
        case(f"{dt}-outliers", from_f64(a, dt), notes="huge outliers: most block scales become tiny/subnormal e4m3")

    g.write(out_dir)
    return g


# ======================================================================== mxfp8
def mx_exact_codes(x: torch.Tensor):
    """Exact E8M0 exponent per 32-block: clamp(ceil(log2(max(amax/448, 2^-127))) + 127, 0, 254); 0 for zero blocks."""
    R, C = x.shape
    Rp, Cp = ceil_to(R, 32), ceil_to(C, 32)
    a = np.zeros((Rp, Cp), dtype=np.float32)
    a[:R, :C] = np.abs(x.float().numpy())
    am = a.reshape(Rp, Cp // 32, 32).max(axis=-1)
    out = np.zeros(am.shape, dtype=np.int64)
    for idx, v in np.ndenumerate(am):
        if v == 0:
            continue
        q = max(Fraction(float(v)) / 448, Fraction(1, 2 ** 127))
        e = math.floor(math.log2(q.numerator) - math.log2(q.denominator)) - 2
        while Fraction(2) ** e < q:
            e += 1
        out[idx] = min(max(e + 127, 0), 254)
    return out


def gen_mxfp8(out_dir):
    from comfy_kitchen.backends.eager import quantization as ckq
    from comfy_kitchen.float_utils import from_blocked
    from comfy_kitchen.tensor import TensorCoreMXFP8Layout

    g = Group("mxfp8", anchors_cpu())
    flags = {}

    def case(name, x, notes=None, expect_log2=None):
        R, C = x.shape
        dtype = {v: k for k, v in DT.items()}[x.dtype]
        assert torch.isfinite(x).all()
        data, bscale = ckq.quantize_mxfp8(x, pad_32x=True)
        Rp, Cp = ceil_to(R, 32), ceil_to(C, 32)
        assert data.dtype == torch.float8_e4m3fn and tuple(data.shape) == (Rp, Cp)
        assert tuple(bscale.shape) == (ceil_to(R, 128), ceil_to(Cp // 32, 4)), bscale.shape
        lq, lp = TensorCoreMXFP8Layout.quantize(x)
        if (Rp, Cp) != (R, C) or True:
            assert torch.equal(lq.view(torch.uint8), data.view(torch.uint8))
            assert torch.equal(lp.scale.view(torch.uint8), bscale.view(torch.uint8))
        got = from_blocked(bscale.view(torch.uint8), num_rows=Rp, num_cols=Cp // 32).to(torch.int64).numpy()
        ex = mx_exact_codes(x)
        log2_exact = bool((got == ex).all())
        if expect_log2 is not None:
            assert log2_exact == expect_log2, (name, np.argwhere(got != ex)[:4])
        flags[name] = log2_exact
        deq = {T: ckq.dequantize_mxfp8(data, bscale, DT[T])[:R, :C].contiguous() for T in OUT_TYPES}
        extra = {"log2_exact": log2_exact}
        if not log2_exact:
            bad = np.argwhere(got != ex)
            extra["log2_mismatch_blocks"] = [[int(r), int(c), int(got[r, c]), int(ex[r, c])] for r, c in bad[:32]]
        quirk = None
        if (got == 0).any() and (ex == 0).any():
            am0 = [(r, c) for r, c in np.argwhere(got == 0)]
            xa = np.zeros((Rp, Cp), np.float32)
            xa[:R, :C] = np.abs(x.float().numpy())
            if any(xa[r, c * 32:(c + 1) * 32].max() > 0 for r, c in am0):
                quirk = ("nonzero block with E8M0 code 0: anchor's e8m0_to_f32 maps code 0 to 0.0, so the block "
                         "divides by zero (x/0 -> +-inf -> clamp +-448, 0/0 -> NaN 0x7f) and dequantizes to 0/NaN")
                extra["quirk"] = quirk
        g.add(
            name=name, fmt="mxfp8", dtype=dtype, x=x, params=params("block", 32),
            parts={"data": data.view(torch.uint8), "scale": bscale.view(torch.uint8)},
            dequant=deq,
            anchor_call="data, scale = comfy_kitchen.backends.eager.quantization.quantize_mxfp8(x, pad_32x=True); "
            "dequant: dequantize_mxfp8(data, scale, T)[:R,:C]",
            notes=((("QUIRK: " + quirk + ". ") if quirk else "") + (notes or "")) or None,
            extra=extra,
        )

    shape_sweep(case, "mxfp8", [(16, 130, "bf16", "normal"), (130, 20, "f32", "wide"),
                                (257, 20, "f16", "weight")])

    # adversarial log2: block amax = next f32 above 448*2^k -> amax/448 just above 2^k
    ks = [-100, -60, -40, -30, -24, -20, -16, -12, -8, -4, -1, 0, 1, 3, 7, 12, 20, 30, 40, 60]
    rows = []
    for j, k in enumerate(ks):
        rng = rng_for(f"mxadv{k}")
        blk = rng.uniform(-0.9, 0.9, 32) * 448.0 * 2.0 ** k
        amax = np.nextafter(np.float32(448.0 * 2.0 ** k), np.float32(np.inf))
        blk[rng.integers(32)] = float(amax) * (1 if j % 2 else -1)
        rows.append(blk)
    a = np.stack(rows).reshape(5, 128)
    case("f32-log2-just-above-pow2", from_f64(a, "f32"),
         notes="each 32-block's amax is the next f32 above 448*2^k (k = -100..60): exact exponent is k+1; "
         "torch.log2 of the f32 quotient rounds to k for large |k|", expect_log2=False)
    rows = []
    for k in ks:
        rng = rng_for(f"mxpow{k}")
        blk = rng.uniform(-0.99, 0.99, 32) * 448.0 * 2.0 ** k
        blk[rng.integers(32)] = 448.0 * 2.0 ** k
        rows.append(blk)
    case("f32-log2-exact-pow2", from_f64(np.stack(rows).reshape(5, 128), "f32"),
         notes="block amax exactly 448*2^k")
    for dt in ("f16", "bf16"):
        rows = []
        kk = [-14, -10, -6, -3, -1, 0, 1, 2, 4, 5] if dt == "f16" else [-100, -40, -20, -6, -1, 0, 1, 7, 30, 60]
        for k in kk:
            rng = rng_for(f"mxadv{dt}{k}")
            blk = rng.uniform(-0.9, 0.9, 32) * 448.0 * 2.0 ** k
            t = exact([448.0 * 2.0 ** k], dt)
            blk[rng.integers(32)] = float(step_bits(t, 1).double())  # next representable above 448*2^k
            rows.append(blk)
        case(f"{dt}-log2-just-above-pow2", from_f64(np.stack(rows).reshape(5, 64), dt),
             notes="block amax = next input-dtype value above 448*2^k")

    # exact ties on e4m3 midpoints: block amax 448*2^k -> scale 2^k exactly
    e4m3_mids = [1.0625, 1.1875, 17.0, 19.0, 0.0029296875, 0.0009765625, 0.0048828125, 432.0, 208.0, 3.25, 0.3125,
                 0.140625, 6.5, 104.0, 0.017578125, 0.001953125 * 1.5]
    for dt, k in (("f32", -3), ("f16", -2), ("bf16", 5)):
        rows = []
        for r in range(4):
            v = [m * (1 if (j + r) % 2 else -1) for j, m in enumerate(e4m3_mids)]
            v += [448.0] + [0.0, -0.0] + list((rng_for(f"mxties{dt}{r}").uniform(-400, 400, 13) / 8).round() * 8)
            rows.append([t * 2.0 ** k for t in v])
        case(f"{dt}-ties", exact(rows, dt), notes="block amax 448*2^k (exact scale 2^k); values on e4m3 midpoints "
             "(normal and subnormal) times 2^k, +-0")

    # zero blocks / subnormals / outliers / tiny-amax quirk
    for dt in ("f32", "f16", "bf16"):
        a = dist("normal", 34, 40, rng_for("mxzb" + dt))
        a[0:2, 0:32] = 0.0
        a[32:34, 0:32] = 0.0
        a[10, :] = 0.0
        case(f"{dt}-zero-blocks", from_f64(a, dt), notes="all-zero 32-blocks inside a nonzero tensor")
    for dt, sub in (("f32", 3e-41), ("f16", 3e-7), ("bf16", 3e-40)):
        rng = rng_for("mxsub" + dt)
        a = rng.standard_normal((3, 64))
        a[1, 0:32] = rng.standard_normal(32) * sub
        a[2, 32:64] = rng.standard_normal(32) * sub * 1000
        if dt == "f16":
            case(f"{dt}-subnormal-blocks", from_f64(a, dt), notes="blocks of input-dtype subnormals")
        else:
            case(f"{dt}-subnormal-blocks", from_f64(a, dt),
                 notes="blocks of f32-range subnormals: amax/448 < 2^-127, clamped exponent code 0")
    for dt, big in (("f32", 1e30), ("f16", 6e4), ("bf16", 1e30)):
        a = dist("weight", 8, 64, rng_for("mxout" + dt))
        a[2, 5] = big
        a[5, 40] = -big / 7
        case(f"{dt}-outliers", from_f64(a, dt))
    for dt in ("f32", "bf16"):
        rng = rng_for("mxtiny" + dt)
        a = rng.standard_normal((2, 96))
        a[0, 32:64] = rng.uniform(-1, 1, 32) * 1e-37
        a[1, 64:96] = rng.uniform(-1, 1, 32) * 3e-36
        case(f"{dt}-tiny-amax", from_f64(a, dt), notes="normal (not subnormal) blocks with amax/448 below 2^-127")

    g.write(out_dir)
    return g, flags


# ========================================================================== fp8
def gen_fp8(out_dir):
    from comfy_kitchen.backends.eager import quantization as ckq
    from comfy_kitchen.tensor import TensorCoreFP8Layout

    g = Group("fp8", anchors_cpu())
    FP8 = {"float8_e4m3fn": torch.float8_e4m3fn, "float8_e5m2": torch.float8_e5m2}

    def per_tensor(xs, f8):
        """The recipe of comfy_kitchen/tensor/fp8.py on one slice (calls the layout)."""
        q, p = TensorCoreFP8Layout.quantize(xs, dtype=f8)
        s = p.scale
        q2 = ckq.quantize_per_tensor_fp8(xs, s, f8)
        assert torch.equal(q.view(torch.uint8), q2.view(torch.uint8))
        inv = (1.0 / s).to(xs.dtype)
        quirk = None
        if not torch.isfinite(inv):
            quirk = "1/scale is not finite in the input dtype (x*(1/scale).to(x.dtype) gives +-inf/NaN)"
        return q2, s, quirk

    def case(name, x, fmt, scaling, B=0, notes=None):
        R, C = x.shape
        dtype = {v: k for k, v in DT.items()}[x.dtype]
        f8 = FP8[fmt]
        assert torch.isfinite(x).all()
        data = torch.empty((R, C), dtype=f8)
        deq = {T: torch.empty((R, C), dtype=DT[T]) for T in OUT_TYPES}
        scales = []
        quirks = set()
        if scaling == "tensor":
            slices = [(slice(0, R), slice(0, C))]
        elif scaling == "row":
            slices = [(slice(r, r + 1), slice(0, C)) for r in range(R)]
        else:
            slices = [(slice(i, min(i + B, R)), slice(j, min(j + B, C))) for i in range(0, R, B) for j in range(0, C, B)]
        for sl in slices:
            xs = x[sl].contiguous()
            q, s, qk = per_tensor(xs, f8)
            if qk:
                quirks.add(qk)
            data[sl] = q
            scales.append(s.reshape(1))
            for T in OUT_TYPES:
                deq[T][sl] = ckq.dequantize_per_tensor_fp8(q, s, DT[T])
        sc = torch.cat(scales)
        extra = None
        quirk = None
        if quirks:
            quirk = "; ".join(sorted(quirks))
            extra = {"quirk": quirk}
        call = {
            "tensor": "q, p = TensorCoreFP8Layout.quantize(x, dtype=F8)  # scale=amax(|x|)/finfo(F8).max in x.dtype -> f32; "
            "q == eager quantize_per_tensor_fp8(x, p.scale, F8)",
            "row": "per row r: the per-tensor recipe on x[r:r+1]",
            "block": f"per {B}x{B} tile (row-major tile order, edge tiles partial): the per-tensor recipe on the tile",
        }[scaling]
        g.add(
            name=name, fmt=fmt, dtype=dtype, x=x, params=params(scaling, B),
            parts={"data": data.view(torch.uint8), "scale": sc}, dequant=deq,
            anchor_call=call + "; dequant: eager dequantize_per_tensor_fp8(q_slice, scale_slice, T)",
            notes=((("QUIRK: " + quirk + ". ") if quirk else "") + (notes or "")) or None,
            extra=extra,
        )

    for fmt in FP8:
        short = "e4m3" if fmt == "float8_e4m3fn" else "e5m2"
        i = 0
        for dt in ("f32", "f16", "bf16"):
            for (R, C) in [(1, 1), (3, 5), (7, 33), (17, 23)]:
                kind = DISTS[i % 4]
                if dt == "f16" and short == "e5m2" and kind in ("weight", "uniform"):
                    kind = "normal"  # keep regular f16/e5m2 cases clear of the 1/scale overflow quirk
                i += 1
                nm = f"{short}-tensor-{dt}-{R}x{C}-{kind}"
                a = dist(kind, R, C, rng_for(nm))
                if dt == "f16" and short == "e5m2" and np.abs(a).max() < 1.0:
                    a *= 2.0 / np.abs(a).max()
                case(nm, from_f64(a, dt), fmt, "tensor")
            for (R, C) in [(3, 5), (7, 33)]:
                kind = "normal" if dt == "f16" and short == "e5m2" else DISTS[i % 4]
                i += 1
                nm = f"{short}-row-{dt}-{R}x{C}-{kind}"
                a = dist(kind, R, C, rng_for(nm))
                if kind == "normal" and dt == "f16" and short == "e5m2":
                    a[np.abs(a).max(axis=1) < 1.0] *= 4.0
                case(nm, from_f64(a, dt), fmt, "row")
            nm = f"{short}-block32-{dt}-33x40-normal"
            case(nm, from_f64(dist("normal", 33, 40, rng_for(nm)), dt), fmt, "block", 32)
        if short == "e4m3":
            big = [("tensor", 0, 40, 64, "f32", "weight"), ("row", 0, 33, 47, "bf16", "wide"),
                   ("block", 128, 136, 24, "bf16", "normal"), ("block", 16, 17, 33, "f16", "uniform")]
        else:
            big = [("tensor", 0, 24, 130, "bf16", "weight"), ("row", 0, 33, 47, "f32", "wide"),
                   ("block", 128, 24, 136, "f16", "normal"), ("block", 16, 33, 17, "bf16", "uniform")]
        for scaling, B, R, C, dt, kind in big:
            nm = f"{short}-{scaling}{B or ''}-{dt}-{R}x{C}-{kind}"
            case(nm, from_f64(dist(kind, R, C, rng_for(nm)), dt), fmt, scaling, B,
                 notes="ragged edge tiles" if scaling == "block" else None)

        # ties: amax = max*2^k -> scale exactly 2^k; values on fp8 midpoints
        fmax = 448.0 if short == "e4m3" else 57344.0
        mids = ([1.0625, 1.1875, 17.0, 19.0, 0.0029296875, 0.0009765625, 432.0, 208.0, 3.25, 0.3125]
                if short == "e4m3" else
                [1.125, 1.375, 2.5, 0.0000457763671875, 0.0000152587890625, 49152.0 - 2048.0 * 1, 7.0, 0.1875, 40960.0 + 4096, 3.5])
        for dt, k in (("f32", -7), ("f16", -1), ("bf16", 9)):
            if dt == "f16" and short == "e5m2":
                k = 0
            rows = []
            for r in range(3):
                v = [m * (1 if (j + r) % 2 else -1) for j, m in enumerate(mids)] + [fmax, 0.0, -0.0]
                rows.append([t * 2.0 ** k for t in v])
            for scaling in ("tensor", "row"):
                case(f"{short}-{scaling}-{dt}-ties", exact(rows, dt), fmt, scaling,
                     notes="amax = finfo.max*2^k so scale is exactly 2^k; values on fp8 midpoints (RNE), +-0")

        # subnormal inputs, outliers
        for dt, sub in (("f32", 3e-41), ("f16", 3e-7), ("bf16", 3e-40)):
            rng = rng_for(f"fp8sub{short}{dt}")
            a = rng.standard_normal((4, 24))
            a[1] = rng.standard_normal(24) * sub
            case(f"{short}-tensor-{dt}-subnormal", from_f64(a, dt), fmt, "tensor",
                 notes="a row of input-dtype subnormals under a normal per-tensor scale")
        for dt, big in (("f32", 1e30), ("f16", 6e4), ("bf16", 1e30)):
            a = dist("normal", 6, 40, rng_for(f"fp8out{short}{dt}")) * 4
            a[2, 3] = big
            case(f"{short}-tensor-{dt}-outlier", from_f64(a, dt), fmt, "tensor")

        # documented quirks (flagged with "quirk")
        a = dist("normal", 5, 16, rng_for(f"fp8zr{short}"))
        a[2] = 0.0
        case(f"{short}-row-bf16-zero-row", from_f64(a, "bf16"), fmt, "row",
             notes="an all-zero row: per-row scale 0 -> 1/scale = inf -> 0*inf = NaN codes")
    a = dist("normal", 4, 16, rng_for("fp8f16small")) * 0.1
    case("e5m2-tensor-f16-small-amax", from_f64(a, "f16"), "float8_e5m2", "tensor",
         notes="f16 input with amax < 57344/65504: (1/scale).to(f16) overflows to inf")

    g.write(out_dir)
    return g


# ========================================================================= int8
def load_int8_blockwise(src_path=None):
    """Load quantize_int8 / dequantize_int8 from the fork's eager quantization.py (not copied into qk)."""
    if src_path:
        src = open(src_path).read()
        origin = src_path
    else:
        src = subprocess.check_output(
            ["git", "-C", INT8_BLOCKWISE_MIRROR, "show", f"{INT8_BLOCKWISE_COMMIT}:{INT8_BLOCKWISE_PATH}"], text=True)
        origin = f"{INT8_BLOCKWISE_MIRROR}@{INT8_BLOCKWISE_COMMIT}"
    tree = ast.parse(src)
    fns = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in ("quantize_int8", "dequantize_int8")]
    assert len(fns) == 2, "quantize_int8/dequantize_int8 not found in " + origin
    mod = ast.Module(body=fns, type_ignores=[])
    ns = {"torch": torch}
    exec(compile(mod, f"<{INT8_BLOCKWISE_REPO}@{INT8_BLOCKWISE_COMMIT[:7]}:{INT8_BLOCKWISE_PATH}>", "exec"), ns)
    import hashlib

    return ns["quantize_int8"], ns["dequantize_int8"], hashlib.sha256(src.encode()).hexdigest()


def gen_int8(out_dir, bw_src=None):
    from comfy_kitchen.backends.eager import quantization as ckq

    qbw, dqbw, bw_sha = load_int8_blockwise(bw_src)
    an = anchors_cpu()
    an["comfy_kitchen"] += (f"; int8_blockwise: {INT8_BLOCKWISE_REPO}@{INT8_BLOCKWISE_COMMIT} "
                            f"{INT8_BLOCKWISE_PATH} quantize_int8/dequantize_int8 (sha256 {bw_sha[:16]})")
    g = Group("int8", an)

    def case_tw(name, x, scaling, notes=None):
        R, C = x.shape
        dtype = {v: k for k, v in DT.items()}[x.dtype]
        if scaling == "tensor":
            q, s = ckq.quantize_int8_tensorwise(x)
            call = "q, s = comfy_kitchen.backends.eager.quantization.quantize_int8_tensorwise(x)"
        else:
            q, s = ckq.quantize_int8_rowwise(x)
            call = "q, s = comfy_kitchen.backends.eager.quantization.quantize_int8_rowwise(x)  # s: [R,1]"
        assert q.dtype == torch.int8 and s.dtype == torch.float32
        deq = {T: ckq.dequantize_int8_simple(q, s).to(DT[T]) for T in OUT_TYPES}
        g.add(name=name, fmt="int8_tensorwise", dtype=dtype, x=x, params=params(scaling),
              parts={"data": q, "scale": s.reshape(-1)}, dequant=deq,
              anchor_call=call + "; dequant: dequantize_int8_simple(q, s).to(T)", notes=notes)

    def case_cr(name, x, grp, notes=None):
        R, C = x.shape
        dtype = {v: k for k, v in DT.items()}[x.dtype]
        q, s = ckq.quantize_int8_convrot_weight(x, grp)
        rot = ckq.rotate_int8_convrot_weight(x, grp)
        q2, s2 = ckq.quantize_int8_rowwise(rot)
        assert torch.equal(q, q2) and torch.equal(s, s2)
        assert rot.dtype == x.dtype
        deq = {T: ckq.dequantize_int8_convrot_weight_dtype(q, s, grp, DTYPE_CODE[T]) for T in OUT_TYPES}
        g.add(name=name, fmt="int8_tensorwise", dtype=dtype, x=x, params=params("row", 0, 0, grp),
              parts={"data": q, "scale": s.reshape(-1)}, dequant=deq,
              anchor_call=f"q, s = quantize_int8_convrot_weight(x, {grp}); rotated = rotate_int8_convrot_weight(x, {grp}); "
              f"dequant: dequantize_int8_convrot_weight_dtype(q, s, {grp}, code(T))",
              notes=notes, extra={"rotated": g.put(raw(rot))})

    def case_bw(name, x, B, notes=None):
        R, C = x.shape
        dtype = {v: k for k, v in DT.items()}[x.dtype]
        q, s = qbw(x.contiguous(), block_size=B, is_weight=True)
        assert q.dtype == torch.int8 and s.dtype == torch.float32 and tuple(s.shape) == (R // B, C // B)
        deq = {T: dqbw(q, s, block_size=B, output_dtype=DT[T]) for T in OUT_TYPES}
        g.add(name=name, fmt="int8_blockwise", dtype=dtype, x=x, params=params("block", B),
              parts={"data": q, "scale": s}, dequant=deq,
              anchor_call=f"q, s = quantize_int8(x, block_size={B}, is_weight=True); "
              f"dequant: dequantize_int8(q, s, block_size={B}, output_dtype=T)  "
              f"[{INT8_BLOCKWISE_REPO}@{INT8_BLOCKWISE_COMMIT[:7]} backends/eager/quantization.py]",
              notes=notes)

    i = 0
    for dt in ("f32", "f16", "bf16"):
        for (R, C) in [(1, 1), (3, 5), (7, 33), (17, 23)]:
            kind = DISTS[i % 4]
            i += 1
            nm = f"tensor-{dt}-{R}x{C}-{kind}"
            case_tw(nm, from_f64(dist(kind, R, C, rng_for("int8" + nm)), dt), "tensor")
        for (R, C) in [(3, 5), (7, 33), (17, 23)]:
            kind = DISTS[i % 4]
            i += 1
            nm = f"row-{dt}-{R}x{C}-{kind}"
            case_tw(nm, from_f64(dist(kind, R, C, rng_for("int8" + nm)), dt), "row")
    case_tw("tensor-bf16-16x130-weight", from_f64(dist("weight", 16, 130, rng_for("int8big")), "bf16"), "tensor")
    case_tw("row-f32-130x16-normal", from_f64(dist("normal", 130, 16, rng_for("int8bigr")), "f32"), "row")

    # ties: amax = 127*2^k -> scale exactly 2^k; values at n+0.5
    for dt, k in (("f32", -9), ("f16", -6), ("bf16", 3)):
        rows = []
        for r in range(4):
            rng = rng_for(f"int8ties{dt}{r}")
            n = rng.integers(-127, 127, 30)
            v = list(n + 0.5) + [127.0 * (1 if r % 2 else -1), 0.0, -0.0, 126.5, -127.5 if r == 3 else -126.5, 0.5, -0.5, 1.5]
            rows.append([t * 2.0 ** (k + (r if dt != "f16" else 0)) for t in v])
        case_tw(f"tensor-{dt}-ties", exact([rw for rw in rows[:1]], dt), "tensor",
                notes="amax = 127*2^k: scale exactly 2^k, values at n+0.5 (round half to even)")
        case_tw(f"row-{dt}-ties", exact(rows, dt), "row",
                notes="per-row amax = 127*2^k_r: values at n+0.5 (round half to even); one row has -127.5 (clamp -128)")

    # zero rows, subnormals, small rows in f16 (subnormal f16 scale), outliers
    for dt in ("f32", "f16", "bf16"):
        a = dist("normal", 6, 20, rng_for("int8zr" + dt))
        a[1] = 0.0
        a[4, 3] = -0.0
        case_tw(f"row-{dt}-zero-row", from_f64(a, dt), "row", notes="an all-zero row (scale clamps to 1e-30)")
    for dt, sub in (("f32", 3e-41), ("f16", 3e-7), ("bf16", 3e-40)):
        rng = rng_for("int8sub" + dt)
        a = rng.standard_normal((4, 24))
        a[2] = rng.standard_normal(24) * sub
        case_tw(f"row-{dt}-subnormal-row", from_f64(a, dt), "row", notes="a row of input-dtype subnormals")
        case_tw(f"tensor-{dt}-subnormal", from_f64(a, dt), "tensor")
    a = rng_for("int8f16small").standard_normal((5, 24)) * np.array([[1e-1], [1e-3], [1e-4], [3e-5], [1e-6]])
    case_tw("row-f16-small-rows", from_f64(a, "f16"), "row",
            notes="row scales that are f16-subnormal once cast to the input dtype (x / scale.to(x.dtype))")
    for dt, big in (("f32", 1e30), ("f16", 6e4), ("bf16", 1e30)):
        a = dist("weight", 8, 32, rng_for("int8out" + dt))
        a[3, 9] = big
        case_tw(f"tensor-{dt}-outlier", from_f64(a, dt), "tensor")

    # ConvRot
    for dt in ("f32", "f16", "bf16"):
        for grp, (R, C) in ((16, (5, 48)), (64, (3, 128)), (256, (2, 256) if dt != "f16" else (3, 512))):
            kind = "weight" if grp != 64 else "normal"
            nm = f"convrot{grp}-{dt}-{R}x{C}-{kind}"
            case_cr(nm, from_f64(dist(kind, R, C, rng_for("int8" + nm)), dt), grp,
                    notes="rotation and un-rotation are torch CPU matmuls (accumulation order is the BLAS's); "
                    "'rotated' gives the anchor's rotated weight so the quantization of it can be checked exactly")
    for dt in ("f32", "bf16"):
        for grp in (16, 64, 256):
            rng = rng_for(f"int8dy{dt}{grp}")
            a = rng.integers(-8, 9, (4, 256)) / 16.0
            nm = f"convrot{grp}-{dt}-4x256-dyadic"
            case_cr(nm, exact(a, dt), grp, notes="inputs k/16 with |k|<=8: every rotation sum is exact in any order, "
                    "so 'rotated' and the codes are order independent")

    # block-wise (fork): dims must be multiples of block_size; no padding
    case_bw("blockwise-bf16-128x128-normal", from_f64(dist("normal", 128, 128, rng_for("bw1")), "bf16"), 128)
    a = dist("wide", 64, 64, rng_for("bw3"))
    a[0:32, 32:64] = 0.0
    a[32:64, 0:32] *= 1e-9
    blk = np.array(rng_for("bw3t").integers(-127, 127, (32, 32)) + 0.5) * 2.0 ** -5
    blk[0, 0] = 127 * 2.0 ** -5
    a[32:64, 32:64] = blk
    case_bw("blockwise-f32-64x64-bs32-edge", from_f64(a, "f32"), 32,
            notes="block_size 32: an all-zero tile (scale floor 1e-8), a tile with amax < 1.27e-6 (scale = 1e-8), "
            "and a tile with amax 127*2^-5 and values at n+0.5 (round half to even)")
    a = dist("uniform", 32, 48, rng_for("bw4"))
    a[16:32, 16:32] *= 1e-3
    case_bw("blockwise-f16-32x48-bs16", from_f64(a, "f16"), 16, notes="block_size 16; one tile scaled by 1e-3")
    a = dist("normal", 32, 48, rng_for("bw5"))
    a[0:16, 0:16] = 0.0
    blk = np.array(rng_for("bw5t").integers(-127, 127, (16, 16)) + 0.5) * 2.0 ** 2
    blk[3, 3] = -127 * 4.0
    a[16:32, 16:32] = blk
    case_bw("blockwise-bf16-32x48-bs16-edge", from_f64(a, "bf16"), 16,
            notes="block_size 16: zero tile, tie tile (amax 127*4, values (n+0.5)*4)")
    case_bw("blockwise-f32-32x32-bs32-weight", from_f64(dist("weight", 32, 32, rng_for("bw6")), "f32"), 32)
    case_bw("blockwise-f16-16x32-bs16-normal", from_f64(dist("normal", 16, 32, rng_for("bw7")), "f16"), 16)

    g.write(out_dir)
    return g


# ================================================================ codec digests
def torch_conversion_digests(e2m1=None):
    """FNV-1a digests of torch conversions over all f16 / bf16 patterns (e2m1: optional f32->code function)."""
    u = torch.arange(65536, dtype=torch.int32).to(torch.int16)
    f16 = u.view(torch.float16).float()
    bf16 = u.view(torch.bfloat16).float()
    both = torch.cat([f16, bf16])
    d = {}
    nanout = {}

    def put(key, x, y):
        """digest over all inputs, plus ':non_nan' = the same with NaN inputs' outputs left out."""
        d[key] = fnv1a64(raw(y))
        keep = ~torch.isnan(x)
        d[key + ":non_nan"] = fnv1a64(raw(y[keep]))
        yb = y[~keep].contiguous()
        yb = yb.view(torch.uint8) if yb.element_size() == 1 else yb.view(torch.int16)
        nanout[key] = sorted(set(int(v) & (0xFF if yb.element_size() == 1 else 0xFFFF) for v in yb.tolist()))

    for nm, x in (("f16", f16), ("bf16", bf16)):
        put(f"{nm}->e4m3fn", x, x.to(torch.float8_e4m3fn))
        put(f"{nm}->e5m2", x, x.to(torch.float8_e5m2))
    put("f16->bf16", f16, f16.to(torch.bfloat16))
    put("bf16->f16", bf16, bf16.to(torch.float16))
    for src, x, T in (("f16", f16, torch.bfloat16), ("bf16", bf16, torch.float16)):
        direct = u.view(DT[src]).to(T)
        keep = ~torch.isnan(x)
        assert torch.equal(direct[keep].view(torch.int16), x.to(T)[keep].view(torch.int16))
    put("f32->f16", both, both.to(torch.float16))
    put("f32->bf16", both, both.to(torch.bfloat16))
    if e2m1 is not None:
        for nm, x in (("f16", f16), ("bf16", bf16)):
            put(f"{nm}->e2m1", x, e2m1(x.clone()))
            put(f"{nm}->e2m1_clamped", x, e2m1(torch.clamp(x, -6.0, 6.0)))
    codes = torch.arange(256, dtype=torch.int32).to(torch.uint8)
    d["e4m3fn->f32"] = fnv1a64(raw(codes.view(torch.float8_e4m3fn).float()))
    d["e5m2->f32"] = fnv1a64(raw(codes.view(torch.float8_e5m2).float()))
    return d, nanout


def gen_codec_digests(out_dir, device_report=None):
    from comfy_kitchen.float_utils import _f32_to_floatx_unpacked

    d, nanout = torch_conversion_digests(lambda x: _f32_to_floatx_unpacked(x, 2, 1))
    other = None
    if device_report:  # torch-only digests measured by --part bnb under the device's torch
        td = json.load(open(device_report))["torch_conversion_digests"]
        other = (td["torch"], {k: v for k, v in td["fnv1a64"].items() if d.get(k) != v})

    # describe the e2m1 helper's special-value behaviour (measured, not assumed)
    def e2(vals):
        return [int(c) for c in _f32_to_floatx_unpacked(torch.tensor(vals, dtype=torch.float32), 2, 1)]

    nan_codes = sorted(set(nanout["f16->e2m1"]) | set(nanout["bf16->e2m1"]))
    nan_codes_cl = sorted(set(nanout["f16->e2m1_clamped"]) | set(nanout["bf16->e2m1_clamped"]))
    nan_other = {k: (v if len(v) <= 4 else f"{len(v)} distinct values") for k, v in nanout.items() if "e2m1" not in k}
    inf_codes = e2([float("inf"), float("-inf")])
    over = e2([5.0, 5.5, 5.9999, 6.0, 7.0, 1e30, -5.0, -6.5])
    f8nan = {
        "e4m3fn_from_inf": int(raw(torch.tensor([float("inf")]).to(torch.float8_e4m3fn))[0]),
        "e4m3fn_from_480": int(raw(torch.tensor([480.0]).to(torch.float8_e4m3fn))[0]),
        "e4m3fn_from_464": int(raw(torch.tensor([464.0]).to(torch.float8_e4m3fn))[0]),
        "e5m2_from_61440": int(raw(torch.tensor([61440.0]).to(torch.float8_e5m2))[0]),
        "e5m2_from_inf": int(raw(torch.tensor([float("inf")]).to(torch.float8_e5m2))[0]),
    }
    notes = (
        "Inputs: all 65536 f16 bit patterns (0x0000..0xFFFF in order) and all 65536 bf16 bit patterns, each "
        "widened exactly to f32. Hash: FNV-1a 64 (offset 0xcbf29ce484222325, prime 0x100000001b3) over the "
        "output bytes in input order, 16-bit outputs little-endian. 'X->e4m3fn'/'X->e5m2': torch "
        "f32_tensor.to(torch.float8_e4m3fn / float8_e5m2) (1 byte each; overflow/Inf behaviour is torch's and has "
        f"changed between torch versions; measured here: {json.dumps(f8nan)}, i.e. e4m3fn saturates to 0x7E even "
        "for Inf, e5m2 rounds to Inf). 'f16->bf16' / 'bf16->f16': torch .to() of the widened values "
        "(same bytes as a direct f16->bf16 / bf16->f16 tensor cast; asserted). 'f32->f16' / 'f32->bf16': torch .to() "
        "over the concatenation [65536 widened f16 values, then 65536 widened bf16 values] (131072 outputs, 2 bytes "
        "each). 'X->e2m1': comfy_kitchen.float_utils._f32_to_floatx_unpacked(x, 2, 1) on the widened values, one "
        "code (0..15, sign in bit 3) per byte, no clamping. That helper has no special values: +-Inf saturate to "
        f"+-6 (codes {inf_codes}); finite |x| >= 6 saturates; [5,6) rounds RNE (5.0, 5.5, 5.9999, 6.0, 7.0, 1e30, "
        f"-5.0, -6.5 -> {over}); NaN inputs take the 'normal' bit-arithmetic path and give payload-dependent codes "
        f"(set over all f16/bf16 NaN patterns: {nan_codes}). 'X->e2m1_clamped': the same after torch.clamp(x, -6, 6) "
        f"as comfy-kitchen's quantize_nvfp4 does (NaN kept by clamp; NaN codes {nan_codes_cl}; Inf -> +-6). "
        "'e4m3fn->f32' / 'e5m2->f32': all 256 codes 0x00..0xFF viewed as the fp8 type, .to(torch.float32), 4 bytes "
        "LE each. NaN: torch's NaN outputs are implementation details of its CPU kernels (e.g. f32 NaN -> bf16 gave "
        "0xFFFF for every NaN here, while a direct f16->bf16 tensor cast gives 0x7FC0), so every 16-bit-input digest "
        "also has a ':non_nan' twin hashed over the outputs of the non-NaN inputs only (input order kept). Output "
        f"bit patterns produced for NaN inputs: {json.dumps(nan_other)}. "
        f"Generated by {GENERATOR} with torch {torch.__version__} on CPU."
    )
    out = {"fnv1a64": d}
    if other is not None:
        notes += (f" Torch version matters: the same torch-only digests computed by the device part under torch {other[0]} "
                  f"(CPU tensors) differ only in {sorted(other[1])}; those values are under "
                  f"'fnv1a64_torch_{other[0]}' (that torch's f32->e4m3fn is non-saturating: values above 464 and +-Inf give NaN 0x7F/0xFF, 464 rounds to 448; "
                  "its digests equal ml_dtypes' float8_e4m3fn cast, checked when generating these files).")
        out[f"fnv1a64_torch_{other[0]}"] = other[1]
    out["notes"] = notes
    with open(os.path.join(out_dir, "codec_digests.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("codec_digests:", len(d), "digests", flush=True)


# ========================================================================= bnb4
# Decimal -> double -> float32: four entries land one ulp off the C float literals
# that bitsandbytes compiles. Kept as they are because the committed cases were
# built from them (inputs near, not on, those four thresholds); the model check
# below uses NF4_THRESHOLDS, the literals' exact values.
NF4_CASE_THRESHOLDS = np.array([
    -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544, -0.23460740596055984,
    -0.13791173323988914, -0.045525018125772476, 0.03979014977812767, 0.1202552504837513, 0.2035212516784668,
    0.2920137718319893, 0.3893125355243683, 0.5016634166240692, 0.6427869200706482, 0.8614784181118011],
    dtype=np.float32)
NF4_THRESHOLDS = np.array([  # the float literals of bitsandbytes' dQuantizeNF4, as bit patterns
    0xBF591CD9, 0xBF1C5270, 0xBEEB8480, 0xBEADEA76, 0xBE703CEC, 0xBE0D38BC, 0xBD3A7871, 0x3D22FAFF,
    0x3DF64863, 0x3E5067E0, 0x3E9582D4, 0x3EC753F9, 0x3F006D03, 0x3F248DAF, 0x3F5C89D9],
    dtype=np.uint32).view(np.float32)
FP4_THRESHOLDS = np.array([0.00260417, 0.0859375, 0.20833333, 0.29166667, 0.4166667, 0.583333, 0.8333333],
                          dtype=np.float32)
FP4_IDX_TO_CODE = np.array([0, 1, 6, 7, 4, 5, 2, 3], dtype=np.uint8)


def gen_bnb4(out_dir, dev="cuda", rcp_json=None):
    import importlib.metadata as md

    import bitsandbytes as bnb
    import bitsandbytes.functional as F
    from bitsandbytes.functional import QuantState

    if dev == "cuda":
        assert torch.cuda.is_available(), "--part bnb needs CUDA (use --device cpu for a structural dry run)"
    an = {"torch": torch.__version__ + (f" (CUDA {torch.version.cuda}, {torch.cuda.get_device_name()})"
                                        if dev == "cuda" else " (CPU DRY RUN - not anchor bytes)"),
          "comfy_kitchen": "n/a", "bitsandbytes": bnb.__version__}
    g = Group("bnb4", an)
    report = {"double_quant": [], "device": dev}

    def dq_parts(absmax: torch.Tensor):
        nb = absmax.numel()
        acc = 0.0
        for v in absmax.double().cpu().tolist():
            acc += v  # sequential float64 sum, in block order
        off = np.float32(acc / nb)
        off_t = torch.tensor(float(off), dtype=torch.float32, device=absmax.device)
        q2, st2 = F.quantize_blockwise(absmax - off_t, blocksize=256)
        return off_t, q2, st2

    def case(name, x, qt, bs, dq=0, notes=None):
        R, C = x.shape
        n = R * C
        dtype = {v: k for k, v in DT.items()}[x.dtype]
        xd = x.to(dev)
        q, st = F.quantize_4bit(xd, blocksize=bs, compress_statistics=False, quant_type=qt)
        absmax = st.absmax
        nb = -(-n // bs)
        assert q.dtype == torch.uint8 and q.numel() == (n + 1) // 2 and absmax.dtype == torch.float32 and absmax.numel() == nb
        code = F.get_4bit_type(qt, device=dev)
        parts = {"data": q}
        extra = {}
        if dq:
            off_t, q2, st2 = dq_parts(absmax)
            parts["scale"] = q2
            parts["scale2"] = st2.absmax.float()
            parts["offset"] = off_t.reshape(1)
            assert q2.dtype == torch.uint8 and q2.numel() == nb and st2.absmax.numel() == -(-nb // 256)
            # the anchor's own nested path
            qa, sa = F.quantize_4bit(xd, blocksize=bs, compress_statistics=True, quant_type=qt)
            assert torch.equal(qa, q), "compress_statistics changed the 4-bit data"
            a_off = sa.offset.float()
            q3, st3 = F.quantize_blockwise(absmax - a_off, blocksize=256)
            sanity = bool(torch.equal(q3, sa.absmax) and torch.equal(st3.absmax, sa.state2.absmax)
                          and torch.equal(st3.code, sa.state2.code) and sa.state2.blocksize == 256)
            same_off = float(a_off) == float(off_t)
            same_codes = bool(torch.equal(q2, sa.absmax) and torch.equal(st2.absmax, sa.state2.absmax))
            extra["anchor_offset"] = float(a_off)
            extra["anchor_offset_equals_qk_offset"] = same_off
            report["double_quant"].append({"case": name, "nb": nb, "qk_offset": float(off_t), "anchor_offset": float(a_off),
                                           "anchor_nested_sanity": sanity, "codes_equal_with_anchor_offset": same_codes})
            assert sanity, f"{name}: quantize_blockwise(absmax - anchor offset, 256) != bnb's nested state"
            state2 = QuantState(absmax=st2.absmax, code=st2.code, blocksize=256, dtype=torch.float32)
            mk = lambda T: QuantState(absmax=q2, shape=torch.Size([R, C]), dtype=DT[T], blocksize=bs, code=code,
                                      quant_type=qt, offset=off_t, state2=state2)
        else:
            parts["scale"] = absmax
            mk = lambda T: QuantState(absmax=absmax, shape=torch.Size([R, C]), dtype=DT[T], blocksize=bs, code=code,
                                      quant_type=qt)
        deq = {}
        for T in OUT_TYPES:
            d = F.dequantize_4bit(q, quant_state=mk(T))
            if tuple(d.shape) != (R, C):
                d = d.t()
            deq[T] = d.reshape(R, C).cpu()
        call = (f"data, st = bitsandbytes.functional.quantize_4bit(x.cuda(), blocksize={bs}, compress_statistics=False, "
                f"quant_type='{qt}'); scale = st.absmax")
        if dq:
            call += ("; offset = f32(sequential f64 sum(absmax)/nb); scale, st2 = bitsandbytes.functional.quantize_blockwise("
                     "absmax - offset, blocksize=256); scale2 = st2.absmax")
        call += "; dequant: bitsandbytes.functional.dequantize_4bit(data, QuantState(... dtype=T))"
        g.add(name=name, fmt=qt, dtype=dtype, x=x, params=params("block", bs, dq), parts=parts, dequant=deq,
              anchor_call=call, notes=notes, extra=extra or None)

    for qt in ("nf4", "fp4"):
        reg = [((1, 1), "f32", 64, "normal"), ((3, 5), "f16", 32, "uniform"), ((7, 33), "bf16", 64, "normal"),
               ((16, 16), "f32", 128, "weight"), ((33, 47), "bf16", 256, "wide"), ((33, 47), "f16", 32, "normal"),
               ((16, 130), "f16", 128, "normal"), ((5, 27), "bf16", 512, "uniform"), ((33, 47), "f32", 2048, "wide")]
        reg += ([((40, 70), "f32", 1024, "normal"), ((50, 100), "bf16", 4096, "weight")] if qt == "nf4" else
                [((30, 50), "f32", 1024, "normal"), ((41, 103), "f16", 4096, "uniform")])
        for (R, C), dt, bs, kind in reg:
            nm = f"{qt}-{dt}-{R}x{C}-bs{bs}-{kind}"
            case(nm, from_f64(dist(kind, R, C, rng_for(nm)), dt), qt, bs)
    dqs = [("nf4", "bf16", 90, 100, 32, "weight"), ("nf4", "f16", 16, 130, 64, "normal"), ("fp4", "f32", 33, 47, 128, "normal"),
           ("fp4", "bf16", 50, 100, 4096, "wide"), ("nf4", "f32", 7, 33, 64, "uniform"), ("fp4", "f16", 33, 47, 32, "normal")]
    for qt, dt, R, C, bs, kind in dqs:
        nm = f"{qt}-{dt}-{R}x{C}-bs{bs}-{kind}-dq"
        case(nm, from_f64(dist(kind, R, C, rng_for(nm)), dt), qt, bs, dq=1,
             notes="double quant: offset is qk's f32(sequential f64 sum / nb); anchor_offset is bnb's CUDA mean")

    # thresholds: absmax = 2^k (rcp exact), values exactly threshold*2^k and one f32 ulp around
    for qt, th in (("nf4", NF4_CASE_THRESHOLDS), ("fp4", np.concatenate([FP4_THRESHOLDS, -FP4_THRESHOLDS]))):
        for dt in ("f32", "bf16", "f16"):
            vals = []
            for j, k in enumerate((0, -3, 5, -10)):
                s = 2.0 ** k
                blk = [s if j % 2 == 0 else -s]  # absmax
                for t in th:
                    tt = torch.tensor([float(t) * s], dtype=torch.float64).to(DT[dt])  # exact in f32; nearest in 16-bit
                    blk += [float(tt.double()), float(step_bits(tt, 1).double()), float(step_bits(tt, -1).double())]
                blk += [0.0, -0.0]
                blk = blk[:64] + [0.0] * (64 - len(blk[:64]))
                vals += blk
            x = exact(np.array(vals).reshape(4, 64), dt)
            case(f"{qt}-{dt}-thresholds-bs64", x, qt, 64,
                 notes="blocks with absmax 2^k: values at threshold*2^k (exact in f32, nearest in f16/bf16) and "
                 "one ulp either side")

    # NaN / Inf (no double quant)
    for qt in ("nf4", "fp4"):
        for dt in ("f32", "f16", "bf16"):
            a = dist("normal", 4, 64, rng_for(f"bnbnan{qt}{dt}"))
            a[0, 5] = np.nan
            a[1, 70 - 64] = np.inf
            a[2, 3] = -np.inf
            a[2, 40] = np.nan
            a[3, 0:32] = np.nan
            x = from_f64(a, dt)
            case(f"{qt}-{dt}-nan-inf-bs32", x, qt, 32,
                 notes="NaN / +-Inf inputs: bnb's absmax uses fmaxf (ignores NaN); Inf absmax -> rcp 0 -> inf*0 = NaN")

    # subnormals (ftz on device), zero blocks, odd n, +-0, outliers
    for qt in ("nf4", "fp4"):
        for dt, sub in (("f32", 3e-41), ("bf16", 3e-40), ("f16", 3e-7)):
            rng = rng_for(f"bnbsub{qt}{dt}")
            a = rng.standard_normal((3, 64))
            a[0, 0:32] = rng.standard_normal(32) * sub
            a[1, 32:64] = rng.standard_normal(32) * sub
            a[1, 40] = 1e-3
            a[2, 0:32] = rng.standard_normal(32) * sub * 1e-3
            case(f"{qt}-{dt}-subnormal-bs32", from_f64(a, dt), qt, 32,
                 notes="input-dtype subnormals: all-subnormal blocks and subnormals under a normal absmax")
        for dt in ("f32", "f16", "bf16"):
            a = dist("uniform", 5, 27, rng_for(f"bnbzero{qt}{dt}"))
            a.reshape(-1)[32:64] = 0.0
            a.reshape(-1)[128:] = 0.0  # the last (partial, odd) block is all zero
            a[0, 3] = -0.0
            x = from_f64(a, dt)
            x[0, 4] = -0.0
            case(f"{qt}-{dt}-zero-blocks-odd-bs32", x, qt, 32,
                 notes="n=135 (odd): an all-zero block, an all-zero final partial block, -0.0")
            a = dist("uniform", 3, 23, rng_for(f"bnbodd{qt}{dt}"))
            case(f"{qt}-{dt}-odd-bs64", from_f64(a, dt), qt, 64, notes="n=69 (odd): padding nibble of the last byte")
        for dt, big in (("f32", 1e30), ("f16", 6e4), ("bf16", 1e30)):
            a = dist("weight", 8, 48, rng_for(f"bnbout{qt}{dt}"))
            a[2, 7] = big
            a[6, 30] = -big
            case(f"{qt}-{dt}-outliers-bs128", from_f64(a, dt), qt, 128)

    g.write(out_dir)
    if rcp_json:
        report["model_check"] = bnb_model_check(rcp_json, dev)
    d, _ = torch_conversion_digests()
    report["torch_conversion_digests"] = {"torch": torch.__version__, "fnv1a64": d}
    with open(os.path.join(out_dir, "bnb_report.json"), "w") as f:
        json.dump(report, f, indent=1)
    print("double quant:", json.dumps(report["double_quant"]), flush=True)
    return g


def rcp_model(a: np.ndarray, table: np.ndarray, mbits: int) -> np.ndarray:
    """rcp.approx.ftz model on positive f32 values whose mantissa has <= mbits bits."""
    b = a.astype(np.float32).view(np.uint32)
    ex = ((b >> 23) & 0xFF).astype(np.int64)
    man = b & 0x7FFFFF
    assert not (man & ((1 << (23 - mbits)) - 1)).any()
    t = np.ascontiguousarray(table[(man >> (23 - mbits)).astype(np.int64)]).view(np.uint32)
    re = ((t >> 23) & 0xFF).astype(np.int64) - (ex - 127)
    out = (t & np.uint32(0x807FFFFF)) | (np.clip(re, 0, 255).astype(np.uint32) << np.uint32(23))
    out = np.where(re <= 0, np.uint32(0), out)
    out = np.where(ex == 0, np.uint32(0x7F800000), out)
    out = np.where(ex == 255, np.uint32(0), out)
    return out.astype(np.uint32).view(np.float32)


def ftz(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.float32)
    return np.where(np.abs(v) < np.float32(2.0 ** -126), np.float32(0.0), v).astype(np.float32)


def _model_codes(xf: np.ndarray, r: np.ndarray):
    """Codes of the model for blocks xf [nblk, bs] (f32) and per-block multipliers r."""
    v = ftz(ftz(xf) * r[:, None])
    nf4 = (v[..., None] > NF4_THRESHOLDS).sum(-1).astype(np.uint8)
    fp4 = FP4_IDX_TO_CODE[(np.abs(v)[..., None] > FP4_THRESHOLDS).sum(-1)] | np.where(v < 0, 8, 0).astype(np.uint8)
    return {"nf4": nf4, "fp4": fp4}


def _discriminating_blocks(table, mbits, dt, qt, bs=64, want_blocks=32):
    """Blocks whose values put x*rcp_approx(absmax) and x*(1/absmax) on different sides of a `qt` threshold."""
    ths = NF4_THRESHOLDS.astype(np.float64) if qt == "nf4" else np.concatenate([FP4_THRESHOLDS, -FP4_THRESHOLDS]).astype(np.float64)
    rng = rng_for("disc" + dt + qt)
    blocks = []
    tries = 0
    while len(blocks) < want_blocks and tries < 3000:
        tries += 1
        am = float(from_f64([rng.uniform(1.0, 2.0) * 2.0 ** int(rng.integers(-6, 7))], dt).double())
        amf = np.array([am], np.float32)
        ra = rcp_model(amf, table, mbits)[0]
        rc = np.float32(1.0) / amf[0]
        if ra == rc:
            continue
        cand = torch.cat([step_bits(from_f64(ths / float(ra), dt), st) for st in range(-3, 4)]).double().numpy()
        cand = cand[np.abs(cand) < am].astype(np.float32)
        ca = _model_codes(cand[None, :], np.array([ra], np.float32))[qt][0]
        cc = _model_codes(cand[None, :], np.array([rc], np.float32))[qt][0]
        found = list(cand[ca != cc].astype(np.float64))
        if found:
            blk = [am] + found[: bs - 1]
            blk += list(rng.uniform(-am, am, bs - len(blk)))
            blocks.append(blk)
    return np.array(blocks, dtype=np.float64)


def bnb_model_check(rcp_json, dev):
    """Check bnb quantize_4bit codes == model: v = x*rcp_approx(absmax) (f32 mul, ftz); NF4 = #{t: v > t}."""
    import bitsandbytes.functional as F

    rj = json.load(open(rcp_json))
    res = {}
    for dt, key, mbits in (("bf16", "bf16_mantissa", 7), ("f16", "f16_mantissa", 10)):
        table = np.array(rj[key], dtype=np.uint32).view(np.float32)
        rng = rng_for("modelcheck" + dt)
        sets = []
        for bs in (64, 256, 4096):
            nblk = 96 if bs < 4096 else 12
            a = rng.standard_normal((nblk, bs))
            a = a * 2.0 ** rng.uniform(-20 if dt == "bf16" else -8, 20 if dt == "bf16" else 8, (nblk, 1))
            for bi in range(0, nblk, 2):  # values near threshold*absmax (absmax not a power of two)
                am = float(np.abs(a[bi]).max())
                pos = rng.choice(bs, size=min(bs - 1, 60), replace=False)
                th = np.concatenate([NF4_THRESHOLDS, FP4_THRESHOLDS, -FP4_THRESHOLDS])
                a[bi, pos] = np.resize(th, pos.size) * am
            sets.append((f"bs{bs}", bs, a))
        for qt in ("nf4", "fp4"):
            disc = _discriminating_blocks(table, mbits, dt, qt)
            if len(disc):
                sets.append((f"bs64-discriminating-{qt}", 64, disc))
        for tag, bs, a in sets:
            nblk = a.shape[0]
            x = from_f64(a.reshape(-1), dt).reshape(1, -1)
            xf = x.float().numpy().reshape(nblk, bs)
            absmax = ftz(np.abs(xf)).max(axis=1)
            mdl = _model_codes(xf, rcp_model(absmax, table, mbits))
            with np.errstate(divide="ignore"):
                crm = _model_codes(xf, ftz(np.float32(1.0) / absmax))  # correctly rounded 1/absmax, for contrast
            for qt in ("nf4", "fp4"):
                if "discriminating" in tag and not tag.endswith(qt):
                    continue
                q, st = F.quantize_4bit(x.to(dev), blocksize=bs, quant_type=qt)
                qb = q.cpu().numpy().reshape(-1)
                codes = np.stack([qb >> 4, qb & 15], axis=-1).reshape(nblk, bs)
                res[f"{qt}-{dt}-{tag}"] = {
                    "elements": int(codes.size),
                    "code_mismatches": int((codes != mdl[qt]).sum()),
                    "absmax_matches_ftz_max": bool(np.array_equal(st.absmax.cpu().numpy(), absmax)),
                    "mismatches_if_correctly_rounded_1_over_absmax": int((codes != crm[qt]).sum()),
                }
    res["all_match"] = all(v["code_mismatches"] == 0 and v["absmax_matches_ftz_max"] for v in res.values() if isinstance(v, dict))
    print("bnb model check:", json.dumps(res), flush=True)
    return res


# ========================================================================= main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=("cpu", "bnb"), required=True)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden"))
    ap.add_argument("--groups", default=None, help="comma list (cpu part): nvfp4,mxfp8,fp8,int8,codec")
    ap.add_argument("--int8-blockwise-src", default=os.environ.get("QK_INT8_BLOCKWISE_SRC"),
                    help=f"path to {INT8_BLOCKWISE_REPO}@{INT8_BLOCKWISE_COMMIT}:{INT8_BLOCKWISE_PATH}")
    ap.add_argument("--device", default="cuda", help="bnb part: cuda (anchor) or cpu (structural dry run)")
    ap.add_argument("--rcp-json", default=None, help="bnb part: rcp_approx.json from rcp_probe, enables the model check")
    ap.add_argument("--device-report", default=None,
                    help="cpu part: bnb_report.json of a device run; adds that torch's conversion digests where they differ")
    args = ap.parse_args()
    torch.manual_seed(0)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    if args.part == "cpu":
        want = set((args.groups or "nvfp4,mxfp8,fp8,int8,codec").split(","))
        if "nvfp4" in want:
            gen_nvfp4(out)
        if "mxfp8" in want:
            _, flags = gen_mxfp8(out)
            print("mxfp8 log2_exact false in:", [k for k, v in flags.items() if not v])
        if "fp8" in want:
            gen_fp8(out)
        if "int8" in want:
            gen_int8(out, args.int8_blockwise_src)
        if "codec" in want:
            gen_codec_digests(out, args.device_report)
    else:
        gen_bnb4(out, args.device, args.rcp_json)


if __name__ == "__main__":
    main()
