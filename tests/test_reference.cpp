// Every op against PyTorch. tests/reference/generate.py wrote, per op family, one safetensors
// file of cases: inputs, the output, the gradient vᵀJ for a random upstream gradient v, and
// for smooth ops a Hessian-vector product (see the layout in generate.py's docstring). Each
// case's JSON names the op and its arguments; `run_op` applies it, the same way generate.py's
// `run_op` did in PyTorch, and every stored tensor is compared within the tolerances below.
//
// Set EMBER_REFERENCE_REPORT=1 to print, per family and stage, the largest error seen.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <ember/core/autograd.h>
#include <ember/core/io/safetensors.h>
#include <ember/core/ops.h>

namespace {

using namespace ember;
using nlohmann::json;

// A value passes when |actual - expected| <= rtol * |expected| + atol.
//
// The references were computed in float64 from the float32 inputs and rounded once, so the
// error measured is ember's float32 arithmetic alone: a few ulps (float32 ulp ~ 1.2e-7
// relative) per op, and a few more for composites (gelu, var, logsumexp, softmax, a matmul
// summing k products). 1e-5 relative leaves ~10x headroom over that while still catching any
// wrong formula. The atol covers results near zero, where the relative error of a value
// produced by cancellation (x - mean, 1 + erf(x) for x << 0, a broadcast gradient summing
// terms of both signs) is meaningless; inputs are O(1), so 1e-6 is a few ulps of the terms.
struct Tolerance {
  double rtol;
  double atol;
};
constexpr Tolerance kForward{1e-5, 1e-6};
constexpr Tolerance kGradient{1e-5, 1e-6};
// Hessian-vector products run the backward of the backward: two or three times the chain of
// float32 ops, with more cancellation (softmax's s * (u - <s, u>) terms), so 10x looser.
constexpr Tolerance kSecondOrder{1e-4, 1e-5};
// max/min indices are integers stored as floats: exact.
constexpr Tolerance kExact{0.0, 0.0};

enum Stage { kForwardStage, kGradientStage, kSecondOrderStage, kStageCount };
constexpr const char* kStageNames[kStageCount] = {"forward", "gradient", "second order"};

/// The largest error of each stage over a family, for the EMBER_REFERENCE_REPORT summary.
struct WorstErrors {
  double fraction_of_tolerance[kStageCount] = {};
  double relative[kStageCount] = {};
  std::string where[kStageCount];

  void print(const std::string& family) const {
    for (int stage = 0; stage < kStageCount; ++stage) {
      std::cout << family << " " << kStageNames[stage] << ": ";
      if (where[stage].empty()) {
        std::cout << "no error\n";
        continue;
      }
      std::cout << "worst relative error (|expected| >= 1e-3) " << relative[stage]
                << ", worst error / tolerance " << fraction_of_tolerance[stage] << " at "
                << where[stage] << "\n";
    }
  }
};

std::string index_of(int64_t flat, const Shape& shape) {
  std::vector<int64_t> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return to_string(index);
}

/// Compares every element; returns "" on success, or a description of the first mismatch.
std::string compare(const Tensor& actual, const Tensor& expected, Tolerance tolerance, Stage stage,
                    const std::string& where, WorstErrors& worst) {
  if (!actual.defined()) return "undefined tensor";
  if (actual.shape() != expected.shape()) {
    return "shape " + to_string(actual.shape()) + ", expected " + to_string(expected.shape());
  }
  const std::vector<float> a = actual.to_vector();
  const std::vector<float> e = expected.to_vector();
  std::string first_mismatch;
  int64_t mismatches = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    const double error = std::abs(double(a[i]) - double(e[i]));
    const double allowed = tolerance.rtol * std::abs(double(e[i])) + tolerance.atol;
    // Written so that a NaN in `actual` fails too.
    if (!(error <= allowed)) {
      if (mismatches++ == 0) {
        std::ostringstream message;
        message.precision(9);
        message << "element " << index_of(int64_t(i), expected.shape()) << ": " << a[i]
                << ", expected " << e[i] << " (error " << error << ", allowed " << allowed << ")";
        first_mismatch = message.str();
      }
      continue;
    }
    if (allowed > 0 && error / allowed > worst.fraction_of_tolerance[stage]) {
      worst.fraction_of_tolerance[stage] = error / allowed;
      worst.where[stage] = where + " " + index_of(int64_t(i), expected.shape());
    }
    if (std::abs(e[i]) >= 1e-3) {
      worst.relative[stage] = std::max(worst.relative[stage], error / std::abs(double(e[i])));
    }
  }
  if (mismatches == 0) return "";
  return std::to_string(mismatches) + " of " + std::to_string(e.size()) +
         " elements differ; first: " + first_mismatch;
}

Tensor index_tensor(const std::vector<int64_t>& index) {
  std::vector<float> values(index.begin(), index.end());
  return tensor(values, {int64_t(values.size())});
}

/// Applies the op a case describes (the mirror of `run_op` in generate.py). Returns the
/// differentiable output first; max/min add their indices.
std::vector<Tensor> run_op(const json& spec, const std::vector<Tensor>& in) {
  using Binary = Tensor (*)(const Tensor&, const Tensor&);
  using Unary = Tensor (*)(const Tensor&);
  static const std::map<std::string, Binary> binary_ops = {
      {"add", &ember::add},
      {"sub", &ember::sub},
      {"mul", &ember::mul},
      {"div", &ember::div},
      {"pow", [](const Tensor& a, const Tensor& b) { return ember::pow(a, b); }},
      {"maximum", &ember::maximum},
      {"minimum", &ember::minimum},
      {"eq", &ember::eq},
      {"ne", &ember::ne},
      {"lt", &ember::lt},
      {"le", &ember::le},
      {"gt", &ember::gt},
      {"ge", &ember::ge},
      {"matmul", &ember::matmul},
  };
  static const std::map<std::string, Unary> unary_ops = {
      {"neg", &ember::neg},         {"exp", &ember::exp},   {"log", &ember::log},
      {"sqrt", &ember::sqrt},       {"abs", &ember::abs},   {"relu", &ember::relu},
      {"sigmoid", &ember::sigmoid}, {"tanh", &ember::tanh}, {"erf", &ember::erf},
  };

  const std::string op = spec.at("op");
  if (auto it = binary_ops.find(op); it != binary_ops.end()) return {it->second(in[0], in[1])};
  if (auto it = unary_ops.find(op); it != unary_ops.end()) return {it->second(in[0])};

  const Tensor& x = in[0];
  auto dims = [&] { return spec.at("dims").get<std::vector<int64_t>>(); };
  auto integer = [&](const char* key) { return spec.at(key).get<int64_t>(); };
  auto real = [&](const char* key) { return spec.at(key).get<float>(); };
  auto flag = [&](const char* key) { return spec.at(key).get<bool>(); };

  if (op == "pow_scalar") return {ember::pow(x, real("exponent"))};
  if (op == "gelu") return {gelu(x, flag("tanh_approximation"))};
  if (op == "softplus") return {softplus(x, real("beta"), real("threshold"))};
  if (op == "clamp") return {clamp(x, real("min"), real("max"))};
  if (op == "sum") return {spec.contains("dims") ? sum(x, dims(), flag("keepdim")) : sum(x)};
  if (op == "mean") return {spec.contains("dims") ? mean(x, dims(), flag("keepdim")) : mean(x)};
  if (op == "var") {
    if (!spec.contains("dims")) return {var(x, flag("unbiased"))};
    return {var(x, dims(), flag("unbiased"), flag("keepdim"))};
  }
  if (op == "std") {
    if (!spec.contains("dims")) return {ember::std(x, flag("unbiased"))};
    return {ember::std(x, dims(), flag("unbiased"), flag("keepdim"))};
  }
  if (op == "max" || op == "min") {
    const ValuesIndices result = op == "max" ? ember::max(x, integer("dim"), flag("keepdim"))
                                             : ember::min(x, integer("dim"), flag("keepdim"));
    return {result.values, result.indices};
  }
  if (op == "logsumexp") return {logsumexp(x, integer("dim"), flag("keepdim"))};
  if (op == "softmax") return {softmax(x, integer("dim"))};
  if (op == "log_softmax") return {log_softmax(x, integer("dim"))};
  if (op == "reshape") return {reshape(x, spec.at("shape").get<Shape>())};
  if (op == "clone") return {clone(x)};
  if (op == "flatten") return {flatten(x, integer("start_dim"), integer("end_dim"))};
  if (op == "transpose") return {transpose(x, integer("dim0"), integer("dim1"))};
  if (op == "permute") return {permute(x, dims())};
  if (op == "unsqueeze") return {unsqueeze(x, integer("dim"))};
  if (op == "squeeze") return {spec.contains("dim") ? squeeze(x, integer("dim")) : squeeze(x)};
  if (op == "cat") return {cat(in, integer("dim"))};
  if (op == "stack") return {stack(in, integer("dim"))};
  if (op == "narrow") return {narrow(x, integer("dim"), integer("start"), integer("length"))};
  if (op == "slice") return {slice(x, integer("dim"), integer("start"), integer("end"))};
  if (op == "index_select") {
    const Tensor index = index_tensor(spec.at("index").get<std::vector<int64_t>>());
    return {index_select(x, integer("dim"), index)};
  }
  if (op == "expand") return {expand(x, spec.at("shape").get<Shape>())};
  if (op == "linear") return {linear(x, in[1], in.size() > 2 ? in[2] : Tensor())};
  if (op == "batched_linear") return {batched_linear(x, in[1], in.size() > 2 ? in[2] : Tensor())};
  throw std::invalid_argument("test_reference: no ember op for \"" + op + "\"");
}

/// Runs one case: forward, then vᵀJ (plain and with create_graph), then the Hessian-vector
/// product where the case has one.
void check_case(const SafetensorsFile& file, const json& spec, WorstErrors& worst) {
  const std::string name = spec.at("name");
  INFO("case \"" << name << "\": " << spec.dump());
  auto stored = [&](const std::string& key) { return file.at(name + "/" + key); };
  auto check = [&](const Tensor& actual, const std::string& key, Tolerance tolerance, Stage stage) {
    const std::string problem = compare(actual, stored(key), tolerance, stage, name, worst);
    INFO(key << ": " << problem);
    CHECK(problem.empty());
  };

  const auto grad_inputs = spec.at("grad_inputs").get<std::vector<int64_t>>();
  auto differentiable = [&](int64_t i) {
    return std::find(grad_inputs.begin(), grad_inputs.end(), i) != grad_inputs.end();
  };
  std::vector<Tensor> inputs;
  for (int64_t i = 0; i < spec.at("inputs").get<int64_t>(); ++i) {
    const Tensor value = stored("in" + std::to_string(i));
    inputs.push_back(tensor(value.to_vector(), value.shape(), differentiable(i)));
  }
  std::vector<Tensor> wrt;
  for (int64_t i : grad_inputs) wrt.push_back(inputs[size_t(i)]);

  // One case throwing (an unimplemented op, a wrong shape check) must not hide the others.
  try {
    const std::vector<Tensor> outputs = run_op(spec, inputs);
    check(outputs[0], "out", kForward, kForwardStage);
    if (outputs.size() > 1) check(outputs[1], "indices", kExact, kForwardStage);
    if (wrt.empty()) return;

    // Plain backward first, then the differentiable one (create_graph), which may take
    // another path through the engine: both must give PyTorch's gradient.
    std::vector<Tensor> grads;
    for (bool create_graph : {false, true}) {
      INFO("create_graph=" << create_graph);
      grads = grad({outputs[0]}, wrt, {stored("gout")}, /*retain_graph=*/true, create_graph);
      for (size_t j = 0; j < wrt.size(); ++j) {
        check(grads[j], "grad" + std::to_string(grad_inputs[j]), kGradient, kGradientStage);
      }
    }
    if (!spec.at("hvp").get<bool>()) return;

    // d/dx sum_j <grad_j, u_j>: the Hessian of <out, v> applied to the directions u.
    Tensor inner = scalar_tensor(0.f);
    for (size_t j = 0; j < wrt.size(); ++j) {
      inner = inner + sum(grads[j] * stored("u" + std::to_string(grad_inputs[j])));
    }
    std::vector<Tensor> hvps(wrt.size());
    // A gradient that does not depend on the inputs at all (relu's mask, say) has a zero
    // Hessian; ember may not record it where PyTorch records a multiplication by zero.
    if (inner.requires_grad()) {
      hvps = grad({inner}, wrt, {}, /*retain_graph=*/false, /*create_graph=*/false,
                  /*allow_unused=*/true);
    }
    for (size_t j = 0; j < wrt.size(); ++j) {
      const Tensor hvp = hvps[j].defined() ? hvps[j] : zeros(wrt[j].shape());
      check(hvp, "hvp" + std::to_string(grad_inputs[j]), kSecondOrder, kSecondOrderStage);
    }
  } catch (const std::exception& error) {
    FAIL_CHECK("threw: " << error.what());
  }
}

void check_family(const std::string& family) {
  const SafetensorsFile file =
      load_safetensors(std::string(EMBER_REFERENCE_DIR) + "/" + family + ".safetensors");
  const json cases = json::parse(file.metadata.at("cases"));
  REQUIRE(!cases.empty());
  WorstErrors worst;
  for (const json& spec : cases) check_case(file, spec, worst);
  if (std::getenv("EMBER_REFERENCE_REPORT") != nullptr) worst.print(family);
}

}  // namespace

TEST_CASE("binary ops, broadcasting and comparisons match PyTorch", "[reference]") {
  check_family("binary");
}

TEST_CASE("unary ops match PyTorch, kinks and saturated tails included", "[reference]") {
  check_family("unary");
}

TEST_CASE("reductions match PyTorch, zero-size inputs included", "[reference]") {
  check_family("reduce");
}

TEST_CASE("softmax and log_softmax match PyTorch, at +-1e4 too", "[reference]") {
  check_family("softmax");
}

TEST_CASE("shape ops match PyTorch", "[reference]") { check_family("shape"); }

TEST_CASE("matmul, linear and batched_linear match PyTorch over every shape combination",
          "[reference]") {
  check_family("linalg");
}
