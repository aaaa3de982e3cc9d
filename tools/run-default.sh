#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build (release), run the default platform.
# Extra arguments go to `iovsim run`, e.g. --set workload.window_bytes=4M --out results/
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
exec build/release/bin/iovsim run "$@"
