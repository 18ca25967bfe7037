#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite, against both LibTorch builds (scripts/common.sh):
# the default in build/, the other in build-<name>/; with the wheel's torch, the Python package too.
#   scripts/test.sh [--libtorch wheel|debian]   (with --libtorch, that build alone)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
refuse_other_arguments
builds=("$libtorch")
[ -n "$libtorch_chosen" ] || builds+=("$(other_libtorch "$libtorch")")

for l in "${builds[@]}"; do scripts/setup.sh --libtorch "$l"; done
for l in "${builds[@]}"; do
  echo "test: LibTorch '$l' in $(build_dir_of "$l")/"
  scripts/build.sh --libtorch "$l"
  (cd "$(build_dir_of "$l")" && ctest --output-on-failure -j "$(nproc)")
  if [ "$l" = wheel ]; then
    echo "test: the Python package, installed into $venv beside its torch"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-build-isolation .
    DEEPDYN_COMMAND="$(build_dir_of "$l")/apps/deepdyn/deepdyn" "$venv/bin/python" -m pytest -q python/tests
  fi
done
