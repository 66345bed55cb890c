#include <ember/core/shape.h>
#include <ember/error.h>
#include <ember/models/multitask/gramian.h>

namespace ember::models::mtl {

void check_jacobian(const std::string& method, const Tensor& jacobian) {
  if (!jacobian.defined()) throw Error(method + ": the Jacobian is undefined");
  if (jacobian.dim() != 2 || jacobian.size(0) < 1 || jacobian.size(1) < 1) {
    throw Error(method + ": the Jacobian must be a non-empty [T, P] matrix, got " +
                to_string(jacobian.shape()));
  }
}

std::vector<double> gramian(const Tensor& jacobian) {
  const int64_t T = jacobian.size(0), P = jacobian.size(1);
  const float* J = jacobian.data();
  std::vector<double> G(static_cast<size_t>(T * T));
  for (int64_t i = 0; i < T; ++i) {
    for (int64_t j = 0; j <= i; ++j) {
      double dot = 0;
      for (int64_t p = 0; p < P; ++p) dot += double(J[i * P + p]) * double(J[j * P + p]);
      G[i * T + j] = G[j * T + i] = dot;
    }
  }
  return G;
}

Tensor combine_rows(const Tensor& jacobian, const std::vector<double>& weights) {
  const int64_t T = jacobian.size(0), P = jacobian.size(1);
  const float* J = jacobian.data();
  std::vector<double> sum(static_cast<size_t>(P), 0.0);
  for (int64_t i = 0; i < T; ++i) {
    for (int64_t p = 0; p < P; ++p) sum[p] += weights[i] * double(J[i * P + p]);
  }
  Tensor d = empty({P});
  for (int64_t p = 0; p < P; ++p) d.data()[p] = static_cast<float>(sum[p]);
  return d;
}

}  // namespace ember::models::mtl
