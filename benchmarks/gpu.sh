#!/bin/sh
# The CUDA measurements of the LM path (benchmarks/gpu.py; <= 6 minutes on one H200).
#   sh benchmarks/gpu.sh [OUT_DIR]      (default benchmarks/results/gpu)
# Install first: pip install -e ".[gpu]" (the peers; torch with CUDA from your own build).
# PYTHON names the interpreter (default: python3 on PATH).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec "${PYTHON:-python3}" "$here/gpu.py" --out "${1:-$here/results/gpu}"
