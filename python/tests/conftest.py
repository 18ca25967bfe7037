"""Shared by the Python package's tests: float64 by default (closed forms and finite differences need
it), and the deepdyn command built against the same torch, for comparisons with the C++ API.
(pyproject.toml silences torch 2's FutureWarning on torch.jit.script: scripting is the fast path.)"""
import os
import pathlib

import pytest
import torch

torch.set_default_dtype(torch.float64)

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def deepdyn_command():
    """The deepdyn command of the build whose LibTorch is this torch's: $DEEPDYN_COMMAND (scripts/test.sh
    sets it), else the wheel build's in this checkout."""
    candidates = [os.environ.get("DEEPDYN_COMMAND")] if os.environ.get("DEEPDYN_COMMAND") else [
        REPOSITORY / d / "apps" / "deepdyn" / "deepdyn" for d in ("build-wheel", "build")]
    for path in candidates:
        if os.access(path, os.X_OK):
            return str(path)
    pytest.fail(f"no deepdyn command at {[str(c) for c in candidates]}: build it against this torch with "
                "scripts/build.sh --libtorch wheel, or set DEEPDYN_COMMAND")
