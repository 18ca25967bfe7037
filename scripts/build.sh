#!/usr/bin/env bash
# Configures and builds deepdyn (Release) against the chosen LibTorch (scripts/common.sh):
#   scripts/build.sh [--libtorch wheel|debian] [CMake arguments...]
# e.g. -DTorch_DIR=/path/to/libtorch/share/cmake/Torch for an official LibTorch archive, or
# -DDEEPDYN_BUILD_EXAMPLES=OFF. The default LibTorch builds in build/, the other in build-<name>/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
build=$(build_dir_of "$libtorch")
cmake_args=("${rest[@]+"${rest[@]}"}")
if [ "$libtorch" = wheel ]; then
  root=$(torch_root) || { echo "error: no torch in $venv: run scripts/setup.sh --libtorch wheel" >&2; exit 1; }
  # The torch folder itself as prefix, so its lib/ is searched before Debian's libtorch.so.
  cmake_args+=(-DCMAKE_PREFIX_PATH="$root")
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release "${cmake_args[@]+"${cmake_args[@]}"}" >/dev/null
cmake --build "$build" -j "$(nproc)"
