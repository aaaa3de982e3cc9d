#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build with warnings as errors, run every test;
# then the same tests under AddressSanitizer + UndefinedBehaviorSanitizer. `--fast` skips the
# sanitizer pass. CTest's summary is the last thing printed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
presets=(ci asan)
[ "${1:-}" = "--fast" ] && presets=(ci)
status=0
for preset in "${presets[@]}"; do
  echo "== iovsim: build and test ($preset)"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  ctest --preset "$preset" || status=$?
done
exit $status
