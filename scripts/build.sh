#!/usr/bin/env bash
# Configures and builds deepdyn (Release) into build/. Pass extra CMake arguments,
# e.g. -DTorch_DIR=/path/to/libtorch/share/cmake/Torch for an official LibTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j "$(nproc)"
