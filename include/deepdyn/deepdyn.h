#pragma once
// Umbrella header of deepdyn: deep learning as dynamical systems on LibTorch.
#include "deepdyn/core/tensor_tuple.h"
#include "deepdyn/data/fashion_mnist.h"
#include "deepdyn/ode/method.h"
#include "deepdyn/ode/options.h"
#include "deepdyn/ode/solution.h"
#include "deepdyn/ode/solve.h"
#include "deepdyn/ode/tableau.h"
#include "deepdyn/deq/deq.h"
#include "deepdyn/deq/jacobian.h"
#include "deepdyn/deq/solver.h"
