# Sourced by setup.sh, build.sh and test.sh: which LibTorch to build against, and where.
#   --libtorch wheel    LibTorch 2.x from the pinned torch wheel (scripts/constraints.txt) in .venv
#   --libtorch debian   Debian's libtorch-dev (LibTorch 1.13.1)
# DEEPDYN_LIBTORCH in the environment does the same. The default builds in build/, the other in
# build-<name>/, so both can stand side by side. Arguments that are not --libtorch are left in
# the array `rest`.

DEEPDYN_DEFAULT_LIBTORCH=debian
libtorch=${DEEPDYN_LIBTORCH:-}
rest=()
while (($#)); do
  case $1 in
    --libtorch)
      (($# >= 2)) || { echo "error: --libtorch needs 'wheel' or 'debian'" >&2; exit 2; }
      libtorch=$2; shift 2 ;;
    --libtorch=*) libtorch=${1#*=}; shift ;;
    *) rest+=("$1"); shift ;;
  esac
done
libtorch_chosen=${libtorch:+yes}  # empty when neither the option nor the variable chose one
libtorch=${libtorch:-$DEEPDYN_DEFAULT_LIBTORCH}
case $libtorch in
  wheel | debian) ;;
  *) echo "error: --libtorch takes 'wheel' or 'debian', got '$libtorch'" >&2; exit 2 ;;
esac

other_libtorch() { [ "$1" = wheel ] && echo debian || echo wheel; }
build_dir_of() { [ "$1" = "$DEEPDYN_DEFAULT_LIBTORCH" ] && echo build || echo "build-$1"; }

venv=.venv
# The torch package's folder: its LibTorch (lib/, include/, share/cmake/Torch).
torch_root() { "$venv/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null; }

# For scripts that take --libtorch alone: refuses anything else left in `rest`.
refuse_other_arguments() {
  if ((${#rest[@]})); then
    echo "error: unknown argument '${rest[0]}' (use --libtorch wheel|debian)" >&2
    exit 2
  fi
}
