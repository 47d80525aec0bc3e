#!/bin/bash
# qtool end-to-end tests on small generated models.
#   run_cli_tests.sh QTOOL CLI_ROUNDTRIP GROUP
# Groups: formats plan badinput sharded interrupt roundtrip backends inspect.
set -u
Q=$1
RT=$2
GROUP=$3
HERE=$(cd "$(dirname "$0")" && pwd)
ST="python3 $HERE/st_tool.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
fails=0
checks=0

ok() { checks=$((checks + 1)); echo "ok - $*"; }
bad() { fails=$((fails + 1)); echo "FAIL - $*"; }
check() { # description, then a command that must succeed
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
# expect RC DESCRIPTION PATTERN OUTFILE -- cmd...: exit code, a one-line
# stderr matching PATTERN, OUTFILE absent and no temporary file left.
expect() {
    local rc=$1 what=$2 pat=$3 out=$4
    shift 5
    "$@" >stdout.txt 2>stderr.txt
    local got=$?
    local lines
    lines=$(wc -l <stderr.txt)
    if [ "$got" -ne "$rc" ]; then
        bad "$what: exit $got, expected $rc ($(head -c 300 stderr.txt))"
    elif ! grep -Eq "$pat" stderr.txt; then
        bad "$what: message '$(cat stderr.txt)' does not match '$pat'"
    elif [ "$lines" -ne 1 ]; then
        bad "$what: expected a one-line message, got $lines lines"
    elif [ -n "$out" ] && [ -e "$out" ]; then
        bad "$what: $out exists after a failed run"
    elif ls ./*.tmp.* >/dev/null 2>&1 || ls ./*/*.tmp.* >/dev/null 2>&1; then
        bad "$what: temporary file left behind: $(ls ./*.tmp.* ./*/*.tmp.* 2>/dev/null)"
    else
        ok "$what"
    fi
}
no_tmp() { ! ls ./*.tmp.* ./*/*.tmp.* >/dev/null 2>&1; }

$Q make-model m.safetensors --blocks 2 --width 256 >/dev/null || { echo "make-model failed"; exit 1; }

# spec -> expected "N x format" line of inspect (8 quantizable weights under the
# generic preset: qkv, proj, fc1, fc2 per block).
FORMATS="nf4 nf4:dq fp4 fp4:dq:bs=128 nvfp4 mxfp8 float8_e4m3fn float8_e5m2 float8_e4m3fn:row int8_tensorwise
int8_tensorwise:row int8_tensorwise:convrot=256 int8_blockwise int8_blockwise:block=64"

group_formats() {
    for dt in bf16 f16 f32; do
        $Q make-model "m_$dt.safetensors" --blocks 1 --width 256 --dtype "$dt" >/dev/null
    done
    for spec in $FORMATS; do
        f=${spec%%:*}
        o="q_${spec//[:=]/_}.safetensors"
        if ! $Q convert m.safetensors -o "$o" --format "$spec" --quiet; then
            bad "convert --format $spec"
            continue
        fi
        n=$($Q inspect "$o" --brief | grep -Ec "^  8 x $f\$")
        [ "$n" = 1 ] && ok "$spec: inspect finds 8 $f layers" || bad "$spec: inspect output: $($Q inspect "$o" --brief | tail -3)"
        check "$spec: verify passes at 8 dB" $Q verify m.safetensors "$o" --min-snr 8
        check "$spec: every output tensor aligned" $ST aligned "$o"
        for dt in f16 f32; do
            check "$spec: converts $dt input" $Q convert "m_$dt.safetensors" -o "q_$dt.safetensors" --format "$spec" --quiet
            check "$spec: verify $dt input" $Q verify "m_$dt.safetensors" "q_$dt.safetensors" --min-snr 8
        done
    done
    # Exact ComfyUI keys and markers.
    $Q convert m.safetensors -o c.safetensors --format nvfp4 --quiet
    [ "$($ST tensor c.safetensors blocks.0.attn.qkv.comfy_quant)" = '{"format": "nvfp4"}' ] &&
        ok "nvfp4 comfy_quant marker is json.dumps text" || bad "nvfp4 marker: $($ST tensor c.safetensors blocks.0.attn.qkv.comfy_quant)"
    $ST header c.safetensors >h.json
    python3 - h.json <<'PY' && ok "nvfp4 keys, dtypes and shapes as ComfyUI loads them" || bad "nvfp4 layout"
import json, sys
h = json.load(open(sys.argv[1]))
L = "blocks.0.attn.qkv."
assert h[L + "weight"]["dtype"] == "U8" and h[L + "weight"]["shape"] == [768, 128]
assert h[L + "weight_scale"]["dtype"] == "F8_E4M3" and h[L + "weight_scale"]["shape"] == [768, 16]
assert h[L + "weight_scale_2"]["dtype"] == "F32" and h[L + "weight_scale_2"]["shape"] == []
assert h[L + "comfy_quant"]["dtype"] == "U8"
assert h["blocks.0.attn.qkv.bias"]["dtype"] == "BF16"
m = json.loads(h["__metadata__"]["_quantization_metadata"])
assert m["format_version"] == "1.0" and m["layers"]["blocks.0.attn.qkv"] == {"format": "nvfp4"}
assert "img_in.comfy_quant" not in h
PY
    $Q convert m.safetensors -o i.safetensors --format int8_tensorwise --convrot --quiet
    [ "$($ST tensor i.safetensors blocks.0.mlp.fc1.comfy_quant)" = '{"format": "int8_tensorwise", "convrot": true, "convrot_groupsize": 256}' ] &&
        ok "ConvRot marker" || bad "ConvRot marker: $($ST tensor i.safetensors blocks.0.mlp.fc1.comfy_quant)"
    # Exact bitsandbytes keys and packed quant state.
    mkdir -p bnb && $Q convert m.safetensors -o bnb/b.safetensors --format nf4 --double-quant --quiet
    $ST header bnb/b.safetensors >h.json
    $ST tensor bnb/b.safetensors blocks.0.attn.qkv.weight.quant_state.bitsandbytes__nf4 >qs.txt
    python3 - h.json qs.txt bnb/config.json <<'PY' && ok "bitsandbytes keys, quant state JSON and quantization_config" || bad "bitsandbytes layout"
import json, sys
h = json.load(open(sys.argv[1]))
qs = open(sys.argv[2]).read().strip()
cfg = json.load(open(sys.argv[3]))["quantization_config"]
L = "blocks.0.attn.qkv.weight"
assert h[L]["dtype"] == "U8" and h[L]["shape"] == [768 * 256 // 2, 1]
assert h[L + ".absmax"]["dtype"] == "U8" and h[L + ".absmax"]["shape"] == [768 * 256 // 64]
assert h[L + ".quant_map"]["shape"] == [16] and h[L + ".nested_quant_map"]["shape"] == [256]
assert h[L + ".nested_absmax"]["dtype"] == "F32"
q = json.loads(qs)
assert list(q) == ["quant_type", "blocksize", "dtype", "shape", "nested_blocksize", "nested_dtype", "nested_offset"], list(q)
assert q["shape"] == [768, 256] and q["dtype"] == "bfloat16" and q["blocksize"] == 64
assert qs == json.dumps(q), "not json.dumps text"
assert repr(q["nested_offset"]) in qs
assert cfg["quant_method"] == "bitsandbytes" and cfg["load_in_4bit"] and cfg["bnb_4bit_use_double_quant"]
assert cfg["bnb_4bit_quant_type"] == "nf4" and "img_in" in cfg["llm_int8_skip_modules"]
PY
    # Original header metadata survives.
    $ST rename m.safetensors meta.safetensors >/dev/null
    python3 - <<'PY'
import json, struct
d = open("m.safetensors", "rb").read(); n = struct.unpack("<Q", d[:8])[0]
h = json.loads(d[8:8 + n]); h["__metadata__"] = {"modelspec.title": "test", "format": "pt"}
t = json.dumps(h).encode(); t += b" " * (-len(t) % 8)
open("meta.safetensors", "wb").write(struct.pack("<Q", len(t)) + t + d[8 + n:])
PY
    $Q convert meta.safetensors -o meta_q.safetensors --format mxfp8 --quiet
    $ST header meta_q.safetensors | grep -q '"modelspec.title": "test"' && ok "header metadata kept" || bad "header metadata lost"
    # Safetensors has no gaps, so alignment comes from order: tensors of
    # sizes not a multiple of 8 go last, by element size. Input from a writer
    # that did not align gives the same bytes as aligned input.
    $ST odd_sizes m.safetensors odd.safetensors && $ST misalign odd.safetensors odd_mis.safetensors
    for spec in nvfp4 nf4:dq int8_tensorwise:row; do
        $Q convert odd.safetensors -o oa.safetensors --format "$spec" --quiet &&
            $ST aligned oa.safetensors && ok "$spec: tensors of odd sizes written aligned" || bad "$spec: odd sizes: $($ST aligned oa.safetensors 2>&1 | head -3)"
        $Q convert odd_mis.safetensors -o ob.safetensors --format "$spec" --quiet &&
            cmp -s oa.safetensors ob.safetensors && ok "$spec: misaligned input, same output bytes" || bad "$spec: misaligned input"
        $ST misalign oa.safetensors oa_mis.safetensors
        $Q dequantize oa.safetensors -o da.safetensors --quiet && $Q dequantize oa_mis.safetensors -o db.safetensors --quiet &&
            cmp -s da.safetensors db.safetensors && $ST aligned da.safetensors &&
            ok "$spec: dequantize of a misaligned file, same aligned bytes" || bad "$spec: dequantize of a misaligned file"
        check "$spec: verify of a misaligned file" $Q verify odd_mis.safetensors oa_mis.safetensors --min-snr 8
    done
    $Q make-model mm.safetensors --blocks 1 --width 16 >/dev/null && $ST aligned mm.safetensors &&
        ok "make-model writes aligned tensors" || bad "make-model alignment"
}

group_plan() {
    check "dry-run" $Q convert m.safetensors --format nvfp4 --dry-run
    $Q convert m.safetensors --format nvfp4 --dry-run >plan.txt
    grep -q "blocks.0.attn.qkv.weight .*nvfp4" plan.txt && grep -q "img_in.weight .*keep" plan.txt &&
        grep -q "8 quantized" plan.txt && ok "dry-run lists the per-layer plan" || bad "dry-run plan: $(tail -2 plan.txt)"
    [ ! -e dry.safetensors ] && ok "dry-run writes nothing" || bad "dry-run wrote"
    $Q convert m.safetensors --format int8_tensorwise:row --dry-run --template -o tpl.json >/dev/null
    python3 -c "import json; d=json.load(open('tpl.json'))['layers']; assert d['^blocks\\\\.0\\\\.attn\\\\.qkv\\\\.weight\$']['format']=='int8_tensorwise', d; assert d['^img_in\\\\.weight\$']=='skip'" &&
        ok "template lists every weight" || bad "template: $(head -c 400 tpl.json)"
    $Q convert m.safetensors -o a.safetensors --format int8_tensorwise:row --quiet
    $Q convert m.safetensors -o b.safetensors --format int8_tensorwise:row --layers tpl.json --quiet
    cmp -s a.safetensors b.safetensors && ok "template as --layers reproduces the plan" || bad "template changes the output"
    cat >layers.json <<'JSON'
{"layers": {"attn\\.proj\\.weight$": "skip",
            "mlp\\.fc1\\.weight$": {"format": "int8_blockwise", "block_size": 64},
            "blocks\\.1\\.mlp\\.fc2\\.weight$": "float8_e4m3fn:row"}}
JSON
    $Q convert m.safetensors -o l.safetensors --format int8_tensorwise --layers layers.json --quiet
    $Q inspect l.safetensors >ins.txt
    grep -Eq "^  2 x int8_blockwise" ins.txt && grep -Eq "^  1 x float8_e4m3fn" ins.txt &&
        grep -Eq "^  3 x int8_tensorwise" ins.txt && ! grep -q "attn.proj .*int8" ins.txt &&
        ok "layers.json overrides and skips" || bad "layers.json: $(tail -5 ins.txt)"
    check "layers.json output verifies" $Q verify m.safetensors l.safetensors --min-snr 8
    $Q convert m.safetensors --format nvfp4 --exclude 'mlp' --dry-run >x.txt
    grep -q "4 quantized" x.txt && ok "--exclude" || bad "--exclude: $(tail -1 x.txt)"
    $Q convert m.safetensors --format nvfp4 --include 'blocks\.1\.' --dry-run >x.txt
    grep -q "5 quantized" x.txt && ok "--include (overrides the preset)" || bad "--include: $(tail -1 x.txt)"
    $Q convert m.safetensors --format nvfp4 --preset none --dry-run >x.txt
    grep -q "12 quantized" x.txt && ok "--preset none quantizes every 2-D weight" || bad "--preset none: $(tail -1 x.txt)"
    # A Wan-named model: the preset keeps embedders, head and the first/last block.
    $Q make-model w0.safetensors --blocks 4 --width 128 >/dev/null
    $ST rename w0.safetensors wan.safetensors img_in.=patch_embedding. final_layer.linear.=head.head. >/dev/null
    $Q convert wan.safetensors --format nvfp4 --preset wan --dry-run >x.txt
    grep -q "patch_embedding.weight .*keep (preset wan" x.txt && grep -q "head.head.weight .*keep (preset wan" x.txt &&
        grep -q "blocks.0.mlp.fc1.weight .*keep (preset wan: first/last of blocks" x.txt &&
        grep -q "blocks.3.attn.qkv.weight .*keep (preset wan: first/last" x.txt &&
        grep -q "blocks.1.mlp.fc1.weight .*nvfp4" x.txt && ok "wan preset" || bad "wan preset: $(grep -E 'patch|head|blocks.0.mlp.fc1' x.txt)"
    for p in flux2 qwen-image hunyuan ltxv generic; do
        check "preset $p runs" $Q convert m.safetensors --format nvfp4 --preset "$p" --dry-run
    done
    expect 2 "unknown preset" "unknown preset" "" -- $Q convert m.safetensors -o z.safetensors --format nvfp4 --preset sd9
    echo '{"layers": {"attn": "nvfp4"}}' >mix.json
    expect 1 "ComfyUI format in a bitsandbytes file" "cannot read" z.safetensors -- $Q convert m.safetensors -o z.safetensors --format nf4 --layers mix.json
    echo '{"layers": {"(": "skip"}}' >re.json
    expect 2 "bad regex in layers.json" "bad regular expression" z.safetensors -- $Q convert m.safetensors -o z.safetensors --format nf4 --layers re.json
}

group_badinput() {
    for kind in truncated badjson oob overlap hugeheader baddtype shapemismatch notjson nan; do
        $ST corrupt "$kind" m.safetensors "bad_$kind.safetensors"
    done
    expect 1 "truncated file" "truncated|past the end|gap" out.safetensors -- $Q convert bad_truncated.safetensors -o out.safetensors --format nvfp4
    expect 1 "bad header JSON" "bad header JSON" out.safetensors -- $Q convert bad_badjson.safetensors -o out.safetensors --format nvfp4
    expect 1 "offsets out of bounds" "past the end|bytes but its shape" out.safetensors -- $Q convert bad_oob.safetensors -o out.safetensors --format nvfp4
    expect 1 "overlapping offsets" "overlaps|gap" out.safetensors -- $Q convert bad_overlap.safetensors -o out.safetensors --format nvfp4
    expect 1 "header too large" "exceeds the 100 MB limit" out.safetensors -- $Q convert bad_hugeheader.safetensors -o out.safetensors --format nvfp4
    expect 1 "unknown dtype" "unknown dtype Q4_K" out.safetensors -- $Q convert bad_baddtype.safetensors -o out.safetensors --format nvfp4
    expect 1 "shape/size mismatch" "its shape needs" out.safetensors -- $Q convert bad_shapemismatch.safetensors -o out.safetensors --format nvfp4
    expect 1 "not a safetensors file" "shorter than 8 bytes" out.safetensors -- $Q convert bad_notjson.safetensors -o out.safetensors --format nvfp4
    expect 1 "NaN in a layer: the error names the layer and the --exclude that keeps it" \
        "cannot encode; to keep this layer unquantized, add --exclude '\^[^ ]+[.]weight[$]'$" out.safetensors -- \
        $Q convert bad_nan.safetensors -o out.safetensors --format nvfp4
    hint=$(sed -n "s/.*add --exclude '\(.*\)'$/\1/p" stderr.txt)
    layer=$(sed -n 's/^qtool: \([^:]*\): .*/\1/p' stderr.txt)
    $Q convert bad_nan.safetensors -o out.safetensors --format nvfp4 --exclude "$hint" --quiet &&
        $Q inspect out.safetensors >nan.txt && grep -q "^  $layer  *BF16" nan.txt &&
        ok "the suggested --exclude converts, the NaN layer kept in bf16" || bad "suggested --exclude '$hint' ($layer)"
    rm -f out.safetensors
    expect 1 "missing input" "No such file" out.safetensors -- $Q convert nothere.safetensors -o out.safetensors --format nvfp4
    mkdir -p sh && $ST shard m.safetensors sh 3 && rm sh/model-00002-of-00003.safetensors
    expect 1 "missing shard" "missing shard" out.safetensors -- $Q convert sh/model.safetensors.index.json -o out.safetensors --format nvfp4
    echo '{"layers": {"^img_in\\.bias$": "nvfp4"}}' >nd.json
    expect 1 "non-2-D tensor asked to quantize" "1-D tensor" out.safetensors -- $Q convert m.safetensors -o out.safetensors --format nvfp4 --layers nd.json
    # Seeded random mutations of quantized files: every command ends with
    # exit 0 or 1, never a signal, and leaves no temporary file.
    mkdir -p mut
    for spec in nf4:dq nvfp4 int8_tensorwise:row; do
        $Q convert m.safetensors -o src.safetensors --format "$spec" --quiet && $ST mutants src.safetensors mut 40 "${#spec}"
        crashes=0
        for f in mut/*.safetensors; do
            for cmd in "inspect $f" "dequantize $f -o mo.safetensors --quiet" "convert $f -o mo.safetensors --format mxfp8 --quiet"; do
                # shellcheck disable=SC2086
                $Q $cmd >/dev/null 2>&1
                rc=$?
                if [ $rc -gt 1 ] || ! no_tmp; then
                    crashes=$((crashes + 1))
                    [ $crashes -le 3 ] && echo "  qtool $cmd: exit $rc (st_tool.py mutants, seed ${#spec})"
                fi
            done
        done
        [ $crashes -eq 0 ] && ok "$spec: 40 mutated files, every command exits 0 or 1" || bad "$spec: $crashes mutated-file runs crashed"
    done
    $Q make-model narrow.safetensors --blocks 1 --width 48 >/dev/null
    expect 1 "dimensions the format cannot take" "not a multiple of the ConvRot group" out.safetensors -- $Q convert narrow.safetensors -o out.safetensors --format int8_tensorwise --convrot
    check "--fallback bf16 takes them" $Q convert narrow.safetensors -o fb.safetensors --format int8_tensorwise --convrot --fallback bf16 --quiet
    $Q inspect fb.safetensors >x.txt
    grep -q "blocks.0.attn.qkv.weight .*BF16" x.txt && ok "fallback layers are bf16" || bad "fallback: $(grep qkv.weight x.txt)"
    check "fallback output verifies" $Q verify narrow.safetensors fb.safetensors --min-snr 20
    check "--fallback float8_e4m3fn" $Q convert narrow.safetensors -o fb8.safetensors --format int8_tensorwise --convrot --fallback float8_e4m3fn --quiet
    # JSON outputs (reports, indexes, layers.json) go through a temporary file
    # renamed into place: a failed rename leaves neither it nor a partial file.
    mkdir -p rep_dir.json
    expect 1 "verify --report onto a directory" "rep_dir.json: cannot write" "" -- $Q verify narrow.safetensors fb.safetensors --report rep_dir.json
    expect 2 "unknown format" "unknown format" out.safetensors -- $Q convert m.safetensors -o out.safetensors --format q4_k
    expect 2 "bad block size" "block size" out.safetensors -- $Q convert m.safetensors -o out.safetensors --format nf4 --block-size 48
    expect 2 "fp8 fallback for bitsandbytes" "cannot be loaded by bitsandbytes" out.safetensors -- $Q convert m.safetensors -o out.safetensors --format nf4 --fallback float8_e4m3fn
    expect 2 "missing --format" "missing --format" out.safetensors -- $Q convert m.safetensors -o out.safetensors
    expect 1 "unwritable output directory" "No such file" "" -- $Q convert m.safetensors -o nodir/out.safetensors --format nvfp4
    expect 1 "inspect of a truncated file" "truncated|past the end|gap" "" -- $Q inspect bad_truncated.safetensors
    expect 1 "dequantize of a bad file" "bad header JSON" out.safetensors -- $Q dequantize bad_badjson.safetensors -o out.safetensors
}

group_sharded() {
    mkdir -p in && $ST shard m.safetensors in 3
    $Q convert m.safetensors -o single.safetensors --format mxfp8 --quiet
    $Q convert in/model.safetensors.index.json -o fromshards.safetensors --format mxfp8 --quiet &&
        cmp -s single.safetensors fromshards.safetensors && ok "sharded input converts to the same bytes" || bad "sharded input"
    mkdir -p out && $Q convert m.safetensors -o out/model.safetensors --format mxfp8 --max-shard-size 1MB --quiet
    n=$(ls out/model-*-of-*.safetensors 2>/dev/null | wc -l)
    [ "$n" -ge 2 ] && [ -f out/model.safetensors.index.json ] && [ ! -e out/model.safetensors ] &&
        ok "--max-shard-size writes $n shards and an index" || bad "output shards: $(ls out)"
    python3 - <<'PY' && ok "index weight_map names every output tensor once" || bad "output index"
import json, struct, glob
idx = json.load(open("out/model.safetensors.index.json"))["weight_map"]
seen = {}
for f in sorted(glob.glob("out/model-*.safetensors")):
    d = open(f, "rb").read(); n = struct.unpack("<Q", d[:8])[0]
    for k in json.loads(d[8:8 + n]):
        if k != "__metadata__":
            assert k not in seen; seen[k] = f.split("/")[-1]
assert seen == idx, set(seen) ^ set(idx)
PY
    check "inspect reads the sharded output" $Q inspect out/model.safetensors.index.json --brief
    check "verify against the sharded output" $Q verify m.safetensors out/model.safetensors.index.json --min-snr 8
    $Q dequantize single.safetensors -o d1.safetensors --quiet
    $Q dequantize out/model.safetensors.index.json -o d2.safetensors --quiet
    cmp -s d1.safetensors d2.safetensors && ok "dequantize of shards equals dequantize of one file" || bad "sharded dequantize"
    # Output data goes out with O_DIRECT where the file system takes it, else
    # buffered (QTOOL_BUFFERED_IO forces that): the bytes must not differ. A
    # model of several write buffers (8 MiB) and a header that ends mid-block.
    $Q make-model big.safetensors --blocks 1 --width 1024 >/dev/null
    for spec in nvfp4 nf4:dq float8_e4m3fn; do
        $Q convert big.safetensors -o direct.safetensors --format "$spec" --quiet &&
            QTOOL_BUFFERED_IO=1 $Q convert big.safetensors -o buffered.safetensors --format "$spec" --quiet &&
            cmp -s direct.safetensors buffered.safetensors && no_tmp &&
            ok "$spec: direct and buffered writes give the same bytes" || bad "$spec: direct vs buffered output"
    done
    # tmpfs may refuse O_DIRECT: the writer falls back to buffered writes.
    if shm=$(mktemp -d /dev/shm/qtool-cli.XXXXXX 2>/dev/null); then
        $Q convert big.safetensors -o direct.safetensors --format nvfp4 --quiet &&
            $Q convert big.safetensors -o "$shm/q.safetensors" --format nvfp4 --quiet &&
            cmp -s "$shm/q.safetensors" direct.safetensors &&
            ok "output on tmpfs ($shm) has the same bytes" || bad "output on tmpfs differs or failed"
        rm -rf "$shm"
    else
        echo "skip - output on tmpfs: no writable /dev/shm"
    fi
}

group_interrupt() {
    echo old >keep.safetensors
    QTOOL_TEST_FAIL_AFTER=3 $Q convert m.safetensors -o keep.safetensors --format nvfp4 >/dev/null 2>err.txt
    rc=$?
    [ $rc -eq 1 ] && [ "$(cat keep.safetensors)" = old ] && no_tmp && grep -q "test hook" err.txt &&
        ok "a failure mid-way leaves the old OUT and no temporary file" || bad "fail mid-way: rc $rc, $(cat err.txt), $(ls)"
    QTOOL_TEST_FAIL_AFTER=5 $Q convert m.safetensors -o gone.safetensors --format nf4 --double-quant --max-shard-size 500KB >/dev/null 2>&1
    [ ! -e gone.safetensors ] && ! ls gone-* >/dev/null 2>&1 && no_tmp && ok "failed sharded run leaves no shard" || bad "sharded failure left: $(ls)"
    # a file system too small for OUT: refused before any byte is written
    echo old >keep.safetensors
    expect 1 "convert onto a full file system" "needs [0-9.]+ MiB but its file system has 0.00 MiB free; nothing was written" "" -- \
        env QTOOL_TEST_FREE_BYTES=1000 $Q convert m.safetensors -o keep.safetensors --format nvfp4 --max-shard-size 500KB
    [ "$(cat keep.safetensors)" = old ] && ! ls keep-* >/dev/null 2>&1 && ok "the old OUT stays, no shard written" ||
        bad "full file system: $(ls)"
    $Q convert m.safetensors -o fs.safetensors --format nvfp4 --quiet
    size=$(stat -c %s fs.safetensors)
    QTOOL_TEST_FREE_BYTES=$((size + 4096)) $Q convert m.safetensors -o fs2.safetensors --format nvfp4 --quiet &&
        cmp -s fs.safetensors fs2.safetensors && ok "a file system with room for OUT (its size + 4 KiB) converts" ||
        bad "convert with room for OUT failed"
    expect 1 "dequantize onto a full file system" "nothing was written" d.safetensors -- \
        env QTOOL_TEST_FREE_BYTES=$size $Q dequantize fs.safetensors -o d.safetensors --dtype f32
    for sig in INT TERM; do
        QTOOL_TEST_SLOW_MS=300 $Q convert m.safetensors -o sig.safetensors --format nvfp4 >/dev/null 2>err.txt &
        pid=$!
        for _ in $(seq 50); do ls ./*.tmp.* >/dev/null 2>&1 && break; sleep 0.05; done
        sleep 0.3
        kill -s $sig $pid
        wait $pid
        rc=$?
        [ $rc -ge 128 ] && [ ! -e sig.safetensors ] && no_tmp && ok "SIG$sig leaves no OUT and no temporary file (exit $rc)" ||
            bad "SIG$sig: rc $rc, files: $(ls)"
    done
}

group_roundtrip() {
    for spec in $FORMATS; do
        o="q.safetensors"
        rm -f q.safetensors d.safetensors r.json
        $Q convert m.safetensors -o $o --format "$spec" --report r.json --quiet &&
            $Q dequantize $o -o d.safetensors --dtype bf16 --quiet &&
            "$RT" r.json m.safetensors $o d.safetensors bf16 >/dev/null && ok "$spec: parts and dequantize equal libqk's" || bad "$spec round trip"
    done
    $Q make-model m32.safetensors --blocks 1 --width 96 --dtype f32 >/dev/null
    for spec in nvfp4 nf4:dq mxfp8 int8_tensorwise:row; do
        $Q convert m32.safetensors -o q.safetensors --format "$spec" --report r.json --quiet &&
            $Q dequantize q.safetensors -o d.safetensors --dtype f32 --quiet &&
            "$RT" r.json m32.safetensors q.safetensors d.safetensors f32 >/dev/null && ok "$spec f32 (padded shapes): round trip" || bad "$spec f32 round trip"
    done
    python3 -c "import json; r=json.load(open('r.json')); l=[x for x in r['layers'] if x['action']=='quantize'][0]; assert 'snr_db' in l and 'cosine' in l and 'max_abs_error' in l and 'rel_l2' in l" &&
        ok "report has per-layer quality" || bad "report quality fields"
}

group_backends() {
    $Q convert m.safetensors -o cpu.safetensors --format nvfp4 --backend cpu --quiet
    $Q convert m.safetensors -o cpu_b.safetensors --format nf4 --double-quant --backend cpu --quiet
    for b in auto $($Q devices 2>/dev/null | awk '$2 == "available" { print $1 }'); do
        $Q convert m.safetensors -o "$b.safetensors" --format nvfp4 --backend "$b" --quiet &&
            cmp -s cpu.safetensors "$b.safetensors" && ok "--backend $b writes the same bytes as cpu" || bad "--backend $b differs"
        $Q convert m.safetensors -o "${b}_b.safetensors" --format nf4 --double-quant --backend "$b" --quiet &&
            cmp -s cpu_b.safetensors "${b}_b.safetensors" && ok "--backend $b nf4:dq same bytes" || bad "--backend $b nf4:dq differs"
    done
    expect 1 "unknown backend" "backend" out.safetensors -- $Q convert m.safetensors -o out.safetensors --format nvfp4 --backend tpu
    # bench measures a line again (twice at most) where its copy ran below
    # QK_BENCH_AGAIN_BELOW of the run's fastest copy: at 2, every line
    QK_BENCH_AGAIN_BELOW=2 $Q bench --backend cpu --mib 1 --format fp4 --direction dequantize >b2.txt 2>&1 &&
        grep -q "^# again: lines whose copy ran below 200%" b2.txt && [ "$(grep -c '^fp4 .* dequantize ' b2.txt)" -eq 3 ] &&
        ok "bench measures a slow-copy line again, twice at most" || bad "bench again: $(cat b2.txt)"
    QK_BENCH_AGAIN_BELOW=0 $Q bench --backend cpu --mib 1 --format fp4 >b0.txt 2>&1 && ! grep -q "^# again" b0.txt &&
        [ "$(grep -c '^fp4 ' b0.txt)" -eq 2 ] && ok "bench with QK_BENCH_AGAIN_BELOW=0 measures each line once" || bad "bench once: $(cat b0.txt)"
    # every crafted case set runs on the CPU backend and is reported as a row
    $Q crosscheck --crafted --backend cpu >cc.txt 2>&1
    rc=$?
    n=$(grep -Ec '^[a-z0-9/-]+ +- +cpu +0 .* 0 +0$' cc.txt)
    [ $rc -eq 0 ] && [ "$n" -eq 12 ] && tail -1 cc.txt | grep -q '^PASS' && ok "crosscheck --crafted: 12 case sets on cpu, none differ" ||
        bad "crosscheck --crafted: rc $rc, $n clean rows: $(tail -3 cc.txt)"
}

group_inspect() {
    $Q inspect m.safetensors >x.txt && grep -q "quantized layers: 0" x.txt && ok "inspect of a plain model" || bad "inspect plain"
    $Q convert m.safetensors -o q.safetensors --format float8_e4m3fn --quiet
    $Q inspect q.safetensors --json >x.json && python3 -c "import json; d=json.load(open('x.json')); assert len(d['quantized_layers'])==8" &&
        ok "inspect --json" || bad "inspect --json"
    $Q verify m.safetensors q.safetensors --min-snr 99 >/dev/null 2>&1
    [ $? -eq 3 ] && ok "verify exits 3 below --min-snr" || bad "verify threshold exit code"
    $Q verify m.safetensors q.safetensors --report vr.json >/dev/null && python3 -c "import json; assert json.load(open('vr.json'))['checked']==8" &&
        ok "verify --report" || bad "verify --report"
    python3 - <<'PY'
import json, struct
d = bytearray(open("q.safetensors", "rb").read()); n = struct.unpack("<Q", d[:8])[0]
o = json.loads(d[8:8 + n])["img_in.bias"]["data_offsets"]
d[8 + n + o[0]] ^= 1
open("changed.safetensors", "wb").write(d)
PY
    expect 1 "verify finds a changed unquantized tensor" "img_in.bias: differs from the original" "" -- $Q verify m.safetensors changed.safetensors
    $ST scaled_fp8 q.safetensors legacy.safetensors
    $Q inspect legacy.safetensors --brief | grep -q "8 x float8_e4m3fn" && ok "legacy scaled_fp8 detected" || bad "legacy scaled_fp8"
    $Q dequantize q.safetensors -o d1.safetensors --quiet && $Q dequantize legacy.safetensors -o d2.safetensors --quiet
    $Q verify d1.safetensors d2.safetensors >/dev/null && ok "legacy layout dequantizes like the marker layout" || bad "legacy dequantize"
    $Q convert m.safetensors -o lw.safetensors --format float8_e4m3fn --legacy-scaled-fp8 --quiet &&
        $ST header lw.safetensors | python3 -c "import json,sys; h=json.load(sys.stdin); assert h['scaled_fp8']['dtype']=='F8_E4M3' and h['scaled_fp8']['shape']==[0]; assert 'blocks.0.mlp.fc1.scale_weight' in h and not any(k.endswith('comfy_quant') for k in h); assert '_quantization_metadata' not in h.get('__metadata__', {})" &&
        $Q dequantize lw.safetensors -o d3.safetensors --quiet && cmp -s d1.safetensors d3.safetensors &&
        ok "convert --legacy-scaled-fp8 writes the old layout" || bad "--legacy-scaled-fp8"
    expect 1 "legacy layout refuses row scales" "per-tensor scales only" lr.safetensors -- $Q convert m.safetensors -o lr.safetensors --format float8_e4m3fn:row --legacy-scaled-fp8
}

case "$GROUP" in
formats | plan | badinput | sharded | interrupt | roundtrip | backends | inspect) "group_$GROUP" ;;
*) echo "unknown group $GROUP"; exit 2 ;;
esac
echo "# $GROUP: $checks passed, $fails failed"
[ "$fails" -eq 0 ]
