// UPGrad and Nash-MTL (models/multitask/dual_aggregators.h): hand-worked 2 x 2 cases, the
// properties each method promises on random Jacobians, and the references that
// tests/reference/generate_aggregators_torchjd.py wrote to aggregators_torchjd.json (torchjd,
// and the papers' formulas through SciPy's NNLS and root finder). Then the solver behind
// UPGrad, the errors, and the two methods behind make_balancer.

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <ember/core/ops.h>
#include <ember/core/tensor.h>
#include <ember/error.h>
#include <ember/models/multitask/dual_aggregators.h>
#include <ember/models/multitask/qp.h>

using namespace ember;
using namespace ember::models::mtl;
using Catch::Contains;
using nlohmann::json;

namespace {

const json& fixture() {
  static const json loaded = [] {
    std::ifstream file(std::string(EMBER_REFERENCE_DIR) + "/aggregators_torchjd.json");
    if (!file) throw std::runtime_error("cannot open tests/reference/aggregators_torchjd.json");
    return json::parse(file);
  }();
  return loaded;
}

Tensor matrix_tensor(const json& rows) {
  std::vector<float> flat;
  for (const json& row : rows)
    for (const json& value : row) flat.push_back(value.get<float>());
  return tensor(flat, {int64_t(rows.size()), int64_t(rows[0].size())});
}

// Rows of J [T, P] in double, and G = J Jᵀ from them: the tests' own arithmetic.
std::vector<std::vector<double>> rows_of(const Tensor& jacobian) {
  const int64_t T = jacobian.size(0), P = jacobian.size(1);
  std::vector<std::vector<double>> rows(T, std::vector<double>(P));
  for (int64_t i = 0; i < T; ++i)
    for (int64_t p = 0; p < P; ++p) rows[i][p] = jacobian.data()[i * P + p];
  return rows;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t k = 0; k < a.size(); ++k) s += a[k] * b[k];
  return s;
}

std::vector<double> values_of(const Tensor& t) {
  const std::vector<float> v = t.to_vector();
  return {v.begin(), v.end()};
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

// |actual - expected|_∞ <= tolerance · |expected|_∞, elementwise reported.
void check_close(const std::string& what, const std::vector<double>& actual, const json& expected,
                 double tolerance) {
  INFO(what);
  const std::vector<double> reference = expected.get<std::vector<double>>();
  REQUIRE(actual.size() == reference.size());
  const double scale = max_abs(reference);
  for (size_t k = 0; k < actual.size(); ++k) {
    INFO("index " << k << ": " << actual[k] << " vs " << reference[k]);
    CHECK(std::abs(actual[k] - reference[k]) <= tolerance * scale);
  }
}

// A Jacobian [T, P] of standard normal entries whose rows are scaled over two decades.
Tensor random_jacobian(std::mt19937& rng, int64_t T, int64_t P) {
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> exponent(-1, 1);
  std::vector<float> values(static_cast<size_t>(T * P));
  for (int64_t i = 0; i < T; ++i) {
    const float scale = std::pow(10.0f, exponent(rng));
    for (int64_t p = 0; p < P; ++p) values[i * P + p] = scale * normal(rng);
  }
  return tensor(values, {T, P});
}

}  // namespace

// g1 = (1, 0), g2 = (-1, 1) conflict (g1·g2 = -1). The dual cone {x : x1 >= 0, x2 >= x1} is
// spanned by (0, 1) and (1, 1); g1 projects onto (1, 1)/2, g2 onto (0, 1), so
// d = ((1/2, 1/2) + (0, 1)) / 2 = (1/4, 3/4) = 1·g1 + 3/4·g2, with d·g1 = 1/4, d·g2 = 1/2.
TEST_CASE("upgrad of two conflicting 2-D rows is the mean of their hand-worked projections") {
  UPGrad upgrad(/*norm_eps=*/0, /*reg_eps=*/0);
  const Tensor d = upgrad(tensor({1.f, 0.f, -1.f, 1.f}, {2, 2}));
  CHECK(d.to_vector()[0] == Approx(0.25).margin(1e-7));
  CHECK(d.to_vector()[1] == Approx(0.75).margin(1e-7));
  REQUIRE(upgrad.last_weights().size() == 2);
  CHECK(upgrad.last_weights()[0] == Approx(1.0).margin(1e-12));
  CHECK(upgrad.last_weights()[1] == Approx(0.75).margin(1e-12));
}

TEST_CASE("upgrad is the mean of the rows when no two rows conflict") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> positive(0.1f, 2.f);
  for (int64_t T : {2, 3, 6}) {
    std::vector<float> values(static_cast<size_t>(T * 20));
    for (float& v : values) v = positive(rng);  // non-negative entries: every G_ij > 0
    const Tensor jacobian = tensor(values, {T, 20});
    UPGrad upgrad;  // torchjd's normalisation and regularisation keep G_ij >= 0 too
    const std::vector<double> d = values_of(upgrad(jacobian));
    const std::vector<std::vector<double>> rows = rows_of(jacobian);
    for (int64_t p = 0; p < 20; ++p) {
      double mean = 0;
      for (int64_t i = 0; i < T; ++i) mean += rows[i][p] / double(T);
      CHECK(d[p] == Approx(mean).epsilon(1e-6));
    }
    for (double w : upgrad.last_weights()) CHECK(w == Approx(1.0 / double(T)).epsilon(1e-12));
  }
}

TEST_CASE("upgrad has a non-negative inner product with every row") {
  std::mt19937 rng(11);
  for (int64_t T : {2, 3, 5, 8, 16})
    for (int64_t P : {16, 40}) {
      const Tensor jacobian = random_jacobian(rng, T, P);
      UPGrad upgrad(0, 0);
      const std::vector<double> d = values_of(upgrad(jacobian));
      for (const std::vector<double>& row : rows_of(jacobian)) {
        // The projection leaves some inner products exactly 0; float32 rounding of d moves
        // them by ~1e-7 of |row|·|d|.
        INFO("T " << T << ", P " << P);
        CHECK(dot(row, d) >= -1e-6 * std::sqrt(dot(row, row) * dot(d, d)));
      }
    }
}

TEST_CASE("upgrad matches scipy's NNLS projections and torchjd on random Jacobians") {
  for (const json& c : fixture()["cases"]) {
    INFO(c["name"].get<std::string>());
    const Tensor jacobian = matrix_tensor(c["jacobian"]);
    const json& numpy = c["numpy"];
    // ember and NNLS both solve in double from the same float32 J; d is rounded to float32.
    UPGrad exact(0, 0);
    check_close("d vs NNLS", values_of(exact(jacobian)), numpy["upgrad_exact"]["d"], 1e-6);
    if (!numpy["upgrad_exact"]["weights"].is_null())  // unique where T <= P (G nonsingular)
      check_close("weights vs NNLS", exact.last_weights(), numpy["upgrad_exact"]["weights"], 1e-9);
    UPGrad as_torchjd;
    const std::vector<double> d = values_of(as_torchjd(jacobian));
    check_close("d vs NNLS, torchjd's variant", d, numpy["upgrad_torchjd"]["d"], 1e-6);
    check_close("weights vs NNLS, torchjd's variant", as_torchjd.last_weights(),
                numpy["upgrad_torchjd"]["weights"], 1e-9);
    // torchjd solves the same program with quadprog, in float64 here.
    check_close("d vs torchjd", d, c["torchjd"]["upgrad"], 1e-6);
  }
}

// For two rows, α1² G11 = α2² G22 (subtract the two conditions), so α_i = c / |g_i| and
// c² (1 + cos θ) = 1. g1 = (1, 0), g2 = (-1, 1): cos θ = -1/√2, c = 1/√(1 - 1/√2), and
// d = c (g1/|g1| + g2/|g2|), of squared norm αᵀ G α = 2.
TEST_CASE("nash_mtl of two conflicting 2-D rows gives the hand-worked weights c / |g_i|") {
  const double c = 1 / std::sqrt(1 - 1 / std::sqrt(2.0));
  NashMTL nash(/*max_norm=*/0, /*reg_eps=*/0);
  const std::vector<double> d = values_of(nash(tensor({1.f, 0.f, -1.f, 1.f}, {2, 2})));
  REQUIRE(nash.last_weights().size() == 2);
  CHECK(nash.last_weights()[0] == Approx(c).epsilon(1e-9));
  CHECK(nash.last_weights()[1] == Approx(c / std::sqrt(2.0)).epsilon(1e-9));
  CHECK(d[0] == Approx(c * (1 - 1 / std::sqrt(2.0))).epsilon(1e-6));
  CHECK(d[1] == Approx(c / std::sqrt(2.0)).epsilon(1e-6));
  // max_norm = 1 (the default) shrinks d, of norm √2, to the unit bisector.
  NashMTL capped;
  const std::vector<double> unit = values_of(capped(tensor({1.f, 0.f, -1.f, 1.f}, {2, 2})));
  CHECK(unit[0] == Approx(d[0] / std::sqrt(2.0)).epsilon(1e-6));
  CHECK(unit[1] == Approx(d[1] / std::sqrt(2.0)).epsilon(1e-6));
}

TEST_CASE("nash_mtl weights are positive and satisfy alpha_i (G alpha)_i = 1") {
  std::mt19937 rng(13);
  for (int64_t T : {2, 3, 5, 8, 16})
    for (int64_t P : {16, 40}) {
      const Tensor jacobian = random_jacobian(rng, T, P);
      NashMTL nash(0, 0);
      const std::vector<double> d = values_of(nash(jacobian));
      const std::vector<double>& alpha = nash.last_weights();
      const std::vector<std::vector<double>> rows = rows_of(jacobian);
      REQUIRE(alpha.size() == size_t(T));
      for (int64_t i = 0; i < T; ++i) {
        INFO("T " << T << ", P " << P << ", task " << i);
        CHECK(alpha[i] > 0);
        double g_alpha = 0;  // (G α)_i = Σ_j g_i·g_j α_j
        for (int64_t j = 0; j < T; ++j) g_alpha += dot(rows[i], rows[j]) * alpha[j];
        CHECK(alpha[i] * g_alpha == Approx(1.0).epsilon(1e-9));
        // ... which is task i's gain along d: g_i·d = 1/α_i (d rounded to float32).
        CHECK(dot(rows[i], d) * alpha[i] == Approx(1.0).epsilon(1e-5));
      }
    }
}

TEST_CASE("nash_mtl matches scipy's root finder and torchjd on random Jacobians") {
  for (const json& c : fixture()["cases"]) {
    INFO(c["name"].get<std::string>());
    const Tensor jacobian = matrix_tensor(c["jacobian"]);
    const json& reference = c["numpy"]["nash_mtl"];
    REQUIRE(!reference.is_null());  // every case has a solution (none is Pareto-stationary)
    NashMTL exact(0, 0);
    check_close("d vs scipy", values_of(exact(jacobian)), reference["d"], 1e-6);
    check_close("alpha vs scipy", exact.last_weights(), reference["alpha"], 1e-9);
    NashMTL capped;  // max_norm = 1, reg_eps = 1e-10
    const std::vector<double> d = values_of(capped(jacobian));
    check_close("d, max_norm 1, vs scipy", d, reference["d_max_norm_1"], 1e-6);
    // torchjd stops its cvxpy iterations at |Gα - 1/α| < 1e-3 on the normalised G: in these
    // cases its α meets the condition to 5e-5 (nash_torchjd_spread) and d agrees to 3e-6.
    check_close("d vs torchjd", d, c["torchjd"]["nash_mtl"], 1e-5);
  }
}

TEST_CASE("the active-set solver meets the KKT conditions of min vᵀGv subject to v >= l") {
  std::mt19937 rng(17);
  std::normal_distribution<double> normal;
  for (int64_t n : {1, 2, 4, 9, 16}) {
    qp::Matrix g{n, std::vector<double>(static_cast<size_t>(n * n), 0.0)};
    std::vector<std::vector<double>> factor(n, std::vector<double>(n + 2));
    for (auto& row : factor)
      for (double& x : row) x = normal(rng);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) g(i, j) = dot(factor[i], factor[j]);
    std::vector<double> lower(n);
    for (double& x : lower) x = normal(rng);
    const std::vector<double> v = qp::min_quadratic_above(g, lower, "test");
    for (int64_t i = 0; i < n; ++i) {
      double multiplier = 0;  // μ = G v >= 0, zero where v_i > l_i
      for (int64_t j = 0; j < n; ++j) multiplier += g(i, j) * v[j];
      INFO("n " << n << ", i " << i << ": v " << v[i] << ", l " << lower[i] << ", μ "
                << multiplier);
      CHECK(v[i] >= lower[i]);
      CHECK(multiplier >= -1e-10);
      CHECK(std::min(v[i] - lower[i], std::max(multiplier, 0.0)) <= 1e-10);
    }
  }
}

TEST_CASE("upgrad and nash_mtl reject a malformed Jacobian, naming the method and shape") {
  UPGrad upgrad;
  NashMTL nash;
  CHECK_THROWS_WITH(upgrad(Tensor()), Contains("upgrad: the Jacobian is undefined"));
  CHECK_THROWS_WITH(upgrad(zeros({4})), Contains("upgrad") && Contains("[4]"));
  CHECK_THROWS_WITH(nash(zeros({0, 3})), Contains("nash_mtl") && Contains("[0, 3]"));
  CHECK_THROWS_WITH(nash(tensor({1.f, NAN, 0.f, 1.f}, {2, 2})),
                    Contains("nash_mtl") && Contains("[2, 2]") && Contains("non-finite"));
  CHECK_THROWS_WITH(UPGrad(-1, 0), Contains("upgrad"));
  CHECK_THROWS_WITH(NashMTL(1, -1), Contains("nash_mtl"));
  // g1 + g2 = 0: no α solves Nash-MTL's condition unless reg_eps > 0.
  CHECK_THROWS_WITH(NashMTL(1, 0)(tensor({1.f, 0.f, -1.f, 0.f}, {2, 2})),
                    Contains("nash_mtl") && Contains("[2, 2]"));
  // A quadratic that is not convex makes a subproblem fail its Cholesky factorisation.
  CHECK_THROWS_WITH(qp::min_quadratic_above(qp::Matrix{1, {-1.0}}, {1.0}, "test"),
                    Contains("test") && Contains("not positive semi-definite"));
}

TEST_CASE("upgrad and nash_mtl stay finite at a Pareto-stationary point and give 0 for J = 0") {
  NashMTL nash;  // reg_eps = 1e-10 bounds α; max_norm = 1 bounds d
  const std::vector<double> d = values_of(nash(tensor({1.f, 0.f, -1.f, 0.f}, {2, 2})));
  for (double x : d) CHECK(std::isfinite(x));
  CHECK(std::sqrt(dot(d, d)) <= 1 + 1e-6);
  CHECK(values_of(nash(zeros({3, 4}))) == std::vector<double>(4, 0.0));
  CHECK(nash.last_weights() == std::vector<double>(3, 0.0));
  UPGrad upgrad;  // the trace is below norm_eps: G = 0 + reg_eps·I, so w = e_i / T
  CHECK(values_of(upgrad(zeros({3, 4}))) == std::vector<double>(4, 0.0));
  // Without regularisation the dual cone of g1 = (1, 0), g2 = (-1, 0) is the line x1 = 0,
  // onto which both rows project to 0.
  CHECK(values_of(UPGrad(0, 0)(tensor({1.f, 0.f, -1.f, 0.f}, {2, 2}))) ==
        std::vector<double>(2, 0.0));
}

// L1 = a·θ, L2 = b·θ for a shared θ [2], so J has rows a and b. Rows (1, 0) and (1, 1) do not
// conflict: UPGrad writes their mean. Rows (1, 0) and (-1, 1): Nash-MTL writes the unit
// bisector (max_norm = 1), (1 - 1/√2, 1/√2) / |(1 - 1/√2, 1/√2)|.
TEST_CASE("make_balancer builds upgrad and nash_mtl as Jacobian balancers") {
  Tensor theta = tensor({0.3f, -0.2f}, true);
  auto losses = [&](float b0, float b1) {
    return std::vector<Tensor>{sum(theta * tensor({1.f, 0.f})), sum(theta * tensor({b0, b1}))};
  };
  auto upgrad =
      make_balancer("upgrad", {theta}, {models::regression("a"), models::regression("b")});
  CHECK(upgrad->name() == "upgrad");
  upgrad->backward(losses(1, 1));
  CHECK(theta.grad().to_vector()[0] == Approx(1.0).epsilon(1e-6));
  CHECK(theta.grad().to_vector()[1] == Approx(0.5).epsilon(1e-6));

  theta.set_grad(Tensor());
  auto nash =
      make_balancer("nash_mtl", {theta}, {models::regression("a"), models::regression("b")});
  CHECK(nash->name() == "nash_mtl");
  nash->backward(losses(-1, 1));
  const double x = 1 - 1 / std::sqrt(2.0), y = 1 / std::sqrt(2.0), norm = std::hypot(x, y);
  CHECK(theta.grad().to_vector()[0] == Approx(x / norm).epsilon(1e-6));
  CHECK(theta.grad().to_vector()[1] == Approx(y / norm).epsilon(1e-6));
  CHECK(nash->last_weights().size() == 2);
}
