#!/usr/bin/env bash
# Installs what deepdyn needs to build, test, benchmark and run its examples: Debian's packages
# with apt-get and, for the wheel's LibTorch, a project-local virtual environment (.venv) with the
# pinned torch wheel (scripts/constraints.txt). Idempotent: quiet and quick when all is there.
#   scripts/setup.sh [--libtorch wheel|debian]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
refuse_other_arguments

packages=(
  build-essential cmake ccache
  libopenblas0-openmp                # OpenBLAS (not reference BLAS) for Debian's LibTorch
  googletest libgtest-dev libbenchmark-dev
  libstb-dev                         # PNG output (stb_image_write)
  zlib1g-dev dataset-fashion-mnist   # gzip IDX reader; real images for the DEQ classifier
  libeigen3-dev                      # vectorised float32 tanh (core::tanh)
  libcli11-dev nlohmann-json3-dev    # the deepdyn command: options, config files, metrics
  libplplot-dev plplot-driver-cairo  # the deepdyn command: figures (PLplot's cairo PNG driver)
  libgloo-dev                        # c10d Gloo process group headers (neither LibTorch ships them)
  python3-venv                       # the project's virtual environment
)
[ "$libtorch" = debian ] && packages+=(libtorch-dev)  # LibTorch 1.13.1

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$libtorch" = wheel ]; then
  # Debian's Python makes the environment; nothing goes into the system Python.
  [ -x "$venv/bin/python" ] || { echo "setup: creating $venv"; /usr/bin/python3 -m venv "$venv"; }
  # torch (its LibTorch for the C++ build), and what the Python package builds and tests with
  "$venv/bin/pip" install -q --disable-pip-version-check -c scripts/constraints.txt \
    torch numpy scikit-build-core pybind11 pytest
fi
