#pragma once
// Reading tests/reference/nn.safetensors (written by tests/reference/generate_nn.py, whose
// docstring gives the layout) and comparing ember against it. Shared by test_layers.cpp and
// test_losses.cpp.
//
// Set EMBER_REFERENCE_REPORT=1 to print each case's worst relative error per stage.

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <ember/ember.h>

namespace nn_reference {

using namespace ember;

// A value passes when |actual - expected| <= rtol · |expected| + atol. The references are
// float64 results rounded once to float32, so the error is ember's float32 arithmetic: a
// few ulps (1.2e-7 relative) per op, more for composites that reduce (LayerNorm, BatchNorm,
// log_softmax). 1e-5 relative leaves ~10x headroom and still catches any wrong formula; the
// atol is for results near zero produced by cancellation (a normalised input's gradient sums
// to zero over the batch), where a relative error means nothing; inputs are O(1).
struct Tolerance {
  double rtol;
  double atol;
};
inline constexpr Tolerance kFirstOrder{1e-5, 1e-6};
// Hessian-vector products run the backward of the backward: longer chains, more cancellation.
inline constexpr Tolerance kSecondOrder{1e-4, 1e-5};

inline const SafetensorsFile& fixture() {
  static const SafetensorsFile file = load_safetensors(EMBER_REFERENCE_DIR "/nn.safetensors");
  return file;
}

/// "<case>/<key>" from the fixture.
inline Tensor stored(const std::string& name, const std::string& key) {
  return fixture().at(name + "/" + key);
}
inline bool has(const std::string& name, const std::string& key) {
  return fixture().contains(name + "/" + key);
}

/// A fresh leaf holding a stored tensor's values.
inline Tensor leaf(const std::string& name, const std::string& key, bool requires_grad = true) {
  const Tensor value = stored(name, key);
  return tensor(value.to_vector(), value.shape(), requires_grad);
}

/// The worst errors seen in one case, per stage (0: values and gradients, 1: second
/// order): relative (over |expected| >= 1e-3), and as a fraction of the tolerance.
struct Worst {
  double relative[2] = {0.0, 0.0};
  double of_tolerance[2] = {0.0, 0.0};
};

inline std::string index_of(int64_t flat, const Shape& shape) {
  std::vector<int64_t> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return to_string(index);
}

/// Compares every element (CHECK), naming the first mismatch; updates `worst[stage]`.
inline void check_close(const Tensor& actual, const Tensor& expected, Tolerance tolerance,
                        const std::string& what, Worst& worst, int stage = 0) {
  INFO(what);
  REQUIRE(actual.defined());
  REQUIRE(actual.shape() == expected.shape());
  const std::vector<float> a = actual.to_vector(), e = expected.to_vector();
  int64_t mismatches = 0;
  std::string first;
  for (size_t i = 0; i < e.size(); ++i) {
    const double error = std::abs(double(a[i]) - double(e[i]));
    const double allowed = tolerance.rtol * std::abs(double(e[i])) + tolerance.atol;
    if (!(error <= allowed)) {  // NaN fails too
      if (mismatches++ == 0) {
        std::ostringstream message;
        message.precision(9);
        message << "element " << index_of(int64_t(i), expected.shape()) << ": " << a[i]
                << ", expected " << e[i] << " (error " << error << ", allowed " << allowed << ")";
        first = message.str();
      }
      continue;
    }
    if (allowed > 0)
      worst.of_tolerance[stage] = std::max(worst.of_tolerance[stage], error / allowed);
    if (std::abs(e[i]) >= 1e-3) {
      worst.relative[stage] = std::max(worst.relative[stage], error / std::abs(double(e[i])));
    }
  }
  INFO(mismatches << " of " << e.size() << " elements differ; first: " << first);
  CHECK(mismatches == 0);
}

/// Checks `out` against "<prefix>out", then its gradients with respect to `wrt` (name ->
/// leaf) against "<prefix>grad/<name>" for the stored upstream gradient "<prefix>gout", both
/// with a plain backward and with create_graph; then, where the case stores them, the
/// Hessian-vector products "hvp/<name>" along "u/<name>".
inline Worst check_derivatives(const std::string& name, const Tensor& out,
                               const std::vector<std::pair<std::string, Tensor>>& wrt,
                               const std::string& prefix = "") {
  INFO("case \"" << name << "\" " << prefix);
  Worst worst;
  check_close(out, stored(name, prefix + "out"), kFirstOrder, "out", worst);
  std::vector<Tensor> leaves;
  for (const auto& entry : wrt) leaves.push_back(entry.second);
  std::vector<Tensor> grads;
  for (bool create_graph : {false, true}) {
    grads =
        grad({out}, leaves, {stored(name, prefix + "gout")}, /*retain_graph=*/true, create_graph);
    for (size_t i = 0; i < wrt.size(); ++i) {
      check_close(grads[i], stored(name, prefix + "grad/" + wrt[i].first), kFirstOrder,
                  "grad/" + wrt[i].first + (create_graph ? " (create_graph)" : ""), worst);
    }
  }
  if (prefix.empty() && has(name, "hvp/" + wrt[0].first)) {
    Tensor inner = scalar_tensor(0.f);
    for (size_t i = 0; i < wrt.size(); ++i) {
      inner = inner + sum(grads[i] * stored(name, "u/" + wrt[i].first));
    }
    // A gradient that does not depend on the inputs (a piecewise-linear layer) has a zero
    // Hessian; ember may record nothing where PyTorch multiplies by zero.
    std::vector<Tensor> hvps(wrt.size());
    if (inner.requires_grad()) {
      hvps = grad({inner}, leaves, {}, /*retain_graph=*/false, /*create_graph=*/false,
                  /*allow_unused=*/true);
    }
    for (size_t i = 0; i < wrt.size(); ++i) {
      const Tensor hvp = hvps[i].defined() ? hvps[i] : zeros(leaves[i].shape());
      check_close(hvp, stored(name, "hvp/" + wrt[i].first), kSecondOrder, "hvp/" + wrt[i].first,
                  worst, 1);
    }
  }
  if (std::getenv("EMBER_REFERENCE_REPORT") != nullptr) {
    std::cout << name << " " << prefix << ": worst relative error (|expected| >= 1e-3) "
              << worst.relative[0] << " first order, " << worst.relative[1]
              << " second order; worst error / tolerance " << worst.of_tolerance[0] << ", "
              << worst.of_tolerance[1] << "\n";
  }
  return worst;
}

}  // namespace nn_reference
