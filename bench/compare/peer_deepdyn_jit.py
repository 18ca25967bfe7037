"""deepdyn's Python package with the fields of peer_deepdyn_py scripted (torch.jit.script): the solve,
forward and backward, runs in C++ without returning to the interpreter."""
import warnings

import torch

import peer_deepdyn_py

NAME = "deepdyn_jit"


def _script(module):
    with warnings.catch_warnings():  # torch 2.x deprecates TorchScript in favour of torch.compile
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.script(module)


def cases(problem):
    return peer_deepdyn_py.cases(problem, prepare=_script)


NOTES = ["deepdyn_jit: the same modules scripted; the solver loop and every field evaluation stay in C++."]
