#!/usr/bin/env bash
# Register, spill and shared-memory budgets of every CUDA kernel, checked at compile time.
# Compiles each .cu file under native/cuda (recursively) for one architecture with -Xptxas -v,
# parses every entry function's registers, spill stores/loads, stack frame and static shared
# memory, and compares them with scripts/ptxas-budgets.txt. Fails when a kernel exceeds its budget,
# spills, or has no budget (new kernels must be given one). Dynamic shared memory is sized at launch
# and not seen by ptxas; the kernels' own static_asserts and launchers check it.
# Usage: scripts/ptxas-budget.sh [--arch sm_90] [--json OUT] [--update]
#   --update  rewrites the table with the measured numbers as budgets (review the diff).
# Needs nvcc on the PATH (exits 0 with a message when it is absent, so CI without CUDA passes).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
arch=sm_90
json=""
update=0
while (($#)); do
  case $1 in
    --arch) arch=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    --update) update=1; shift ;;
    *) echo "ptxas-budget: unknown argument $1" >&2; exit 2 ;;
  esac
done
table=scripts/ptxas-budgets.txt
if ! command -v nvcc >/dev/null 2>&1; then
  echo "ptxas-budget: nvcc not found, nothing checked"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mapfile -t sources < <(find native/cuda -name '*.cu' | sort)
cudnn_include=""
[[ -n ${CUDNN_ROOT:-} ]] && cudnn_include="-I$CUDNN_ROOT/include"

# One log per source, compiled two at a time.
compile() {
  local src=$1 log
  log="$2/$(echo "$src" | tr '/' '_').log"
  if ! nvcc -arch="$3" -O3 -std=c++17 --expt-relaxed-constexpr -Xptxas -v -Inative $4 -c "$src" -o "$log.o" >"$log" 2>&1; then
    echo "COMPILE-FAILED $src" >>"$log"
  fi
}
export -f compile
printf '%s\n' "${sources[@]}" | xargs -P "${PTXAS_BUDGET_JOBS:-2}" -I{} bash -c 'compile "$@"' _ {} "$work" "$arch" "$cudnn_include"
# cudnn_kernels.cu needs cuDNN headers only through its includes; a missing header is not a budget failure.
if grep -l "COMPILE-FAILED" "$work"/*.log >/dev/null 2>&1; then
  for log in $(grep -l "COMPILE-FAILED" "$work"/*.log); do
    if grep -q "cudnn.h: No such file" "$log"; then
      echo "ptxas-budget: $(grep COMPILE-FAILED "$log" | cut -d' ' -f2) skipped (no cuDNN headers; set CUDNN_ROOT)"
      rm "$log"
    else
      cat "$log" >&2
      echo "ptxas-budget: compilation failed" >&2
      exit 1
    fi
  done
fi

# kernel registers spill_stores spill_loads stack smem, one line per entry function. The key is the
# demangled name without namespaces' anonymous parts and parameters, e.g.
# flwnet::cuda::fastmma::localMmaKernel.
measured="$work/measured.txt"
cat "$work"/*.log | awk '
  /Compiling entry function/ { match($0, /'"'"'[^'"'"']+'"'"'/); name = substr($0, RSTART + 1, RLENGTH - 2); entry = 1; next }
  /Function properties for/ { if (!entry) name = "" ; next }
  entry && /bytes stack frame/ { stack = $1; stores = $5; loads = $9; next }
  entry && /Used [0-9]+ registers/ {
    match($0, /Used [0-9]+ registers/); regs = substr($0, RSTART + 5, RLENGTH - 15)
    smem = 0; if (match($0, /[0-9]+ bytes smem/)) smem = substr($0, RSTART, RLENGTH - 11)
    print name, regs, stores, loads, stack, smem; entry = 0
  }' | while read -r mangled regs stores loads stack smem; do
  name=$(echo "$mangled" | c++filt | sed -E 's/\(anonymous namespace\):://g; s/^void //; s/\([^()]*\)$//; s/ //g')
  echo "$name $regs $stores $loads $stack $smem"
done | sort >"$measured"

if ((update)); then
  {
    echo "# ptxas budgets for $arch (scripts/ptxas-budget.sh): kernel max_registers max_static_smem_bytes max_stack_bytes"
    echo "# Spills must be 0 for every kernel. Regenerate with --update and review the diff."
    awk '{ print $1, $2, $6, $5 }' "$measured"
  } >"$table"
  echo "ptxas-budget: wrote $table"
fi

failures=0
rows=()
printf '%-52s %5s %7s %6s %6s %8s  %s\n' kernel regs budget spills stack smem status
while read -r name regs stores loads stack smem; do
  budget=$(awk -v k="$name" '$1 == k { print $2, $3, $4 }' "$table")
  status=ok
  if [[ -z $budget ]]; then
    status="no budget in $table"
  else
    read -r maxRegs maxSmem maxStack <<<"$budget"
    ((regs > maxRegs)) && status="registers over $maxRegs"
    ((smem > maxSmem)) && status="static smem over $maxSmem"
    ((stores + loads > 0)) && status="spills"
    ((stack > maxStack)) && status="stack frame over $maxStack"
  fi
  [[ $status == ok ]] || failures=$((failures + 1))
  printf '%-52s %5s %7s %6s %6s %8s  %s\n' "$name" "$regs" "${budget%% *}" "$((stores + loads))" "$stack" "$smem" "$status"
  rows+=("{\"kernel\":\"$name\",\"registers\":$regs,\"spillStores\":$stores,\"spillLoads\":$loads,\"stack\":$stack,\"staticSmem\":$smem,\"status\":\"$status\"}")
done <"$measured"
if [[ -n $json ]]; then
  (IFS=,; echo "{\"arch\":\"$arch\",\"nvcc\":\"$(nvcc --version | tail -1)\",\"failures\":$failures,\"kernels\":[${rows[*]}]}") >"$json"
fi
if ((failures)); then
  echo "ptxas-budget: $failures kernel(s) over budget" >&2
  exit 1
fi
echo "ptxas-budget: $(wc -l <"$measured") kernels within budget ($arch)"
