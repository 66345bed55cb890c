#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/models/ensemble/calibration.h>

namespace ember::models {

namespace {

// Validation logits as rows of C >= 2 values (a binary logit z becomes [0, z]) and labels.
struct Rows {
  int64_t samples = 0, classes = 0;
  std::vector<double> logits;  // [samples, classes]
  std::vector<int64_t> label;  // [samples]
};

Rows rows_of(const Tensor& logits, const Tensor& labels) {
  const std::string op = "fit_temperature";
  if (!logits.defined() || !labels.defined()) throw Error(op + ": got an undefined tensor");
  const bool binary = logits.dim() == 1 || (logits.dim() == 2 && logits.size(1) == 1);
  if (!binary && (logits.dim() != 2 || logits.size(1) < 2)) {
    throw Error(op + ": expects logits [N, C] with C >= 2, [N, 1] or [N], got " +
                to_string(logits.shape()));
  }
  Rows rows{logits.size(0), binary ? 2 : logits.size(1), {}, {}};
  if (rows.samples == 0)
    throw Error(op + ": needs at least one sample, got logits " + to_string(logits.shape()));
  if (labels.dim() != 1 || labels.size(0) != rows.samples) {
    throw Error(op + ": labels must be [N] = [" + std::to_string(rows.samples) + "], got " +
                to_string(labels.shape()));
  }
  for (const float z : logits.detach().to_vector()) {
    if (!std::isfinite(z)) throw Error(op + ": logits must be finite, got " + std::to_string(z));
    if (binary) rows.logits.push_back(0.0);
    rows.logits.push_back(z);
  }
  for (const float y : labels.detach().to_vector()) {
    if (!(y >= 0.f && y < static_cast<float>(rows.classes) && y == std::floor(y))) {
      throw Error(op + ": labels must be integers in [0, " + std::to_string(rows.classes) +
                  "), got " + std::to_string(y));
    }
    rows.label.push_back(static_cast<int64_t>(y));
  }
  return rows;
}

// With β = 1/T and p_i = softmax(β z_i), the mean NLL and its derivatives in β:
//   f(β)   = mean_i [logsumexp_c(β z_ic) - β z_iy]
//   f'(β)  = mean_i [E_p[z_i] - z_iy]
//   f''(β) = mean_i Var_p[z_i] >= 0,
// so f is convex in β (a log-sum-exp of functions linear in β, minus a linear one).
struct Derivatives {
  double first = 0, second = 0;
};

Derivatives derivatives_at(const Rows& rows, double beta) {
  Derivatives d;
  const auto C = static_cast<size_t>(rows.classes);
  for (size_t i = 0; i < static_cast<size_t>(rows.samples); ++i) {
    const double* z = rows.logits.data() + i * C;
    const double top = *std::max_element(z, z + C);
    double total = 0, moment1 = 0, moment2 = 0;
    for (size_t c = 0; c < C; ++c) {
      const double weight = std::exp(beta * (z[c] - top));  // unnormalised p_c, shifted
      total += weight;
      moment1 += weight * z[c];
      moment2 += weight * z[c] * z[c];
    }
    const double mean_z = moment1 / total;
    d.first += mean_z - z[rows.label[i]];
    d.second += std::max(moment2 / total - mean_z * mean_z, 0.0);
  }
  d.first /= static_cast<double>(rows.samples);
  d.second /= static_cast<double>(rows.samples);
  return d;
}

}  // namespace

// Guo et al. minimise the NLL over T with LBFGS. Here the same minimiser is found exactly:
// f is convex in β = 1/T (above), so f'(β) is non-decreasing and its root in
// [1/max_temperature, 1/min_temperature] is the minimum. Safeguarded Newton: a Newton step
// when it lands inside the bracket that holds the sign change of f', else bisection; the
// bracket shrinks every step, so it converges, quadratically near the root.
double fit_temperature(const Tensor& logits, const Tensor& labels,
                       const TemperatureFitOptions& options) {
  if (!(options.min_temperature > 0 && options.min_temperature <= options.max_temperature)) {
    throw Error("fit_temperature: needs 0 < min_temperature <= max_temperature, got " +
                std::to_string(options.min_temperature) + " and " +
                std::to_string(options.max_temperature));
  }
  const Rows rows = rows_of(logits, labels);
  double low = 1 / options.max_temperature, high = 1 / options.min_temperature;
  if (derivatives_at(rows, low).first >= 0) return options.max_temperature;
  if (derivatives_at(rows, high).first <= 0) return options.min_temperature;
  double beta = std::clamp(1.0, low, high);
  for (int iteration = 0; iteration < 100; ++iteration) {
    const Derivatives d = derivatives_at(rows, beta);
    if (d.first == 0) break;
    (d.first < 0 ? low : high) = beta;
    const double newton = d.second > 0 ? beta - d.first / d.second : high + 1;
    const double next = newton > low && newton < high ? newton : 0.5 * (low + high);
    if (std::fabs(next - beta) <= 1e-14 * beta) break;
    beta = next;
  }
  return 1 / beta;
}

TemperatureScaling::TemperatureScaling()
    : temperature_(register_buffer("temperature", scalar_tensor(1.f))) {}

double TemperatureScaling::fit(const Tensor& logits, const Tensor& labels,
                               const TemperatureFitOptions& options) {
  const double fitted = fit_temperature(logits, labels, options);
  temperature_.fill_(static_cast<float>(fitted));
  return fitted;
}

double TemperatureScaling::temperature() const { return temperature_.item(); }

Tensor TemperatureScaling::forward(const Tensor& logits) const { return logits / temperature_; }

}  // namespace ember::models
