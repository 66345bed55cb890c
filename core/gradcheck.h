#pragma once
// Gradient checking: autograd's Jacobian against central finite differences.

#include <functional>
#include <string>
#include <vector>

#include <ember/core/tensor.h>

namespace ember {

/// Per input, the worst disagreement between the analytic and numeric Jacobians.
struct GradcheckReport {
  bool passed = true;
  std::vector<double> max_abs_error;  // max |analytic - numeric|
  std::vector<double> max_rel_error;  // max |analytic - numeric| / max(|numeric|, 1e-6)
  /// "input 0: max abs 2.1e-05, max rel 3.0e-06; ..." for test failure messages.
  std::string summary() const;
};

/// Checks d fn(inputs) / d inputs, element by element. The analytic Jacobian comes from one
/// backward per output element; the numeric one from (f(x + eps) - f(x - eps)) / (2 eps) per
/// input element, evaluated in float32. An entry passes when
/// |analytic - numeric| <= atol + rtol * |numeric|.
///
/// Defaults, for float32: rounding each output to float adds an error of up to
/// ~6e-8 * |f| to f(x ± eps), i.e. ~3e-5 * |f| after dividing by 2 eps = 2e-3, while the
/// truncation error of central differences is eps² / 6 * |f'''| ~ 1.7e-7 * |f'''|. atol = 1e-3
/// and rtol = 1e-2 leave room for |f| up to ~30 while still catching any wrong formula (those
/// err by O(1) relative).
GradcheckReport gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, float eps = 1e-3f, float atol = 1e-3f,
                          float rtol = 1e-2f);

}  // namespace ember
