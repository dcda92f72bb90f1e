#!/bin/sh
# The CUDA measurements of the LM path (benchmarks/gpu.py; <= 6 minutes on one H200).
#   sh benchmarks/gpu.sh [OUT_DIR]      (default benchmarks/results/gpu)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec python "$here/gpu.py" --out "${1:-$here/results/gpu}"
