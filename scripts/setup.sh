#!/usr/bin/env bash
# Installs the Debian packages deepdyn needs to build, test, benchmark and run
# its examples. Idempotent: quiet and quick when everything is already there.
set -euo pipefail

packages=(
  build-essential cmake ccache
  libtorch-dev libopenblas0-openmp   # LibTorch 1.13; OpenBLAS (not reference BLAS) for speed
  googletest libgtest-dev libbenchmark-dev
  libstb-dev                         # PNG output (stb_image_write)
  zlib1g-dev dataset-fashion-mnist   # gzip IDX reader; real images for the DEQ classifier
  libcli11-dev nlohmann-json3-dev    # the deepdyn command: options, config files, metrics
  libgloo-dev                        # c10d Gloo process group headers: multi-process training
)

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
