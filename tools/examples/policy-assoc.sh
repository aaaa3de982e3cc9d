#!/usr/bin/env bash
# Replacement policy x associativity for a 64-entry IOTLB under a cyclic sweep over 80 pages, 3
# seeds each: LRU and FIFO thrash (no hits) once a set holds fewer ways than the pages that cycle
# through it, random replacement keeps a share, a direct-mapped IOTLB keeps 48 of the 80 pages
# whatever the policy. 64 ways = fully associative.
#
#   bash tools/examples/policy-assoc.sh [OUT_DIR] [more iovsim-sweep run options...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sweep="$here/../iovsim-sweep"
out="${1:-results/policy-assoc}"
shift $(( $# > 0 ? 1 : 0 ))

"$sweep" run --config "$here/policy-assoc.json" \
  --grid iommu.iotlb.policy=lru,plru,fifo,random \
  --grid iommu.iotlb.ways=1..64:x2 \
  --repeat 3 --out "$out" "$@"
"$sweep" plot "$out" --x iommu.iotlb.ways --y iommu.iotlb.hit_rate \
  --series iommu.iotlb.policy --logx -o "$out/hit-rate.png"
