#!/usr/bin/env bash
# The whole GPU run in one command, run on the GPU machine in the repository root after
# scripts/gpu-pack.sh has filled .device/ here and .device/ was carried along:
#   unpack Node.js, node_modules, dist/ and the reference material; locate cuDNN; build the CUDA addon
#   (cmake-js) and the standalone C++ check in parallel, and meanwhile check the ptxas budgets of every
#   kernel (scripts/ptxas-budget.sh, table into summary.txt) and run the host emulation of the mma
#   kernel on all fixtures (test/mma-emulation.test.mjs, into test-cpu.log); then nvidia-smi, the C++
#   check (every fused variant: exact, fast WMMA, fast mma), the GPU benchmark against PyTorch (old
#   and new fast kernels side by side), the GPU test suite (exact tile/stream, fast wmma/mma, level
#   counts shared/warp) and the CPU fixture tests. Every step's log goes to $OUT, a failing step does not stop the next, and a
#   summary table of all steps is printed last (and kept in $OUT/summary.txt). At most 8 files come
#   back from $OUT, so the logs are grouped accordingly.
# Env: FLWNET_GPU_STEPS  comma list of build,ptxas,emulate,check,test,cpu,bench (default: all of them)
#      FLWNET_GPU_BUDGET_S  seconds the whole run may take (default 470); steps are cut to fit
#      FLWNET_GPU_CHECK_ARGS  gpu_check arguments (default "--quick"; e.g. "--exact-kernels tile,stream")
#      FLWNET_BENCH_SECONDS  seconds per benchmark cell (default 1 here, to fit the budget)
#      FLWNET_CUDA_ARCHITECTURES  default: the first GPU's compute capability, e.g. 90-real
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
steps=",${FLWNET_GPU_STEPS:-build,ptxas,emulate,check,test,cpu,bench},"
deadline=$((SECONDS + ${FLWNET_GPU_BUDGET_S:-470}))
rows_file=$(mktemp)  # steps append their rows here, background ones included
run_marker=$(mktemp)  # results newer than this were written by this run
started=$(date -u +%FT%TZ)

wants() { [[ $steps == *",$1,"* ]]; }
note() { echo "[gpu-run $(date -u +%T)] $*"; }
record() { printf '%-12s %-14s %6s  %s\n' "$1" "$2" "$3" "$4" >> "$rows_file"; }

# run_step NAME LOG CAP_SECONDS COMMAND: runs COMMAND (a bash string) with a time limit that also
# respects the whole run's deadline, appends its output to $out/LOG and records its status.
run_step() {
  local name=$1 log=$2 cap=$3 command=$4
  local left=$((deadline - SECONDS))
  if ((left < 20)); then
    record "$name" skipped - "the run's time budget is spent"
    return 1
  fi
  ((cap > left)) && cap=$left
  local begin=$SECONDS
  echo "===== $name (limit ${cap}s): $command" | tee -a "$out/$log"
  timeout -k 10 "$cap" bash -c "$command" 2>&1 | tee -a "$out/$log"
  local rc=${PIPESTATUS[0]} status=ok
  if ((rc == 124 || rc == 137)); then status="timeout"; elif ((rc != 0)); then status="failed(rc=$rc)"; fi
  # TAP runs (ava --tap) end with their counts: show them, so an all-skipped GPU suite stands out.
  local counts
  counts=$(tail -n 12 "$out/$log" | awk '/^# (pass|fail|skip|todo) [0-9]+$/ { printf " %s %s", $2, $3 }')
  record "$name" "$status" "$((SECONDS - begin))s" "$log${counts:+ (${counts# })}"
  return "$rc"
}

unpack() {
  local begin=$SECONDS
  for f in .device/node.tar.xz .device/runtime.tar.xz .device/shared.tar.xz; do
    [[ -e $f ]] || { echo "gpu-run: $f is missing: run scripts/gpu-pack.sh here and carry .device" >&2; return 1; }
  done
  mkdir -p /tmp/node && tar -C /tmp/node -xJf .device/node.tar.xz || return 1
  tar -xJf .device/runtime.tar.xz || return 1
  tar -C .device -xJf .device/shared.tar.xz || return 1
  export PATH=/tmp/node/bin:$PATH
  # cmake-js takes Node's headers from the carried bundle instead of downloading them.
  export npm_config_nodedir=/tmp/node
  export FLWNET_SHARED=$root/.device/shared
  export FLWNET_WEIGHTS=$FLWNET_SHARED/weights/flwnet-official.pth
  note "node $(node --version), unpacked in $((SECONDS - begin))s"
}

# cuDNN 9 comes with the Python wheel nvidia-cudnn-cu13: headers for the build, libraries for dlopen.
locate_cudnn() {
  local base header lib extra
  base=$(python3 -c "import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__))" 2>/dev/null) || base=""
  if [[ -z $base ]]; then
    note "cuDNN: the nvidia.cudnn Python package was not found; the cuDNN backend will not be built"
    return 0
  fi
  header=$(find "$base" -name cudnn.h -print -quit)
  lib=$(find "$base" -name 'libcudnn.so*' -print -quit)
  if [[ -n $header ]]; then
    export CUDNN_ROOT=$(dirname "$(dirname "$header")")
    export FLWNET_EXPECT_CUDNN=1  # the GPU suite then fails if the cuDNN backend is missing or does not load
  fi
  [[ -n $lib ]] && export LD_LIBRARY_PATH=$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  # cuDNN's engines may open cuBLASLt; the wheel nvidia-cublas holds it.
  extra=$(python3 -c "import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__))" 2>/dev/null) || extra=""
  if [[ -n $extra ]]; then
    lib=$(find "$extra" -name 'libcublasLt.so*' -print -quit)
    [[ -n $lib ]] && export LD_LIBRARY_PATH=$(dirname "$lib"):$LD_LIBRARY_PATH
  fi
  note "cuDNN: CUDNN_ROOT=${CUDNN_ROOT:-none} LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
}

cuda_architectures() {
  if [[ -n ${FLWNET_CUDA_ARCHITECTURES:-} ]]; then echo "$FLWNET_CUDA_ARCHITECTURES"; return; fi
  local cap
  cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  echo "${cap:-90}-real"
}

# The addon (cmake-js) and the C++ check (plain CMake) build at the same time, each with its log;
# the ptxas budgets and the host emulation of the mma kernel need no build and run alongside.
build_all() {
  local arch
  arch=$(cuda_architectures)
  export FLWNET_CUDA=ON FLWNET_CUDA_ARCHITECTURES=$arch CMAKE_BUILD_PARALLEL_LEVEL=16
  if wants build; then
    note "building for CUDA architectures $arch"
    run_step build-addon build-addon.log 420 "node scripts/build-addon.js" &
    run_step build-check gpu-check.log 420 "cmake -S . -B build-gpucheck -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DFLWNET_BUILD_GPU_CHECK=ON -DFLWNET_CUDA=ON -DFLWNET_CUDA_ARCHITECTURES=$arch ${CUDNN_ROOT:+-DCUDNN_ROOT=$CUDNN_ROOT} \
      && cmake --build build-gpucheck --target gpu_check -j16" &
  fi
  # Both append to files that nothing else writes until they end (summary.txt, test-cpu.log).
  wants ptxas && run_step ptxas summary.txt 150 "PTXAS_BUDGET_JOBS=6 bash scripts/ptxas-budget.sh" &
  wants emulate && run_step emulate test-cpu.log 240 \
    "FLWNET_MMA_EMULATION=all node node_modules/ava/entrypoints/cli.mjs test/mma-emulation.test.mjs --tap" &
  wait
}

run_gpu_check() {
  local binary
  binary=$(find build-gpucheck -type f -name gpu_check -perm -u+x -print -quit 2>/dev/null)
  if [[ -z $binary ]]; then
    record gpu-check failed - "no gpu_check binary under build-gpucheck (see gpu-check.log)"
    return
  fi
  run_step gpu-check gpu-check.log 90 \
    "'$binary' '$FLWNET_SHARED/weights/flwnet-official.f32' '$FLWNET_SHARED/fixtures/enhance' ${FLWNET_GPU_CHECK_ARGS---quick} --json '$out/gpu-check.json'"
}

main() {
  {
    echo "flwnet GPU run, started $started"
    nvidia-smi 2>&1
    echo "nvidia-smi: rc=$?"
  } | tee "$out/summary.txt"
  record nvidia-smi "$(grep -q '^nvidia-smi: rc=0$' "$out/summary.txt" && echo ok || echo failed)" - summary.txt
  if ! unpack; then
    record unpack failed - "see the output above"
    return
  fi
  record unpack ok - ""
  locate_cudnn
  local ava="node node_modules/ava/entrypoints/cli.mjs"
  build_all
  # gpu_check checks every fused variant (mma included) before the benchmark, so its numbers are
  # trusted before the GPU suite, which gets the time that is left (CI runs the CPU tests anyway).
  wants check && run_gpu_check
  wants bench && run_step bench-gpu bench-gpu.log 200 "FLWNET_BENCH_SECONDS=\${FLWNET_BENCH_SECONDS:-1} node bench/gpu.mjs"
  wants test && run_step test-gpu test-gpu.log 300 "$ava --config ava.gpu.config.mjs --tap"
  wants cpu && run_step test-cpu test-cpu.log 120 "$ava test/fixtures.test.mjs --tap"
  local result
  for result in $(find bench/results -name 'gpu-*.json' -newer "$run_marker" 2>/dev/null); do
    cp "$result" "$out/" && record result ok - "$(basename "$result")"
  done
}

main
# The end of stdout is what a caller sees first: failed tests, the benchmark table, the step table.
{
  echo
  echo "===== failed tests"
  grep -h '^not ok' "$out"/test-*.log 2>/dev/null | head -40
  if [[ -f $out/bench-gpu.log ]]; then
    echo "===== benchmark"
    sed -n '/^ *backend  *prec /,$p' "$out/bench-gpu.log"
  fi
  echo
  echo "===== summary (${SECONDS}s in all, budget ${FLWNET_GPU_BUDGET_S:-520}s)"
  printf '%-12s %-14s %6s  %s\n' step status time log
  cat "$rows_file"
} | tee -a "$out/summary.txt"
rm -f "$rows_file" "$run_marker"
