#!/usr/bin/env bash
# The GPU check of issue 11: bench:similarity and bench:cbl on CPU and on CUDA in one run, and
# each one's CUDA/CPU speed ratio. Made for the lent device machine (no internet there).
#
# onnxruntime-node needs its CUDA provider libraries next to its binding. Found in this order:
#   1. already there (ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js, online);
#   2. $ORT_CUDA_PROVIDER_DIR holding libonnxruntime_providers_{cuda,shared}.so;
#   3. the onnxruntime-gpu==1.30.0 wheel installed in a Python on PATH (its onnxruntime/capi).
# Checked on the build machine: the PyPI wheel's provider loads into onnxruntime-node 1.30.0 and
# then asks for CUDA 13 libraries (libcublasLt.so.13, libcudart.so.13, cuDNN 9), not CUDA 12:
# they come from the system (/usr/local/cuda-13*/lib64) or the nvidia-* pip wheels for CUDA 13,
# whose lib folders this script puts on LD_LIBRARY_PATH.
# Usage: bash scripts/gpu-bench.sh        (prints "gpu_bench similarity_ratio=… cbl_ratio=…" last)
set -euo pipefail
cd "$(dirname "$0")/.."
export ONNXRUNTIME_NODE_INSTALL=skip
[ -d node_modules ] || npm ci --no-audit --no-fund
BIN=node_modules/onnxruntime-node/bin/napi-v6/linux/x64
if [ ! -f "$BIN/libonnxruntime_providers_cuda.so" ]; then
  src="${ORT_CUDA_PROVIDER_DIR:-}"
  if [ -z "$src" ] && command -v python3 >/dev/null; then
    src=$(python3 -c 'import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), "capi"))' 2>/dev/null || true)
  fi
  if [ -z "$src" ] || [ ! -f "$src/libonnxruntime_providers_cuda.so" ]; then
    echo "gpu-bench: no CUDA provider for onnxruntime-node (see the comment at the top of $0)" >&2
    exit 2
  fi
  cp "$src/libonnxruntime_providers_cuda.so" "$src/libonnxruntime_providers_shared.so" "$BIN/"
fi
libs=""
for d in /usr/local/cuda*/lib64 /usr/local/cuda*/lib; do [ -d "$d" ] && libs="$libs:$d"; done
if command -v python3 >/dev/null; then
  for d in $(python3 -c 'import site, glob; print(" ".join(p for s in site.getsitepackages() for p in glob.glob(s + "/nvidia/*/lib")))' 2>/dev/null); do libs="$libs:$d"; done
fi
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}$libs"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
npm run build >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() { # name device args...
  local name=$1 dev=$2; shift 2
  echo "== $name on $dev"
  node "dist/bench/$name.js" "--device=$dev" "$@" | tee "$out/$name-$dev.txt" | tail -3
}
run similarity cpu --threads=default --images=8 --reps=3
run similarity cuda --threads=default --images=8 --reps=3
run similarity cuda --threads=default --images=8 --reps=3 --precision=fp16
run cbl cpu --reps=3
run cbl cuda --reps=3
num() { grep -o "$2=[0-9.eE+-]*" "$out/$1.txt" | tail -1 | cut -d= -f2; }
sim=$(node -e "console.log(($(num similarity-cuda similarity_stage_prompts_per_s)/$(num similarity-cpu similarity_stage_prompts_per_s)).toFixed(2))")
cbl=$(node -e "console.log(($(num cbl-cuda cbl_step_gflops)/$(num cbl-cpu cbl_step_gflops)).toFixed(2))")
echo "gpu_bench similarity_ratio=$sim cbl_ratio=$cbl"
