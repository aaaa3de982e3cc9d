#!/usr/bin/env bash
# The classic IOTLB-reach plot: IOTLB entries 16..4096 x DMA window 256 KiB..64 MiB, 3 seeds each.
# The hit rate falls off once the window exceeds the IOTLB's reach (entries x 4 KiB); throughput
# follows once walks cannot keep up.
#
#   bash tools/examples/iotlb-reach.sh [OUT_DIR] [more iovsim-sweep run options...]
#   e.g. bash tools/examples/iotlb-reach.sh results/reach --jobs 4 --set workload.requests=20000
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sweep="$here/../iovsim-sweep"
out="${1:-results/iotlb-reach}"
shift $(( $# > 0 ? 1 : 0 ))

"$sweep" run --config "$here/iotlb-reach.json" \
  --grid iommu.iotlb.entries=16..4096:x4 \
  --grid workload.window_bytes=256K..64M:x2 \
  --repeat 3 --out "$out" "$@"
"$sweep" plot "$out" --x workload.window_bytes --y iommu.iotlb.hit_rate \
  --series iommu.iotlb.entries --logx -o "$out/hit-rate.png"
"$sweep" plot "$out" --x workload.window_bytes --y workload.throughput_gbps \
  --series iommu.iotlb.entries --logx -o "$out/throughput.png"
