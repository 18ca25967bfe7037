#!/usr/bin/env bash
# Installs the Python peers bench/compare measures deepdyn against (torchdiffeq, torchdeq, diffrax
# with JAX on the CPU) into the project's virtual environment, pinned in scripts/constraints.txt.
# Not part of the main setup. Idempotent: quiet and quick when all is there.
#   scripts/setup.sh --libtorch wheel && scripts/setup_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
if [ ! -x "$venv/bin/python" ]; then
  echo "setup_bench: no $venv: run scripts/setup.sh --libtorch wheel first (it makes the virtual environment)" >&2
  exit 1
fi
"$venv/bin/pip" install -q --disable-pip-version-check -c scripts/constraints.txt torchdiffeq torchdeq diffrax jax
