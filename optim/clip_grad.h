#pragma once
// Gradient clipping: PyTorch's torch.nn.utils.clip_grad_norm_ and clip_grad_value_. Both
// change the parameters' .grad() in place (call them between backward() and step()) and
// skip parameters whose gradient is undefined.

#include <limits>
#include <vector>

#include <ember/core/tensor.h>

namespace ember::optim {

/// Scales all gradients together so that their total norm (the norm of all of them
/// concatenated into one vector) is at most `max_norm`: each is multiplied by
/// min(1, max_norm / (total_norm + 1e-6)). Returns the total norm before clipping (0 when
/// no parameter has a gradient).
///
/// `norm_type` is p > 0 for the p-norm, or infinity for the largest absolute value. Throws
/// Error for another norm_type, and, when `error_if_nonfinite`, if the total norm is NaN or
/// infinite (otherwise the gradients are scaled by it anyway, as in PyTorch).
float clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2,
                      bool error_if_nonfinite = false);

/// Clamps every gradient element into [-clip_value, clip_value]. Throws Error for a negative
/// or NaN clip_value.
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace ember::optim
