#include <ember/core/autograd.h>
#include <ember/core/gradcheck.h>
#include <ember/core/ops.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ember {

std::string GradcheckReport::summary() const {
  std::string out;
  char line[128];
  for (size_t i = 0; i < max_abs_error.size(); ++i) {
    std::snprintf(line, sizeof line, "%sinput %zu: max abs %.2e, max rel %.2e", i ? "; " : "", i,
                  max_abs_error[i], max_rel_error[i]);
    out += line;
  }
  return out + (passed ? " (passed)" : " (FAILED)");
}

GradcheckReport gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, float eps, float atol, float rtol) {
  // Fresh leaves, so the check never touches the caller's tensors or their .grad().
  std::vector<Tensor> leaves;
  for (const Tensor& t : inputs) leaves.push_back(clone(t.detach()).requires_grad_(true));
  const Tensor out = fn(leaves);
  const int64_t n_out = out.numel();

  // analytic[i][j * n_in + k] = d out_j / d input_i,k
  std::vector<std::vector<float>> analytic(leaves.size());
  for (size_t i = 0; i < leaves.size(); ++i) analytic[i].assign(n_out * leaves[i].numel(), 0.f);
  for (int64_t j = 0; j < n_out; ++j) {
    Tensor one_hot = zeros(out.shape());
    one_hot.data()[j] = 1.f;
    const std::vector<Tensor> rows = grad({out}, leaves, {one_hot}, true, false, true);
    for (size_t i = 0; i < leaves.size(); ++i) {
      if (!rows[i].defined()) continue;
      std::copy_n(rows[i].data(), rows[i].numel(), analytic[i].begin() + j * leaves[i].numel());
    }
  }

  GradcheckReport report;
  NoGradGuard no_grad;
  for (size_t i = 0; i < leaves.size(); ++i) {
    const int64_t n_in = leaves[i].numel();
    double worst_abs = 0, worst_rel = 0;
    for (int64_t k = 0; k < n_in; ++k) {
      float& x = leaves[i].data()[k];
      const float original = x;
      x = original + eps;
      const std::vector<float> plus = fn(leaves).to_vector();
      x = original - eps;
      const std::vector<float> minus = fn(leaves).to_vector();
      x = original;
      for (int64_t j = 0; j < n_out; ++j) {
        const double numeric = (double(plus[j]) - double(minus[j])) / (2.0 * eps);
        const double error = std::fabs(analytic[i][j * n_in + k] - numeric);
        worst_abs = std::max(worst_abs, error);
        worst_rel = std::max(worst_rel, error / std::max(std::fabs(numeric), 1e-6));
        if (!(error <= atol + rtol * std::fabs(numeric))) report.passed = false;
      }
    }
    report.max_abs_error.push_back(worst_abs);
    report.max_rel_error.push_back(worst_rel);
  }
  return report;
}

}  // namespace ember
