#pragma once
// ember: a small, readable tensor and reverse-mode autograd engine. Include this one header.

#include <ember/core/autograd.h>
#include <ember/core/error.h>
#include <ember/core/gradcheck.h>
#include <ember/core/io/safetensors.h>
#include <ember/core/ops.h>
#include <ember/core/random.h>
#include <ember/core/shape.h>
#include <ember/core/tensor.h>
#include <ember/nn/activation.h>
#include <ember/nn/containers.h>
#include <ember/nn/linear.h>
#include <ember/nn/module.h>
#include <ember/models/seed.h>
