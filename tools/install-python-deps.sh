#!/bin/sh
# The anchor libraries, pinned, in .venv (git-ignored): the consumer tests
# load qtool's output with them (gguf, llama.cpp's own GGUF writer, makes
# the test files of `qtool preset from-gguf`). torch comes from PyPI with its CUDA
# libraries (PyPI has no CPU-only Linux build); they run on the CPU here.
set -eu
cd "$(dirname "$0")/.."
venv=.venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
    torch==2.15.0 numpy ml_dtypes safetensors==0.8.0 comfy-kitchen==0.2.40 bitsandbytes==0.50.2 \
    gguf==0.19.0
