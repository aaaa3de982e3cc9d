#!/usr/bin/env bash
# Speed benchmark (not a test): simulated DMA requests per wall second of the default DMA workload,
# 64 B reads in a 1 MiB window, as a ratio to the bare TLM-2.0 floor (../shared/bench/run_floor.sh)
# measured in the same run on the same machine: the ratio survives machine noise, an absolute rate
# does not. Builds nothing but the floor (run_floor.sh compiles it into $TMPDIR when needed).
#
# usage: bench/run_bench.sh [REQUESTS=2000000] [REPETITIONS=3]
#   IOVSIM_BIN   the iovsim command (default: <repo>/build/release/bin/iovsim)
# Runs the floor and iovsim alternately, REPETITIONS times each, and prints the median of each:
#   floor_tps=<requests per wall second of the floor>
#   iovsim_tps=<requests per wall second of iovsim>
#   ratio=<iovsim_tps / floor_tps>          (always the last line)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
shared=$(cd "$repo/../shared" 2>/dev/null && pwd) || { echo "run_bench.sh: no $repo/../shared" >&2; exit 2; }
floor="$shared/bench/run_floor.sh"
bin=${IOVSIM_BIN:-$repo/build/release/bin/iovsim}
requests=${1:-2000000}
reps=${2:-3}
bytes=64
window=1048576
quantum_ns=1000

[ -x "$bin" ] || { echo "run_bench.sh: $bin is not an executable (build it, or set IOVSIM_BIN)" >&2; exit 2; }
[ -f "$floor" ] || { echo "run_bench.sh: no floor benchmark at $floor" >&2; exit 2; }
case "$requests$reps" in *[!0-9]*) echo "usage: $0 [REQUESTS] [REPETITIONS]" >&2; exit 2 ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/iovsim_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "bench: $requests requests of $bytes B in $window B, quantum $quantum_ns ns, $reps repetitions" >&2
echo "bench: iovsim = $bin" >&2
floor_rates=()
iovsim_rates=()
for ((i = 1; i <= reps; i++)); do
  line=$(bash "$floor" "$requests" "$bytes" "$window" "$quantum_ns" | grep '^floor_tps=')
  floor_rates+=("${line#floor_tps=}")

  out="$work/run$i"
  "$bin" run --quiet --out "$out" \
    --set workload.requests="$requests" --set workload.transfer_bytes="$bytes" \
    --set workload.window_bytes=1M --set sim.quantum_ns="$quantum_ns"
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
