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
  if (jacobian.device() != Device::CPU)
    throw Error(method + ": the Jacobian " + to_string(jacobian.shape()) + " must be on the CPU");
}

std::vector<double> gramian(const Tensor& jacobian) {
  const int64_t T = jacobian.size(0), P = jacobian.size(1);
  const float* J = jacobian.data();
  // One pass over the columns, every pair's sum at once: T(T+1)/2 independent additions per
  // column, where one dot product at a time would wait on each addition (doubles are not
  // reassociated, so the compiler cannot split the chain itself).
  std::vector<double> upper(static_cast<size_t>(T * (T + 1) / 2), 0.0), column(T);
  for (int64_t p = 0; p < P; ++p) {
    for (int64_t i = 0; i < T; ++i) column[i] = J[i * P + p];
    size_t k = 0;
    for (int64_t i = 0; i < T; ++i) {
      for (int64_t j = i; j < T; ++j) upper[k++] += column[i] * column[j];
    }
  }
  std::vector<double> G(static_cast<size_t>(T * T));
  size_t k = 0;
  for (int64_t i = 0; i < T; ++i) {
    for (int64_t j = i; j < T; ++j) G[i * T + j] = G[j * T + i] = upper[k++];
  }
  return G;
}

Tensor combine_rows(const Tensor& jacobian, const std::vector<double>& weights) {
  const int64_t T = jacobian.size(0), P = jacobian.size(1);
  const float* J = jacobian.data();
  Tensor d = empty({P});
  float* out = d.data();
  for (int64_t p = 0; p < P; ++p) {
    double sum = 0;
    for (int64_t i = 0; i < T; ++i) sum += weights[i] * double(J[i * P + p]);
    out[p] = static_cast<float>(sum);
  }
  return d;
}

}  // namespace ember::models::mtl
