#pragma once
// Every learning-rate scheduler, as PyTorch's torch.optim.lr_scheduler module holds them; the
// base classes and how the schedulers are split into files are in scheduler.h.

#include <ember/optim/cosine_annealing_lr.h>
#include <ember/optim/cosine_annealing_warm_restarts.h>
#include <ember/optim/exponential_lr.h>
#include <ember/optim/linear_lr.h>
#include <ember/optim/multi_step_lr.h>
#include <ember/optim/one_cycle_lr.h>
#include <ember/optim/reduce_lr_on_plateau.h>
#include <ember/optim/scheduler.h>
#include <ember/optim/step_lr.h>
