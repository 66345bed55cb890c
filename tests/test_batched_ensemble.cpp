// Batched ensembles: the batched_linear op against its definition, BatchedMLP against the
// looped Ensemble it converts from and to (outputs, gradients, Adam steps), and BatchEnsemble
// against each member's explicit weight W ⊙ s_k r_kᵀ.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include <ember/ember.h>

using namespace ember;
using Catch::Contains;

namespace {

// |actual - expected| <= tolerance elementwise, with the index in the failure message.
void check_close(const Tensor& actual, const Tensor& expected, double tolerance,
                 const std::string& what) {
  REQUIRE(actual.shape() == expected.shape());
  for (int64_t i = 0; i < actual.numel(); ++i) {
    INFO(what << " element " << i << ": " << actual.data()[i] << " vs " << expected.data()[i]);
    REQUIRE(std::fabs(double(actual.data()[i]) - double(expected.data()[i])) <= tolerance);
  }
}

// out[k][b][o] = Σ_i x[k or -][b][i] · w[k][o][i] + bias[k][o], in double, by definition.
std::vector<double> batched_linear_by_definition(const Tensor& x, const Tensor& w,
                                                 const Tensor& bias) {
  const int64_t K = w.size(0), out = w.size(1), in = w.size(2), B = x.size(-2);
  std::vector<double> y(size_t(K * B * out));
  for (int64_t k = 0; k < K; ++k) {
    const float* rows = x.data() + (x.dim() == 3 ? k * B * in : 0);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t o = 0; o < out; ++o) {
        double sum = bias.defined() ? bias.data()[k * out + o] : 0.0;
        for (int64_t i = 0; i < in; ++i)
          sum += double(rows[b * in + i]) * w.data()[(k * out + o) * in + i];
        y[size_t((k * B + b) * out + o)] = sum;
      }
    }
  }
  return y;
}

models::MultiTaskNetConfig two_task_config() {
  return {.inputs = 6,
          .hidden = {12, 8},
          .activation = "tanh",
          .tasks = {models::regression("y"), models::multiclass("c", 3)}};
}

// The same loss for both forms: the mean over members of the summed task losses.
Tensor looped_loss(models::Ensemble& ensemble, const Tensor& x, const Tensor& y, const Tensor& c) {
  const auto& tasks = ensemble.member_as<models::MultiTaskNet>(0).config().tasks;
  Tensor total;
  for (int64_t k = 0; k < ensemble.size(); ++k) {
    const std::vector<Tensor> outputs = ensemble.member_outputs(k, x);
    const Tensor loss =
        models::task_loss(tasks[0], outputs[0], y) + models::task_loss(tasks[1], outputs[1], c);
    total = total.defined() ? total + loss : loss;
  }
  return total / float(ensemble.size());
}

// Over [K·B] rows with the targets repeated K times, each task's mean loss is the mean over
// members of the member's mean loss (every member has B rows).
Tensor batched_loss(models::BatchedMLP& batched, const Tensor& x, const Tensor& y,
                    const Tensor& c) {
  const auto& tasks = batched.config().tasks;
  const int64_t K = batched.size(), B = x.size(0);
  const std::vector<Tensor> outputs = batched.forward(x);
  const std::vector<Tensor> ys(size_t(K), y), cs(size_t(K), c);
  return models::task_loss(tasks[0], reshape(outputs[0], {K * B, 1}), cat(ys)) +
         models::task_loss(tasks[1], reshape(outputs[1], {K * B, 3}), cat(cs));
}

// Every batched parameter's slice k against member k's parameter of the same name, and the
// same for their gradients when `gradients`.
void check_members_equal(models::BatchedMLP& batched, models::Ensemble& ensemble, bool gradients) {
  for (const auto& [name, stacked] : batched.named_parameters()) {
    for (int64_t k = 0; k < ensemble.size(); ++k) {
      for (const auto& [member_name, own] : ensemble.member(k).named_parameters()) {
        if (member_name != name) continue;
        const std::string what = name + " of member " + std::to_string(k);
        check_close(stacked.detach().narrow(0, k, 1).squeeze(0), own, 1e-6, what);
        if (gradients)
          check_close(stacked.grad().narrow(0, k, 1).squeeze(0), own.grad(), 1e-6, what + " grad");
      }
    }
  }
}

}  // namespace

TEST_CASE(
    "batched_linear is each member's x[:, k]·w[k]ᵀ + b[k], for per-member and shared inputs") {
  manual_seed(1);
  const Tensor w = randn({3, 5, 4}), b = randn({3, 5});
  for (const Tensor& x : {randn({7, 3, 4}), randn({7, 4})}) {
    for (const Tensor& bias : {b, Tensor()}) {
      const Tensor y = batched_linear(x, w, bias);
      REQUIRE(y.shape() == Shape{7, 3, 5});
      // The definition is written member-major ([K, B, ...]); the op works member-minor.
      const Tensor member_major = permute(y, {1, 0, 2});
      const std::vector<double> expected =
          batched_linear_by_definition(x.dim() == 3 ? permute(x, {1, 0, 2}) : x, w, bias);
      for (int64_t i = 0; i < y.numel(); ++i)
        CHECK(member_major.data()[i] == Approx(expected[size_t(i)]).margin(1e-5));
    }
  }
}

TEST_CASE("batched_linear's gradients pass gradcheck, for per-member and shared inputs") {
  manual_seed(2);
  const Tensor w = randn({3, 4, 5}), b = randn({3, 4});
  const auto with_bias = [](const std::vector<Tensor>& in) {
    return batched_linear(in[0], in[1], in[2]);
  };
  const auto without_bias = [](const std::vector<Tensor>& in) {
    return batched_linear(in[0], in[1]);
  };
  for (const Tensor& x : {randn({6, 3, 5}), randn({6, 5})}) {
    const GradcheckReport report = gradcheck(with_bias, {x, w, b});
    INFO(report.summary());
    CHECK(report.passed);
    const GradcheckReport no_bias = gradcheck(without_bias, {x, w});
    INFO(no_bias.summary());
    CHECK(no_bias.passed);
  }
}

TEST_CASE("batched_linear's gradients are differentiable (create_graph) like matmul's") {
  manual_seed(3);
  const Tensor x = randn({3, 2, 4}, true), w = randn({2, 5, 4}, true);
  // L = Σ (x·wᵀ)², dL/dx = 2 (x·wᵀ)·w per member; Σ dL/dx = grad of a function of w again.
  const Tensor loss = batched_linear(x, w).pow(2.f).sum();
  const Tensor dx = grad({loss}, {x}, {}, true, true)[0];
  const Tensor x_major = permute(x, {1, 0, 2});
  const Tensor expected = permute(2.f * matmul(matmul(x_major, transpose(w, 1, 2)), w), {1, 0, 2});
  check_close(dx.detach(), expected.detach(), 1e-4, "dL/dx");
  const Tensor dw_of_dx = grad({dx.sum()}, {w})[0];
  REQUIRE(dw_of_dx.shape() == w.shape());
}

TEST_CASE("batched_linear's first derivatives pass gradcheck themselves (second order)") {
  // The gradients of L = Σ c ⊙ y² with respect to x and w, as functions of x and w: their own
  // backward runs batched_linear's rules and the weight-gradient op's.
  //
  // H below is of degree 6 in x and w, so its size goes as their scale to the sixth: with
  // standard normal x and w, |H| reaches the thousands, and float32's rounding of H divided by
  // 2 eps swamps gradcheck's atol (91 of 100 draws failed, with the rules right). At scale 0.3,
  // |H| is 0.3-4 and its derivatives 1-7; with eps = 3e-3 (truncation eps²/6·|H'''|, ~1.5e-6
  // |H'''|) the worst error over 100 draws, per-member and shared input alike, was 5.8e-4
  // against atol 1e-3, and a 5% error in one second-order rule fails it.
  manual_seed(12);
  const Tensor c = randn({4, 2, 3});
  const auto first_derivatives = [&c](const std::vector<Tensor>& in) {
    GradModeGuard recording(true);  // gradcheck's finite differences run under no_grad
    const Tensor loss = (c * batched_linear(in[0], in[1]).pow(2.f)).sum();
    const std::vector<Tensor> g = grad({loss}, {in[0], in[1]}, {}, true, true);
    return g[0].sum() + (g[1] * g[1]).sum();
  };
  for (const bool shared : {false, true}) {
    const Tensor x = 0.3f * (shared ? randn({4, 5}) : randn({4, 2, 5}));
    const GradcheckReport report =
        gradcheck(first_derivatives, {x, 0.3f * randn({2, 3, 5})}, 3e-3f);
    INFO((shared ? "shared input: " : "per-member input: ") << report.summary());
    CHECK(report.passed);
  }
}

TEST_CASE(
    "batched_linear with a shared input has the derivatives, first and second, of that "
    "input given to every member") {
  // The shared input runs its own node (the [K·out, in] view); the same x expanded to every
  // member runs the per-member one, whose second order is gradchecked above. Through both,
  // L = Σ c ⊙ y² and H = Σ dL/dx + Σ (dL/dw)² must have the same gradients.
  manual_seed(13);
  const Tensor c = randn({4, 2, 3});
  const Tensor x = randn({4, 5}, true), w = randn({2, 3, 5}, true);
  const auto derivatives = [&](const Tensor& input) {
    const Tensor loss = (c * batched_linear(input, w).pow(2.f)).sum();
    const std::vector<Tensor> first = grad({loss}, {x, w}, {}, true, true);
    const Tensor h = first[0].sum() + (first[1] * first[1]).sum();
    const std::vector<Tensor> second = grad({h}, {x, w});
    return std::vector<Tensor>{first[0].detach(), first[1].detach(), second[0], second[1]};
  };
  const std::vector<Tensor> shared = derivatives(x);
  const std::vector<Tensor> per_member = derivatives(expand(unsqueeze(x, 1), {4, 2, 5}));
  // Within 1e-5 of each array's largest magnitude: the two sum in different orders in float32
  // (dH/dx reaches ~140, where one float step is 1.5e-5).
  const char* names[] = {"dL/dx", "dL/dw", "dH/dx", "dH/dw"};
  for (size_t i = 0; i < shared.size(); ++i) {
    double largest = 1;
    for (const float v : per_member[i].to_vector())
      largest = std::max(largest, double(std::fabs(v)));
    check_close(shared[i], per_member[i], 1e-5 * largest, names[i]);
  }
}

TEST_CASE("batched_linear names itself and the shapes when they do not fit") {
  const Tensor w = zeros({3, 5, 4});
  REQUIRE_THROWS_WITH(batched_linear(zeros({7, 2, 4}), w),
                      Contains("batched_linear") && Contains("[7, 2, 4]") && Contains("[3, 5, 4]"));
  REQUIRE_THROWS_WITH(batched_linear(zeros({7, 3}), w), Contains("batched_linear"));
  REQUIRE_THROWS_WITH(batched_linear(zeros({7, 4}), zeros({5, 4})), Contains("batched_linear"));
  REQUIRE_THROWS_WITH(batched_linear(zeros({7, 4}), w, zeros({5})), Contains("bias shape [5]"));
}

TEST_CASE("BatchedLinear initialises every member like PyTorch's Linear, U(-1/√in, 1/√in)") {
  manual_seed(4);
  nn::BatchedLinear layer(4, 25, 30);
  REQUIRE(layer.weight.shape() == Shape{4, 30, 25});
  REQUIRE(layer.bias.shape() == Shape{4, 30});
  const float bound = 1.f / 5.f;
  for (int64_t k = 0; k < 4; ++k) {
    const Tensor member = layer.weight.detach().narrow(0, k, 1);
    float low = 1.f, high = -1.f;
    for (int64_t i = 0; i < member.numel(); ++i) {
      low = std::min(low, member.data()[i]);
      high = std::max(high, member.data()[i]);
    }
    // 750 uniform draws: all miss the outer 2.5% of the range below (or above) with
    // probability 0.975^750 < 1e-8.
    CHECK(low >= -bound);
    CHECK(high <= bound);
    CHECK(low < -0.95f * bound);
    CHECK(high > 0.95f * bound);
  }
  CHECK(layer.to_string().find("members=4, in_features=25, out_features=30") != std::string::npos);
  REQUIRE_THROWS_WITH(nn::BatchedLinear(0, 2, 3), Contains("BatchedLinear"));
}

TEST_CASE(
    "BatchedMLP from a looped ensemble: outputs, gradients and 10 Adam steps equal the loop") {
  manual_seed(5);
  models::Ensemble looped(4, [](int64_t) { return models::MultiTaskNet(two_task_config()); });
  models::BatchedMLP batched = models::BatchedMLP::from_ensemble(looped);
  REQUIRE(batched.size() == 4);
  const Tensor x = randn({16, 6}), y = randn({16, 1});
  Tensor c = zeros({16});
  for (int64_t i = 0; i < 16; ++i) c.data()[i] = float(i % 3);

  const std::vector<Tensor> expected = looped.stacked_outputs(x);
  const std::vector<Tensor> actual = batched.forward(x);
  REQUIRE(actual.size() == 2);
  check_close(actual[0], expected[0], 1e-6, "regression output");
  check_close(actual[1], expected[1], 1e-6, "class logits");

  looped_loss(looped, x, y, c).backward();
  batched_loss(batched, x, y, c).backward();
  check_members_equal(batched, looped, true);

  optim::Adam looped_adam(looped.parameters(), {.lr = 0.01});
  optim::Adam batched_adam(batched.parameters(), {.lr = 0.01});
  for (int step = 0; step < 10; ++step) {
    looped_adam.zero_grad();
    batched_adam.zero_grad();
    looped_loss(looped, x, y, c).backward();
    batched_loss(batched, x, y, c).backward();
    looped_adam.step();
    batched_adam.step();
  }
  check_members_equal(batched, looped, true);
  check_close(batched.forward(x)[1], looped.stacked_outputs(x)[1], 1e-6, "logits after Adam");
}

TEST_CASE("BatchedMLP to a looped ensemble and back keeps every parameter exactly") {
  manual_seed(6);
  models::BatchedMLP batched(3, two_task_config());
  models::Ensemble looped = batched.to_ensemble();
  REQUIRE(looped.size() == 3);
  check_members_equal(batched, looped, false);
  const Tensor x = randn({5, 6});
  check_close(looped.stacked_outputs(x)[0], batched.forward(x)[0], 1e-6, "outputs");

  const models::BatchedMLP back = models::BatchedMLP::from_ensemble(looped);
  const nn::NamedTensors original = batched.state_dict(), round_trip = back.state_dict();
  REQUIRE(original.size() == round_trip.size());
  for (size_t i = 0; i < original.size(); ++i) {
    REQUIRE(original[i].first == round_trip[i].first);
    check_close(round_trip[i].second, original[i].second, 0.0, original[i].first);
  }
}

TEST_CASE("BatchedMLP gives member k the slice x[k] of a [K, B, F] input") {
  manual_seed(7);
  models::BatchedMLP batched(3, {.inputs = 4, .hidden = {5}, .tasks = {models::regression("y")}});
  models::Ensemble looped = batched.to_ensemble();
  const Tensor x = randn({3, 2, 4});
  const Tensor outputs = batched.forward(x)[0];
  REQUIRE(outputs.shape() == Shape{3, 2, 1});
  for (int64_t k = 0; k < 3; ++k) {
    check_close(outputs.narrow(0, k, 1).squeeze(0),
                looped.member_outputs(k, x.narrow(0, k, 1).squeeze(0))[0], 1e-6, "member output");
  }
}

TEST_CASE("BatchedMLP from the seed's EnsembleModel averages to the seed's prediction") {
  manual_seed(8);
  models::EnsembleModel seed;
  models::BatchedMLP batched = models::BatchedMLP::from_seed(seed);
  REQUIRE(batched.size() == 3);
  const Tensor x = randn({9, 10});
  check_close(mean(batched.forward(x)[0], {0}), seed.forward(x), 1e-6, "mean prediction");
}

TEST_CASE("BatchedMLP::from_ensemble rejects other member types and mixed architectures") {
  models::Ensemble sequential(2, [](int64_t) { return nn::Sequential(nn::Linear(2, 1)); });
  REQUIRE_THROWS_WITH(models::BatchedMLP::from_ensemble(sequential), Contains("Sequential"));
  models::Ensemble mixed(2, [](int64_t k) {
    return models::MultiTaskNet(
        {.inputs = 2, .hidden = {k == 0 ? 3 : 4}, .tasks = {models::regression("y")}});
  });
  REQUIRE_THROWS_WITH(models::BatchedMLP::from_ensemble(mixed), Contains("member 1"));
  REQUIRE_THROWS_WITH(models::BatchedMLP(0, two_task_config()), Contains("BatchedMLP"));
  REQUIRE_THROWS_WITH(models::BatchedMLP(2, {.inputs = 2, .tasks = {}}),
                      Contains("BatchedMLP: no tasks"));
}

TEST_CASE("batch_ensemble_linear is x·W_kᵀ + b_k with each member's W_k = W ⊙ s_k r_kᵀ") {
  manual_seed(9);
  const int64_t K = 3, B = 4, in = 5, out = 2;
  models::BatchEnsembleLinear layer(K, in, out);
  const Tensor W = layer.weight.detach(), r = layer.r.detach(), s = layer.s.detach(),
               bias = layer.bias.detach();
  // W_k[o][i] = W[o][i] · s_k[o] · r_k[i], written out element by element.
  Tensor member_weights = zeros({K, out, in});
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t o = 0; o < out; ++o) {
      for (int64_t i = 0; i < in; ++i) {
        member_weights.data()[(k * out + o) * in + i] =
            W.data()[o * in + i] * s.data()[k * out + o] * r.data()[k * in + i];
      }
    }
  }
  check_close(layer.member_weights().detach(), member_weights, 1e-6, "W_k");
  // out·in = 10 against B·(in + out) = 28: the members' full weights; with one row, 7: the
  // scalings by r and s (batch_ensemble_linear takes the cheaper way).
  for (const Tensor& x : {randn({B, K, in}), randn({B, in}), randn({1, K, in}), randn({1, in})}) {
    const Tensor y = layer(x);
    REQUIRE(y.shape() == Shape{x.size(0), K, out});
    // The definition is written member-major ([K, B, ...]); the layer works member-minor.
    const Tensor member_major = permute(y, {1, 0, 2});
    const std::vector<double> expected = batched_linear_by_definition(
        x.dim() == 3 ? permute(x, {1, 0, 2}) : x, member_weights, bias);
    for (int64_t i = 0; i < y.numel(); ++i)
      CHECK(member_major.data()[i] == Approx(expected[size_t(i)]).margin(1e-5));
  }
  REQUIRE_THROWS_WITH(layer(zeros({B, 2, in})), Contains("batch_ensemble_linear"));
}

TEST_CASE("batch_ensemble_linear's gradients pass gradcheck") {
  // Inputs at half the standard normal's scale: the output is a product of three of them
  // (x·r, w, s), and at full scale float32's rounding in it failed 1 of 800 checks over 200
  // draws (worst error 5.1e-3 against atol 1e-3); at half scale the worst was 2.0e-4.
  manual_seed(10);
  const Tensor w = 0.5f * randn({4, 5}), r = 0.5f * randn({3, 5}), s = 0.5f * randn({3, 4}),
               b = 0.5f * randn({3, 4});
  const auto fn = [](const std::vector<Tensor>& in) {
    return models::batch_ensemble_linear(in[0], in[1], in[2], in[3], in[4]);
  };
  // out·in = 20 against B·(in + out) = 18 for B = 2 (the scalings), 72 for B = 8 (the full
  // weights).
  for (const Tensor& x : {randn({2, 3, 5}), randn({2, 5}), randn({8, 3, 5}), randn({8, 5})}) {
    const GradcheckReport report = gradcheck(fn, {0.5f * x, w, r, s, b});
    INFO(report.summary());
    CHECK(report.passed);
  }
}

TEST_CASE("BatchEnsembleLinear's fast weights: N(1, 0.5) by default, random signs for p > 0") {
  manual_seed(11);
  const models::BatchEnsembleLinear gaussian(100, 200, 1);
  const Tensor r = gaussian.r.detach();  // 20,000 draws: mean within 0.02, std within 0.02
  CHECK(mean(r).item() == Approx(1.0).margin(0.02));
  CHECK(ember::std(r).item() == Approx(0.5).margin(0.02));
  const models::BatchEnsembleLinear signs(100, 200, 1, true, 0.75f);
  const Tensor plus = signs.r.detach() == 1.f, minus = signs.r.detach() == -1.f;
  CHECK(sum(plus).item() + sum(minus).item() == 20000.f);
  CHECK(mean(plus).item() == Approx(0.75).margin(0.02));
  const models::BatchEnsembleLinear shared(2, 3, 4, true, 0.f);
  CHECK(sum(shared.s.detach() == 1.f).item() == 8.f);
  REQUIRE_THROWS_WITH(models::BatchEnsembleLinear(2, 3, 4, true, 1.5f),
                      Contains("random_sign_init"));
}

TEST_CASE("BatchEnsembleNet runs each member as the MLP of its own weights W ⊙ s_k r_kᵀ") {
  manual_seed(12);
  models::BatchEnsembleNet net(3, {.inputs = 4, .hidden = {6}, .tasks = {models::regression("y")}});
  REQUIRE(net.named_parameters().size() == 8);
  auto& hidden = dynamic_cast<models::BatchEnsembleLinear&>(net.trunk[0]);
  auto& head = dynamic_cast<models::BatchEnsembleLinear&>(net.heads["y"]);
  // A shared input [B, F], and one per member [K, B, F].
  for (const Tensor& x : {randn({5, 4}), randn({3, 5, 4})}) {
    const Tensor y = net.forward(x)[0];
    REQUIRE(y.shape() == Shape{3, 5, 1});
    for (int64_t k = 0; k < 3; ++k) {
      const auto slice = [k](const Tensor& t) { return t.detach().narrow(0, k, 1).squeeze(0); };
      const Tensor input = x.dim() == 3 ? slice(x) : x;
      const Tensor h = relu(linear(input, slice(hidden.member_weights()), slice(hidden.bias)));
      check_close(slice(y), linear(h, slice(head.member_weights()), slice(head.bias)), 1e-5,
                  "member output");
    }
  }
}
