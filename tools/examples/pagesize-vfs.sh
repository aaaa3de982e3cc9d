#!/usr/bin/env bash
# Page size x VF count: how many SR-IOV VFs (one VM each) share the IOTLB before it thrashes, for
# guest memory mapped with 4 KiB, 2 MiB and 1 GiB pages (vm.page_size).
#
#   bash tools/examples/pagesize-vfs.sh [OUT_DIR] [more iovsim-sweep run options...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sweep="$here/../iovsim-sweep"
out="${1:-results/pagesize-vfs}"
shift $(( $# > 0 ? 1 : 0 ))

"$sweep" run --config "$here/pagesize-vfs.json" \
  --grid vm.page_size=4096,2097152,1073741824 \
  --grid nic.vfs=1..64:x2 \
  --repeat 3 --out "$out" "$@"
"$sweep" plot "$out" --x nic.vfs --y workload.throughput_gbps \
  --series vm.page_size --logx -o "$out/throughput.png"
"$sweep" plot "$out" --x nic.vfs --y iommu.iotlb.hit_rate \
  --series vm.page_size --logx -o "$out/hit-rate.png"
