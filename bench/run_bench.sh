#!/usr/bin/env bash
# Speed benchmark (not a test): simulated DMA requests per wall second of the default DMA workload,
# 64 B reads in a 1 MiB window, as a ratio to the bare TLM-2.0 floor (../shared/bench/run_floor.sh)
# measured in the same run on the same machine: the ratio survives machine noise, an absolute rate
# does not. Builds nothing but the floor (run_floor.sh compiles it into $TMPDIR when needed).
#
# usage: bench/run_bench.sh [REQUESTS=2000000] [REPETITIONS=3]
#        bench/run_bench.sh --iommu [REQUESTS=2000000] [REPETITIONS=3]
#   IOVSIM_BIN   the iovsim command (default: <repo>/build/release/bin/iovsim)
# Runs the floor and iovsim alternately, REPETITIONS times each, and prints the median of each:
#   floor_tps=<requests per wall second of the floor>
#   iovsim_tps=<requests per wall second of iovsim>
#   ratio=<iovsim_tps / floor_tps>          (always the last line)
#
# --iommu measures the IOMMU-on DMA path (iommu.enabled=true, 64 B random reads, 4 KiB pages) in two
# cases, each against the floor run with the SAME window (run_floor.sh's third argument):
#   fit  a 256 KiB window: 64 pages, all resident in the default 64-entry IOTLB (hit path)
#   64m  a 64 MiB window: 16384 pages, nearly every request misses and walks (miss path)
# and prints, per case, "<case>: floor_tps=… iovsim_tps=… ratio=…", then as the last line
#   ratio_fit=<fit ratio> ratio_64m=<64m ratio>
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
shared=$(cd "$repo/../shared" 2>/dev/null && pwd) || { echo "run_bench.sh: no $repo/../shared" >&2; exit 2; }
floor="$shared/bench/run_floor.sh"
bin=${IOVSIM_BIN:-$repo/build/release/bin/iovsim}
mode=default
if [ "${1:-}" = "--iommu" ]; then
  mode=iommu
  shift
fi
requests=${1:-2000000}
reps=${2:-3}
bytes=64
quantum_ns=1000

[ -x "$bin" ] || { echo "run_bench.sh: $bin is not an executable (build it, or set IOVSIM_BIN)" >&2; exit 2; }
[ -f "$floor" ] || { echo "run_bench.sh: no floor benchmark at $floor" >&2; exit 2; }
case "$requests$reps" in *[!0-9]*) echo "usage: $0 [--iommu] [REQUESTS] [REPETITIONS]" >&2; exit 2 ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/iovsim_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# measure WINDOW_BYTES [--set NAME=VALUE ...]: runs the floor and iovsim alternately, reps times,
# with that window; prints the three result lines (medians) on stdout, progress on stderr.
measure() {
  local window=$1
  shift
  local floor_rates=() iovsim_rates=() i line out rate
  echo "bench: $requests requests of $bytes B in $window B, quantum $quantum_ns ns, $reps repetitions${*:+ ($*)}" >&2
  echo "bench: iovsim = $bin" >&2
  for ((i = 1; i <= reps; i++)); do
    line=$(bash "$floor" "$requests" "$bytes" "$window" "$quantum_ns" | grep '^floor_tps=')
    floor_rates+=("${line#floor_tps=}")

    out="$work/run$window.$i"
    "$bin" run --quiet --out "$out" \
      --set workload.requests="$requests" --set workload.transfer_bytes="$bytes" \
      --set workload.window_bytes="$window" --set sim.quantum_ns="$quantum_ns" "$@"
    rate=$(python3 -c '
import json, sys
run = json.load(open(sys.argv[1]))["run"]
if run["requests"] != int(sys.argv[2]):
    sys.exit("run_bench.sh: iovsim completed %s requests, not %s" % (run["requests"], sys.argv[2]))
print("%.0f" % run["requests_per_wall_s"])' "$out/stats.json" "$requests")
    iovsim_rates+=("$rate")
    echo "bench: repetition $i: floor_tps=${floor_rates[-1]} iovsim_tps=$rate" >&2
  done
  python3 - "$reps" "${floor_rates[@]}" "${iovsim_rates[@]}" <<'PY'
import statistics, sys
n = int(sys.argv[1])
floor = statistics.median(float(x) for x in sys.argv[2:2 + n])
iovsim = statistics.median(float(x) for x in sys.argv[2 + n:2 + 2 * n])
print("floor_tps=%.0f" % floor)
print("iovsim_tps=%.0f" % iovsim)
print("ratio=%.4f" % (iovsim / floor))
PY
}

# iotlb_hit_rate DIR: the IOTLB hit rate of the last repetition in DIR's window (a sanity check that
# each case exercises the path it claims to: ~1 for fit, ~0 for 64m).
iotlb_hit_rate() {
  python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))["stats"]
print("%.4f" % s["iommu.iotlb.hit_rate"])' "$work/run$1.$reps/stats.json"
}

if [ "$mode" = default ]; then
  measure 1048576
  exit 0
fi

iommu=(--set iommu.enabled=true --set workload.page_size=4096 --set workload.pattern=random)
declare -A ratio
for case in fit 64m; do
  case $case in
    fit) window=262144 ;;    # 64 pages of 4 KiB: the default IOTLB (64 entries) holds them all
    64m) window=67108864 ;;  # 16384 pages: the IOTLB holds 64 of them
  esac
  result=$(measure "$window" "${iommu[@]}")
  echo "bench: $case: IOTLB hit rate $(iotlb_hit_rate "$window")" >&2
  echo "$case: $(paste -sd " " <<<"$result")"
  ratio[$case]=$(sed -n 's/^ratio=//p' <<<"$result")
done
echo "ratio_fit=${ratio[fit]} ratio_64m=${ratio[64m]}"
