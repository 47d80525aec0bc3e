#!/bin/bash
# Device part of qk's golden vectors (needs an NVIDIA GPU, nvcc, python3 with torch and bitsandbytes).
#   OUT=/some/dir bash tools/golden/run_device.sh
# Writes into $OUT: rcp_approx.json, bnb4.json, bnb4.bin, bnb_report.json, sass_rcp.txt, device_log.txt.
# Copy rcp_approx.json, bnb4.json and bnb4.bin into tests/golden/.
set -uo pipefail
OUT=${OUT:-/tmp/qk_golden_device}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
exec > >(tee "$OUT/device_log.txt") 2>&1
cd "$(dirname "$0")/../.."

nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
nvcc --version | tail -1
python3 -c 'import torch, bitsandbytes; print("torch", torch.__version__, torch.version.cuda, "bnb", bitsandbytes.__version__, bitsandbytes.__file__)'

# 1. rcp.approx.ftz.f32 probe (table + model verification)
nvcc -O2 -arch=sm_90 --use_fast_math -o /tmp/rcp_probe tools/golden/rcp_probe.cu || exit 1
/tmp/rcp_probe > "$OUT/rcp_approx.json"
echo "rcp_probe rc=$?"

# 2. bnb4 group + double-quant report + model check of quantize_4bit against the rcp table
python3 tools/golden/make_golden.py --part bnb --out "$OUT" --rcp-json "$OUT/rcp_approx.json"
echo "make_golden bnb rc=$?"
python3 tools/golden/check_golden.py "$OUT"
echo "check_golden rc=$?"

# 3. which reciprocal the shipped kernels use (SASS of the 4-bit quantize kernels)
LIB=$(python3 -c 'import bitsandbytes.cextension as c; print(c.get_cuda_bnb_library_path(c.get_cuda_specs()))' 2>/dev/null)
echo "bnb library: $LIB"
{
  echo "# library: $LIB"
  cuobjdump -lelf "$LIB" 2>&1 | head -20
  echo "# per function: MUFU.RCP count, FMUL.FTZ count, name (sm_90 SASS)"
  cuobjdump -sass -arch sm_90 "$LIB" 2>/dev/null | awk '
    /Function :/ {fn=$3}
    /MUFU\.RCP/ {rcp[fn]++}
    /FMUL\.FTZ/ {fm[fn]++}
    END {for (f in rcp) if (f ~ /Quantize/) print rcp[f], fm[f]+0, f}' | sort -k3 | head -60
} > "$OUT/sass_rcp.txt"
echo "sass lines: $(wc -l < "$OUT/sass_rcp.txt")"
