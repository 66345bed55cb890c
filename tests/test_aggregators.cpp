// PCGrad, MGDA and CAGrad (models/multitask/aggregators.h): hand-worked cases, a brute-force
// check of MGDA's minimum, references on random Jacobians from NumPy/SciPy
// (tests/reference/generate_aggregators.py wrote aggregators.json, computing each method
// from its paper's definition by other means than ember), and PCGrad inside
// JacobianBalancer on a tiny two-task network against a Jacobian built by hand.

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <ember/ember.h>

using namespace ember;
using namespace ember::models::mtl;
using Catch::Contains;
using nlohmann::json;

namespace {

void check_vector(const Tensor& actual, const std::vector<double>& expected, double tolerance) {
  const std::vector<float> got = actual.to_vector();
  REQUIRE(got.size() == expected.size());
  for (size_t p = 0; p < got.size(); ++p) {
    INFO("element " << p << ": " << got[p] << " vs " << expected[p]);
    CHECK(std::abs(double(got[p]) - expected[p]) <= tolerance);
  }
}

double norm_of(const Tensor& v) {
  double sum = 0;
  for (const float x : v.to_vector()) sum += double(x) * x;
  return std::sqrt(sum);
}

}  // namespace

TEST_CASE("PCGrad projects two conflicting 2-D gradients onto each other's normal planes") {
  // g1 = (2, 0), g2 = (-1, 1): g1·g2 = -2 < 0, |g1|² = 4, |g2|² = 2.
  //   g1' = g1 - (-2 / 2) g2 = (2, 0) + (-1, 1) = (1, 1)      (g1'·g2 = 0)
  //   g2' = g2 - (-2 / 4) g1 = (-1, 1) + (1, 0) = (0, 1)      (g2'·g1 = 0)
  //   d = g1' + g2' = (1, 2) = 1.5 g1 + 2 g2.
  PCGrad pcgrad(/*shuffle=*/false);
  check_vector(pcgrad(tensor({2.f, 0.f, -1.f, 1.f}, {2, 2})), {1.0, 2.0}, 1e-6);
  CHECK(pcgrad.last_weights() == std::vector<double>{1.5, 2.0});
}

TEST_CASE("PCGrad leaves gradients that do not conflict unchanged, so d is their sum") {
  PCGrad pcgrad;
  // Pairwise inner products 1, 0 and 5: none negative.
  check_vector(pcgrad(tensor({1.f, 2.f, 0.f, 3.f, -1.f, 1.f, 0.f, 0.f, 5.f}, {3, 3})),
               {4.0, 1.0, 6.0}, 1e-6);
  CHECK(pcgrad.last_weights() == std::vector<double>{1.0, 1.0, 1.0});
}

TEST_CASE("PCGrad's random order comes from the calling thread's generator") {
  manual_seed(1);
  const Tensor J = randn({4, 6});
  PCGrad pcgrad;
  manual_seed(7);
  const std::vector<float> first = pcgrad(J).to_vector();
  manual_seed(7);
  CHECK(pcgrad(J).to_vector() == first);
}

TEST_CASE("MGDA's two-task closed form gives the min-norm point of the segment") {
  // g1 = (1, 0), g2 = (0, 2): γ = (g2 - g1)·g2 / |g1 - g2|² = (-1, 2)·(0, 2) / 5 = 4/5, so
  // d = 0.8 g1 + 0.2 g2 = (0.8, 0.4), orthogonal to g1 - g2 = (1, -2).
  MGDA mgda;
  check_vector(mgda(tensor({1.f, 0.f, 0.f, 2.f}, {2, 2})), {0.8, 0.4}, 1e-7);
  CHECK(mgda.last_weights()[0] == Approx(0.8).epsilon(1e-12));
  CHECK(mgda.last_weights()[1] == Approx(0.2).epsilon(1e-12));
  // g1 = (1, 0), g2 = (2, 0): γ = (1, 0)·(2, 0) / 1 = 2, clamped to 1: d = g1.
  check_vector(mgda(tensor({1.f, 0.f, 2.f, 0.f}, {2, 2})), {1.0, 0.0}, 0.0);
  CHECK(mgda.last_weights() == std::vector<double>{1.0, 0.0});
}

TEST_CASE("MGDA's result for three tasks is no longer than any point of a fine simplex grid") {
  manual_seed(4);
  const Tensor J = randn({3, 4});
  const std::vector<float> rows = J.to_vector();
  MGDA mgda;
  const Tensor d = mgda(J);
  // Brute force: every w = (a, b, 1 - a - b) / n on a grid of step 1/n.
  const int n = 400;
  double grid_min = INFINITY;
  for (int a = 0; a <= n; ++a) {
    for (int b = 0; a + b <= n; ++b) {
      const double w[3] = {double(a) / n, double(b) / n, double(n - a - b) / n};
      double sum = 0;
      for (int p = 0; p < 4; ++p) {
        double x = 0;
        for (int t = 0; t < 3; ++t) x += w[t] * rows[t * 4 + p];
        sum += x * x;
      }
      grid_min = std::min(grid_min, sum);
    }
  }
  const double norm_sq = norm_of(d) * norm_of(d);
  // Above the true minimum by at most the Frank–Wolfe gap; the grid is coarser than that.
  CHECK(norm_sq <= grid_min + 1e-7);
  // And the grid's best is near it: a step of 1/n moves |d|² by O(|g|²/n).
  CHECK(norm_sq >= grid_min - 1e-2);
  double weight_sum = 0;
  for (const double w : mgda.last_weights()) {
    CHECK(w >= 0);
    weight_sum += w;
  }
  CHECK(weight_sum == Approx(1.0).epsilon(1e-12));
}

TEST_CASE("CAGrad with c = 0 is the mean gradient") {
  CAGrad cagrad(0.0);
  check_vector(cagrad(tensor({2.f, 0.f, 4.f, -1.f, 1.f, 2.f}, {2, 3})), {0.5, 0.5, 3.0}, 1e-6);
  CHECK(cagrad.last_weights() == std::vector<double>{0.5, 0.5});
}

TEST_CASE("aggregators reject a Jacobian that is not a non-empty matrix, and CAGrad a negative c") {
  PCGrad pcgrad;
  MGDA mgda;
  CAGrad cagrad;
  for (Aggregator* method : std::vector<Aggregator*>{&pcgrad, &mgda, &cagrad}) {
    CHECK_THROWS_WITH((*method)(zeros({3})), Contains("[3]") && Contains("[T, P]"));
    CHECK_THROWS_WITH((*method)(zeros({0, 4})), Contains("[0, 4]"));
    CHECK_THROWS_WITH((*method)(zeros({2, 0})), Contains("[2, 0]"));
    CHECK_THROWS_WITH((*method)(Tensor()), Contains("undefined"));
  }
  CHECK_THROWS_WITH(pcgrad(zeros({3})), Contains("PCGrad"));
  CHECK_THROWS_WITH(mgda(zeros({3})), Contains("MGDA"));
  CHECK_THROWS_WITH(cagrad(zeros({3})), Contains("CAGrad"));
  CHECK_THROWS_WITH(CAGrad(-0.1), Contains("CAGrad") && Contains("-0.1"));
  CHECK_THROWS_WITH(MGDA(0), Contains("MGDA"));
}

TEST_CASE("PCGrad, MGDA and CAGrad match NumPy and SciPy on random Jacobians") {
  std::ifstream file(std::string(EMBER_REFERENCE_DIR) + "/aggregators.json");
  REQUIRE(file);
  const json fixture = json::parse(file);
  REQUIRE(fixture["cases"].size() == 18);
  for (const json& c : fixture["cases"]) {
    INFO(c["name"].get<std::string>());
    std::vector<float> flat;
    for (const json& row : c["jacobian"]) {
      for (const json& value : row) flat.push_back(value.get<float>());
    }
    const int64_t T = int64_t(c["jacobian"].size()), P = int64_t(flat.size()) / T;
    const Tensor J = tensor(flat, {T, P});
    double scale = 0;  // max |J_ij|: tolerances are relative to it
    for (const float x : flat) scale = std::max(scale, double(std::abs(x)));
    // Both sides are exact up to rounding (PCGrad) or solved to ~1e-9 (the references'
    // face enumeration and SLSQP; ember's Frank–Wolfe gap 1e-12 and projected gradient);
    // ember returns float32, so a few ulps of numbers up to ~T·scale.
    const double tolerance = 1e-5 * scale;
    PCGrad pcgrad(/*shuffle=*/false);
    check_vector(pcgrad(J), c["pcgrad"].get<std::vector<double>>(), tolerance);
    MGDA mgda;
    const Tensor d = mgda(J);
    check_vector(d, c["mgda"].get<std::vector<double>>(), tolerance);
    CHECK(std::abs(norm_of(d) - c["mgda_norm"].get<double>()) <= tolerance);
    CAGrad cagrad(0.5);
    check_vector(cagrad(J), c["cagrad"].get<std::vector<double>>(), tolerance);
  }
}

TEST_CASE(
    "JacobianBalancer with PCGrad puts the projected sum into the trunk and Σ L_i's "
    "gradient into the heads") {
  manual_seed(2);
  nn::Linear trunk(3, 4), head_a(4, 1), head_b(4, 1);
  const Tensor x = randn({6, 3}), y = 0.5f * randn({6, 1}) + 1.5f;
  const std::vector<Tensor> shared = {trunk.weight, trunk.bias};
  const std::vector<Tensor> heads = {head_a.weight, head_a.bias, head_b.weight, head_b.bias};
  // Head b is head a negated, with the same target: their trunk gradients, (o - y)·∂o/∂θ and
  // (o + y)·∂o/∂θ summed over the rows, point apart where y outweighs the outputs o. With y
  // around 1.5 they did on all of 300 draws (cosines -0.35 to -1); with y standard normal,
  // 61 of 300 did not conflict.
  {
    NoGradGuard no_grad;
    head_b.weight.copy_(head_a.weight * -1.f);
    head_b.bias.copy_(head_a.bias * -1.f);
  }
  const auto losses = [&] {
    const Tensor h = trunk(x).relu();
    return std::vector<Tensor>{mse_loss(head_a(h), y), mse_loss(head_b(h), y)};
  };
  const auto clear = [&] {
    for (const Tensor& p : shared) p.set_grad({});
    for (const Tensor& p : heads) p.set_grad({});
  };
  // J by hand: one backward per task, the trunk's .grad() flattened into a row.
  std::vector<std::vector<double>> rows(2);
  std::vector<double> heads_sum;
  for (int task = 0; task < 2; ++task) {
    clear();
    losses()[task].backward();
    for (const Tensor& p : shared) {
      for (const float g : p.grad().to_vector()) rows[task].push_back(g);
    }
    size_t k = 0;
    for (const Tensor& p : heads) {
      const std::vector<float> g =
          p.grad().defined() ? p.grad().to_vector() : std::vector<float>(p.numel(), 0.f);
      for (const float value : g) {
        if (task == 0)
          heads_sum.push_back(value);
        else
          heads_sum[k] += value;
        ++k;
      }
    }
  }
  double dot = 0, norm_a = 0, norm_b = 0;
  for (size_t p = 0; p < rows[0].size(); ++p) {
    dot += rows[0][p] * rows[1][p];
    norm_a += rows[0][p] * rows[0][p];
    norm_b += rows[1][p] * rows[1][p];
  }
  REQUIRE(dot < 0);
  // Two tasks: d = (g_a - (g_a·g_b/|g_b|²) g_b) + (g_b - (g_a·g_b/|g_a|²) g_a).
  std::vector<double> expected(rows[0].size());
  for (size_t p = 0; p < expected.size(); ++p) {
    expected[p] = rows[0][p] * (1 - dot / norm_a) + rows[1][p] * (1 - dot / norm_b);
  }
  clear();
  const std::unique_ptr<Balancer> balancer =
      make_balancer("pcgrad", shared, {models::regression("a"), models::regression("b")});
  CHECK(balancer->name() == "pcgrad");
  balancer->backward(losses());
  std::vector<double> got_shared, got_heads;
  for (const Tensor& p : shared) {
    for (const float g : p.grad().to_vector()) got_shared.push_back(g);
  }
  for (const Tensor& p : heads) {
    for (const float g : p.grad().to_vector()) got_heads.push_back(g);
  }
  REQUIRE(got_shared.size() == expected.size());
  for (size_t p = 0; p < expected.size(); ++p)
    CHECK(got_shared[p] == Approx(expected[p]).margin(1e-6));
  REQUIRE(got_heads.size() == heads_sum.size());
  for (size_t p = 0; p < heads_sum.size(); ++p)
    CHECK(got_heads[p] == Approx(heads_sum[p]).margin(1e-6));
}

TEST_CASE("make_balancer knows pcgrad, mgda and cagrad") {
  const Tensor w = zeros({2}, /*requires_grad=*/true);
  for (const std::string name : {"pcgrad", "mgda", "cagrad"}) {
    CHECK(make_balancer(name, {w}, {models::regression("a"), models::regression("b")})->name() ==
          name);
  }
}
