"""qtool's output in the real consumers: the safetensors library reads every
file; comfy-kitchen (eager, CPU) and bitsandbytes (CPU) rebuild each
quantized layer the way ComfyUI / transformers do and must dequantize to
exactly the values `qtool dequantize` (qk) gives, bit for bit.

usage: test_consumers.py QTOOL
"""
import json
import os
import subprocess
import sys
import tempfile

import torch
from safetensors import safe_open

from harness import Tally

QTOOL = sys.argv[1]
tally = Tally("consumers")
tmp = tempfile.mkdtemp(prefix="qk-consumers-")

COMFY_FORMATS = ["nvfp4", "mxfp8", "float8_e4m3fn", "float8_e5m2", "int8_tensorwise",
                 "int8_tensorwise:row", "int8_tensorwise:convrot=16", "int8_tensorwise:convrot=256",
                 "int8_blockwise"]
BNB_FORMATS = ["nf4", "fp4", "nf4:dq", "fp4:dq", "nf4:bs=128:dq"]
OUT_DTYPES = {"bf16": torch.bfloat16, "f32": torch.float32}
ST_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "U8": torch.uint8,
             "I8": torch.int8, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
             "I32": torch.int32, "I64": torch.int64}


def qtool(*args):
    r = subprocess.run([QTOOL, *args], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"qtool {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def load(path):
    """Every tensor via the safetensors library, plus the header metadata."""
    with safe_open(path, framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}


def raw_header(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n))


def bits(t):
    """Bit pattern of a float tensor, so NaN == NaN and -0 != +0."""
    view = {1: torch.uint8, 2: torch.int16, 4: torch.int32}[t.element_size()]
    return t.contiguous().view(view)


def same_bits(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(bits(a), bits(b))


def first_diff(a, b):
    if a.shape != b.shape or a.dtype != b.dtype:
        return f"shape/dtype {tuple(a.shape)} {a.dtype} vs {tuple(b.shape)} {b.dtype}"
    idx = (bits(a) != bits(b)).nonzero()
    i = tuple(idx[0].tolist())
    return f"{len(idx)} of {a.numel()} differ, first at {i}: {a[i].item()!r} vs {b[i].item()!r}"


def check_safetensors(label, path, tensors, inspect_path=None):
    """The library's view agrees with the raw header and `qtool inspect` (a
    shard, whose layers may continue in the next shard, is inspected through
    its index, inspect_path, by the caller)."""
    header = raw_header(path)
    names = sorted(k for k in header if k != "__metadata__")
    tally.check(sorted(tensors) == names, f"{label}: safetensors reads every tensor")
    bad = [k for k in names if list(tensors[k].shape) != header[k]["shape"]
           or tensors[k].dtype != ST_DTYPES[header[k]["dtype"]]]
    tally.check(not bad, f"{label}: dtypes and shapes as the header says", str(bad[:3]))
    inspected = inspect(path) if inspect_path is None else None  # shards: see check_sharded
    if inspected is not None:
        mism = [k for k in names if inspected.get(k) != (header[k]["dtype"], header[k]["shape"])]
        tally.check(not mism and len(inspected) == len(names),
                    f"{label}: qtool inspect lists the same names/dtypes/shapes",
                    str([(k, inspected.get(k)) for k in mism[:3]]))


def inspect(path):
    """{name: (dtype, shape)} from `qtool inspect --json`, or None if absent."""
    try:
        out = json.loads(qtool("inspect", path, "--json"))
    except (RuntimeError, json.JSONDecodeError) as e:
        tally.check(False, f"qtool inspect --json {os.path.basename(path)}", str(e)[:200])
        return None
    tens = out.get("tensors", out)
    if isinstance(tens, dict):
        return {k: (v["dtype"], list(v["shape"])) for k, v in tens.items()}
    return {t["name"]: (t["dtype"], list(t["shape"])) for t in tens}


def comfy_layers(tensors, metadata):
    """{layer: conf} from the `.comfy_quant` markers (ComfyUI's own lookup)."""
    layers = {}
    for k, v in tensors.items():
        if k.endswith(".comfy_quant"):
            layers[k[: -len(".comfy_quant")]] = json.loads(bytes(v.tolist()).decode("utf-8"))
    return layers


def comfy_dequantize(tensors, layer, conf, dtype):
    """What ComfyUI's mixed-precision ops build from the state dict
    (comfy/ops.py _load_from_state_dict + QUANT_ALGOS), dequantized by
    comfy-kitchen's eager backend."""
    import comfy_kitchen as ck
    from comfy_kitchen.tensor import QuantizedTensor, get_layout_class
    fmt = conf["format"]
    layout = {"float8_e4m3fn": "TensorCoreFP8Layout", "float8_e5m2": "TensorCoreFP8Layout",
              "nvfp4": "TensorCoreNVFP4Layout", "mxfp8": "TensorCoreMXFP8Layout",
              "int8_tensorwise": "TensorWiseINT8Layout"}[fmt]
    storage = {"float8_e4m3fn": torch.float8_e4m3fn, "float8_e5m2": torch.float8_e5m2,
               "nvfp4": torch.uint8, "mxfp8": torch.float8_e4m3fn, "int8_tensorwise": torch.int8}[fmt]
    weight = tensors[layer + ".weight"]
    scale = tensors.get(layer + ".weight_scale")
    extra = {}
    if fmt == "nvfp4":
        params = {"scale": tensors[layer + ".weight_scale_2"].float(),
                  "block_scale": scale.view(torch.float8_e4m3fn)}
    elif fmt == "mxfp8":
        params = {"scale": scale.view(torch.float8_e8m0fnu)}
    else:
        params = {"scale": scale.float()}
    if fmt == "int8_tensorwise" and conf.get("convrot", False):
        extra = {"convrot": True, "convrot_groupsize": int(conf.get("convrot_groupsize", 256))}
    shape = orig_shape(tensors, layer, conf, weight)
    p = get_layout_class(layout).Params(**params, orig_dtype=dtype, orig_shape=shape, **extra)
    with ck.use_backend("eager"):
        out = QuantizedTensor(weight.to(storage), layout, p).dequantize()
    return out[: shape[0], : shape[1]].contiguous()


def orig_shape(tensors, layer, conf, weight):
    """The layer's logical shape: ComfyUI takes it from the module; the file
    tells it through the padded data, so qtool's own dequantized tensor (the
    caller's reference) is used for it."""
    return tuple(REF_SHAPES[layer])


REF_SHAPES = {}


def bnb_layers(tensors):
    out = {}
    for k in tensors:
        for qt in ("nf4", "fp4"):
            suffix = ".weight.quant_state.bitsandbytes__" + qt
            if k.endswith(suffix):
                out[k[: -len(suffix)]] = qt
    return out


def bnb_dequantize(tensors, layer, dtype):
    """transformers' path: Params4bit.from_prequantized with the stats under
    `<layer>.weight.*`, then bitsandbytes' own CPU dequantize_4bit."""
    import bitsandbytes as bnb
    import bitsandbytes.functional as F
    prefix = layer + ".weight."
    stats = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    p = bnb.nn.Params4bit.from_prequantized(tensors[layer + ".weight"], stats, device="cpu")
    qs = p.quant_state
    qs.dtype = dtype  # the compute dtype the consumer asks for
    return F.dequantize_4bit(p.data, qs), qs


def main():
    model = os.path.join(tmp, "model.safetensors")
    qtool("make-model", model, "--blocks", "1", "--width", "256", "--dtype", "bf16")
    source, _ = load(model)
    for spec in COMFY_FORMATS + BNB_FORMATS:
        label = spec
        out = os.path.join(tmp, spec.replace(":", "_").replace("=", "") + ".safetensors")
        try:
            qtool("convert", model, "-o", out, "--format", spec, "--backend", "cpu")
        except RuntimeError as e:
            tally.check(False, f"{label}: qtool convert", str(e)[:300])
            continue
        tensors, metadata = load(out)
        check_safetensors(label, out, tensors)
        deq = {}
        for dname, dtype in OUT_DTYPES.items():
            path = os.path.join(tmp, f"deq_{dname}.safetensors")
            qtool("dequantize", out, "-o", path, "--dtype", dname)
            deq[dname], _ = load(path)
        REF_SHAPES.clear()
        REF_SHAPES.update({k[: -len(".weight")]: tuple(v.shape) for k, v in deq["f32"].items()
                           if k.endswith(".weight")})
        if spec.split(":")[0] in ("nf4", "fp4"):
            check_bnb(label, spec, tensors, deq)
        else:
            check_comfy(label, spec, tensors, metadata, deq)
        # Unquantized tensors pass through unchanged.
        kept = [k for k in source if k in tensors and tensors[k].dtype == source[k].dtype]
        bad = [k for k in kept if not same_bits(tensors[k], source[k])]
        tally.check(kept and not bad, f"{label}: {len(kept)} unquantized tensors copied bit for bit",
                    str(bad[:3]))


def check_comfy(label, spec, tensors, metadata, deq):
    fmt = spec.split(":")[0]
    layers = comfy_layers(tensors, metadata)
    tally.check(layers and all(c.get("format") == fmt for c in layers.values()),
                f"{label}: {len(layers)} layers marked comfy_quant {{'format': '{fmt}'}}",
                str(list(layers.values())[:2]))
    qm = json.loads(metadata.get("_quantization_metadata", "{}"))
    tally.check(qm.get("layers") == layers, f"{label}: _quantization_metadata mirrors the markers",
                str(qm)[:200])
    if "convrot" in spec:
        tally.check(all(c.get("convrot") is True for c in layers.values()),
                    f"{label}: markers say convrot", str(list(layers.values())[:1]))
    if fmt == "int8_blockwise":
        # comfy-kitchen 0.2.40 ships no BlockWiseINT8Layout: only the file is checked.
        print(f"note {label}: comfy-kitchen 0.2.40 has no int8_blockwise layout; dequantize not compared")
        return
    if "convrot" in spec:
        check_convrot(label, tensors, layers, deq)
        return
    for dname, dtype in OUT_DTYPES.items():
        bad = []
        for layer, conf in layers.items():
            got = comfy_dequantize(tensors, layer, conf, dtype)
            ref = deq[dname][layer + ".weight"]
            if not same_bits(got, ref):
                bad.append(f"{layer}: {first_diff(got, ref)}")
        tally.check(not bad, f"{label}: comfy-kitchen eager dequantize == qk ({dname}, "
                    f"{len(layers)} layers)", "; ".join(bad[:3]))


def butterfly(v, group):
    """qk's documented ConvRot order (docs/FORMATS.md, src/ref/convrot.c): one
    H4 butterfly per base-4 digit, lowest first, ((a+-b)+-c)+-d in f32, then
    the exact scaling by 2^-levels. torch's CPU elementwise ops round each
    step (no contraction)."""
    rows, cols = v.shape
    x = v.reshape(rows, cols // group, group).clone()
    stride, levels = 1, 0
    while stride < group:
        y = x.reshape(rows, -1, group // (4 * stride), 4, stride)
        a, b, c, d = y[..., 0, :], y[..., 1, :], y[..., 2, :], y[..., 3, :]
        x = torch.stack([((a + b) + c) - d, ((a + b) - c) + d, ((a - b) + c) + d,
                         ((b - a) + c) + d], dim=-2).reshape(rows, -1, group)
        stride, levels = stride * 4, levels + 1
    return (x * 2.0 ** -levels).reshape(rows, cols)


def check_convrot(label, tensors, layers, deq):
    """ConvRot is the one documented deviation (docs/FORMATS.md): comfy-kitchen
    unrotates with a dense f32 matmul whose summation order is BLAS's, qk with
    a fixed-order butterfly. Asserted precisely: qk's values are its documented
    order applied to the file's codes and scales, bit for bit; both libraries
    round that f32 result to bf16 the same way; comfy-kitchen and qk then differ
    only by f32 summation order (within the sum's rounding-error bound)."""
    stats = []
    ok_spec = ok_round = ok_bound = True
    for layer, conf in layers.items():
        group = int(conf.get("convrot_groupsize", 256))
        q, scale = tensors[layer + ".weight"], tensors[layer + ".weight_scale"].float()
        v = q.float() * scale
        mine = butterfly(v, group)
        qk32, qk16 = deq["f32"][layer + ".weight"], deq["bf16"][layer + ".weight"]
        ck32 = comfy_dequantize(tensors, layer, conf, torch.float32)
        ck16 = comfy_dequantize(tensors, layer, conf, torch.bfloat16)
        ok_spec &= same_bits(mine, qk32)
        ok_round &= same_bits(qk32.to(torch.bfloat16), qk16) and same_bits(ck32.to(torch.bfloat16), ck16)
        # |error| of a G-term f32 sum <= (G-1) u sum|terms|; two such sums differ by twice that.
        mag = (v.abs().reshape(v.shape[0], -1, group).sum(-1, keepdim=True) / group ** 0.5)
        bound = (2 * (group - 1) * 2.0 ** -24 * mag.expand(-1, -1, group)).reshape(v.shape)
        ok_bound &= bool(((ck32.double() - qk32.double()).abs() <= bound.double()).all())
        exact = (v.double().reshape(v.shape[0], -1, group) @ _hadamard64(group)).reshape(v.shape)
        ck_err, qk_err = (ck32.double() - exact).abs(), (qk32.double() - exact).abs()
        diff = ~torch.eq(bits(ck32), bits(qk32))
        stats.append((layer, int(diff.sum()), v.numel(), int((qk_err < ck_err).sum()),
                      int((ck_err < qk_err).sum()), int((~torch.eq(bits(ck16), bits(qk16))).sum())))
    tally.check(ok_spec, f"{label}: qk == its documented butterfly on the file's codes/scales (f32)")
    tally.check(ok_round, f"{label}: bf16 output == bf16(f32 output) in both qk and comfy-kitchen")
    tally.check(ok_bound, f"{label}: comfy-kitchen vs qk within the f32 summation-order bound")
    for layer, nd, n, qk_closer, ck_closer, nd16 in stats:
        print(f"note {label}: {layer}: f32 differs in {nd}/{n} (qk closer to exact {qk_closer}, "
              f"comfy-kitchen closer {ck_closer}); bf16 differs in {nd16}/{n}")


def _hadamard64(group):
    h4 = torch.tensor([[1, 1, 1, -1], [1, 1, -1, 1], [1, -1, 1, 1], [-1, 1, 1, 1]],
                      dtype=torch.float64)
    h = h4
    while h.shape[0] < group:
        h = torch.kron(h, h4)
    return h / group ** 0.5


def check_bnb(label, spec, tensors, deq):
    qt = spec.split(":")[0]
    layers = bnb_layers(tensors)
    tally.check(layers and all(v == qt for v in layers.values()),
                f"{label}: {len(layers)} layers with a bitsandbytes__{qt} quant state")
    nested = ":dq" in spec
    for layer in layers:
        blob = tensors[f"{layer}.weight.quant_state.bitsandbytes__{qt}"]
        conf = json.loads(bytes(blob.tolist()).decode())
        expected_keys = {"quant_type", "blocksize", "dtype", "shape"} | (
            {"nested_blocksize", "nested_dtype", "nested_offset"} if nested else set())
        if not tally.check(set(conf) == expected_keys and conf["quant_type"] == qt,
                           f"{label}: {layer} quant state keys", str(conf)):
            return
    for dname, dtype in OUT_DTYPES.items():
        bad, zero_sign = [], 0
        for layer in layers:
            got, qs = bnb_dequantize(tensors, layer, dtype)
            ref = deq[dname][layer + ".weight"]
            if same_bits(got, ref):
                continue
            if qt == "fp4" and fp4_zero_sign_only(got, ref, tensors[layer + ".weight"]):
                zero_sign += 1
            else:
                bad.append(f"{layer}: {first_diff(got, ref)}")
        tally.check(not bad, f"{label}: bitsandbytes CPU dequantize_4bit == qk ({dname}, "
                    f"{len(layers)} layers)", "; ".join(bad[:3]))
        if zero_sign:
            print(f"note {label} ({dname}): in {zero_sign} layers bitsandbytes' CPU kernel wrote +0.0 "
                  "for FP4 code 8, where its CUDA kernel and qk write -0.0 (docs/FORMATS.md)")


def fp4_zero_sign_only(got, ref, packed):
    """bitsandbytes' AVX512 CPU kernel decodes FP4 code 8 as +0.0, its CUDA
    kernel (and qk) as -0.0: true when that is the whole difference, i.e.
    every differing element holds code 8, qk -0.0 and bitsandbytes +0.0."""
    if got.shape != ref.shape or got.dtype != ref.dtype:
        return False
    b = packed.reshape(-1).to(torch.int32)
    codes = torch.stack((b >> 4, b & 15), dim=1).reshape(-1)[: ref.numel()]
    diff = (bits(got) != bits(ref)).reshape(-1)
    g, r = got.reshape(-1)[diff].float(), ref.reshape(-1)[diff].float()
    return bool((codes[diff] == 8).all() and (g == 0).all() and (r == 0).all()
                and (~torch.signbit(g)).all() and torch.signbit(r).all())


def check_sharded():
    """--max-shard-size: every shard and the index load in the safetensors
    library and together hold exactly the single file's tensors."""
    model = os.path.join(tmp, "model.safetensors")
    for spec in ("nvfp4", "nf4:dq"):
        single = os.path.join(tmp, "single.safetensors")
        sharded = os.path.join(tmp, "sharded.safetensors")
        qtool("convert", model, "-o", single, "--format", spec, "--backend", "cpu", "--quiet")
        qtool("convert", model, "-o", sharded, "--format", spec, "--backend", "cpu", "--quiet",
              "--max-shard-size", "300KiB")
        with open(sharded + ".index.json") as f:
            index = json.load(f)
        files = sorted(set(index["weight_map"].values()))
        tally.check(len(files) > 1, f"{spec} sharded: {len(files)} shards")
        merged, headers = {}, {}
        for name in files:
            path = os.path.join(tmp, name)
            tensors, metadata = load(path)
            check_safetensors(f"{spec} shard {name}", path, tensors, sharded + ".index.json")
            merged.update(tensors)
            headers.update(raw_header(path))
        headers.pop("__metadata__", None)
        inspected = inspect(sharded + ".index.json")
        want = {k: (v["dtype"], v["shape"]) for k, v in headers.items()}
        tally.check(inspected == want, f"{spec} sharded: qtool inspect of the index lists every "
                    "shard's names/dtypes/shapes")
        ref, _ = load(single)
        tally.check(sorted(index["weight_map"]) == sorted(merged) == sorted(ref),
                    f"{spec} sharded: the index maps exactly the single file's tensors")
        bad = [k for k in ref if k not in merged or not same_bits(merged[k], ref[k])]
        tally.check(not bad, f"{spec} sharded: every tensor identical to the single file", str(bad[:3]))


if __name__ == "__main__":
    main()
    check_sharded()
    sys.exit(tally.finish())
