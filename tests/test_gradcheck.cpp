// Every differentiable op against central finite differences (core/gradcheck.h states the
// tolerances: eps 1e-3, atol 1e-3, rtol 1e-2 for float32).

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

#include <ember/ember.h>

using namespace ember;
using Inputs = std::vector<Tensor>;

namespace {

// Random inputs away from kinks: |x| in [0.2, 1.2] with random signs, or positive when asked.
Tensor sample(const Shape& shape, bool positive = false) {
  Tensor t = rand(shape) + 0.2f;
  if (positive) return t.detach();
  Tensor sign = (rand(shape) > 0.5f) * 2.f - 1.f;
  return (t * sign).detach();
}

// Values on a grid of step 0.1, shifted by `offset`: two such tensors with different offsets
// never come within finite-difference distance of each other (for maximum / minimum).
Tensor sample_grid(const Shape& shape, float offset) {
  Tensor steps = rand(shape) * 20.f - 10.f;
  for (int64_t i = 0; i < steps.numel(); ++i) steps.data()[i] = std::floor(steps.data()[i]);
  return (steps * 0.1f + offset).detach();
}

// Values 0.1 apart from each other, from -1.15 up, in random places: for max and min, whose
// gradient jumps where two values along the reduced dim trade places (from `sample`, two of
// them came within eps on about 1 draw in 150).
Tensor sample_distinct(const Shape& shape) {
  const std::vector<float> keys = rand(shape).to_vector();
  std::vector<size_t> places(keys.size());
  std::iota(places.begin(), places.end(), size_t{0});
  std::sort(places.begin(), places.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });
  std::vector<float> values(keys.size());
  for (size_t k = 0; k < places.size(); ++k) values[places[k]] = -1.15f + 0.1f * float(k);
  return tensor(values, shape);
}

void check(const std::function<Tensor(const Inputs&)>& fn, const Inputs& inputs) {
  const GradcheckReport report = gradcheck(fn, inputs);
  INFO(report.summary());
  CHECK(report.passed);
}

// The broadcast shape pairs of the issue, plus equal shapes.
const std::vector<std::pair<Shape, Shape>> kBroadcastPairs = {{{1}, {}},
                                                              {{2}, {}},
                                                              {{1}, {2}},
                                                              {{2, 1}, {2}},
                                                              {{1, 2}, {2}},
                                                              {{3, 2}, {2}},
                                                              {{1, 3, 2}, {2}},
                                                              {{1, 3, 2}, {3, 2}},
                                                              {{3, 1, 2}, {3, 2}},
                                                              {{2, 3, 2}, {}},
                                                              {{3, 1, 2}, {1, 3, 2}},
                                                              {{2, 3}, {2, 3}}};

}  // namespace

TEST_CASE("gradcheck: binary ops over every broadcast pair, both orders", "[gradcheck]") {
  manual_seed(1);
  const std::vector<std::pair<const char*, std::function<Tensor(const Inputs&)>>> ops = {
      {"add", [](const Inputs& x) { return x[0] + x[1]; }},
      {"sub", [](const Inputs& x) { return x[0] - x[1]; }},
      {"mul", [](const Inputs& x) { return x[0] * x[1]; }},
      {"div", [](const Inputs& x) { return x[0] / x[1]; }},
  };
  for (const auto& [name, fn] : ops) {
    for (const auto& [sa, sb] : kBroadcastPairs) {
      for (bool swap : {false, true}) {
        INFO(name << " " << to_string(swap ? sb : sa) << " with " << to_string(swap ? sa : sb));
        check(fn, {sample(swap ? sb : sa), sample(swap ? sa : sb)});
      }
    }
  }
}

TEST_CASE("gradcheck: maximum and minimum over every broadcast pair", "[gradcheck]") {
  manual_seed(10);
  for (const auto& [sa, sb] : kBroadcastPairs) {
    INFO(to_string(sa) << " with " << to_string(sb));
    const Inputs inputs = {sample_grid(sa, 0.03f), sample_grid(sb, 0.07f)};
    check([](const Inputs& x) { return maximum(x[0], x[1]); }, inputs);
    check([](const Inputs& x) { return minimum(x[0], x[1]); }, inputs);
  }
}

TEST_CASE("gradcheck: pow with tensor and float exponents", "[gradcheck]") {
  manual_seed(2);
  for (const auto& [sa, sb] : kBroadcastPairs) {
    INFO(to_string(sa) << " ^ " << to_string(sb));
    check([](const Inputs& x) { return pow(x[0], x[1]); }, {sample(sa, true), sample(sb)});
  }
  check([](const Inputs& x) { return pow(x[0], 3.f); }, {sample({2, 3})});
  check([](const Inputs& x) { return pow(x[0], -1.5f); }, {sample({4}, true)});
  check([](const Inputs& x) { return pow(x[0], 0.f); }, {sample({4})});
}

TEST_CASE("gradcheck: where routes the gradient by the condition", "[gradcheck]") {
  manual_seed(3);
  const Tensor condition = tensor({1.f, 0.f, 0.f, 1.f, 1.f, 0.f}, {2, 3});
  check([&](const Inputs& x) { return where(condition, x[0], x[1]); },
        {sample({2, 3}), sample({3})});
}

TEST_CASE("gradcheck: unary ops", "[gradcheck]") {
  manual_seed(4);
  const std::vector<std::tuple<const char*, std::function<Tensor(const Inputs&)>, bool>> ops = {
      {"neg", [](const Inputs& x) { return -x[0]; }, false},
      {"exp", [](const Inputs& x) { return exp(x[0]); }, false},
      {"log", [](const Inputs& x) { return log(x[0]); }, true},
      {"sqrt", [](const Inputs& x) { return sqrt(x[0]); }, true},
      {"abs", [](const Inputs& x) { return abs(x[0]); }, false},
      {"relu", [](const Inputs& x) { return relu(x[0]); }, false},
      {"sigmoid", [](const Inputs& x) { return sigmoid(x[0] * 3.f); }, false},
      {"tanh", [](const Inputs& x) { return tanh(x[0] * 2.f); }, false},
      {"erf", [](const Inputs& x) { return erf(x[0]); }, false},
      {"gelu", [](const Inputs& x) { return gelu(x[0] * 2.f); }, false},
      {"gelu tanh", [](const Inputs& x) { return gelu(x[0] * 2.f, true); }, false},
      {"softplus", [](const Inputs& x) { return softplus(x[0] * 2.f); }, false},
  };
  for (const auto& [name, fn, positive] : ops) {
    INFO(name);
    check(fn, {sample({3, 4}, positive)});
  }
  // clamp has kinks at its bounds, and softplus with threshold 1 a jump where β·x crosses it
  // (at x = 0.5: log(1 + e)/2 on one side, 0.5 on the other); central differences across
  // either are wrong. On the grid below every input is 0.05 from them. (A draw of `sample`
  // puts one of 12 inputs within eps of a clamp bound about 2.4% of the time, of the jump
  // about 1.2%.)
  const std::vector<std::pair<const char*, std::function<Tensor(const Inputs&)>>> kinked = {
      {"clamp", [](const Inputs& x) { return clamp(x[0], -0.7f, 0.9f); }},
      {"softplus beta 2 threshold 1", [](const Inputs& x) { return softplus(x[0], 2.f, 1.f); }},
  };
  for (const auto& [name, fn] : kinked) {
    INFO(name);
    check(fn, {sample_grid({3, 4}, 0.05f)});
  }
}

TEST_CASE("gradcheck: reductions", "[gradcheck]") {
  manual_seed(5);
  const Tensor x = sample({2, 3, 4});
  check([](const Inputs& in) { return sum(in[0]); }, {x});
  check([](const Inputs& in) { return sum(in[0], {1}); }, {x});
  check([](const Inputs& in) { return sum(in[0], {0, -1}, true); }, {x});
  check([](const Inputs& in) { return mean(in[0]); }, {x});
  check([](const Inputs& in) { return mean(in[0], {2}, true); }, {x});
  check([](const Inputs& in) { return var(in[0]); }, {x});
  check([](const Inputs& in) { return var(in[0], {1}, false, true); }, {x});
  check([](const Inputs& in) { return var(in[0], {0, 2}, true, false); }, {x});
  check([](const Inputs& in) { return ember::std(in[0]); }, {x});
  check([](const Inputs& in) { return ember::std(in[0], {1}, false, true); }, {x});
  check([](const Inputs& in) { return ember::std(in[0], {0, 2}); }, {x});
  const Tensor distinct = sample_distinct({2, 3, 4});
  check([](const Inputs& in) { return max(in[0], 1).values; }, {distinct});
  check([](const Inputs& in) { return min(in[0], -1, true).values; }, {distinct});
  check([](const Inputs& in) { return logsumexp(in[0], 2); }, {x});
  check([](const Inputs& in) { return logsumexp(in[0], 0, true); }, {x});
}

TEST_CASE("gradcheck: softmax and log_softmax along each dim", "[gradcheck]") {
  manual_seed(6);
  const Tensor x = sample({2, 3, 4});
  for (int64_t dim : {0, 1, 2, -1}) {
    INFO("dim " << dim);
    check([dim](const Inputs& in) { return softmax(in[0], dim); }, {x});
    check([dim](const Inputs& in) { return log_softmax(in[0], dim); }, {x});
  }
}

TEST_CASE("gradcheck: shape ops", "[gradcheck]") {
  manual_seed(7);
  const Tensor x = sample({2, 3, 4});
  check([](const Inputs& in) { return clone(in[0]); }, {x});
  check([](const Inputs& in) { return reshape(in[0], {4, -1}); }, {x});
  check([](const Inputs& in) { return flatten(in[0], 1); }, {x});
  check([](const Inputs& in) { return transpose(in[0], 0, 2); }, {x});
  check([](const Inputs& in) { return permute(in[0], {1, 2, 0}); }, {x});
  check([](const Inputs& in) { return unsqueeze(in[0], 1); }, {x});
  check([](const Inputs& in) { return squeeze(unsqueeze(in[0], 0)); }, {x});
  check([](const Inputs& in) { return cat({in[0], in[1]}, 1); }, {x, sample({2, 2, 4})});
  check([](const Inputs& in) { return stack({in[0], in[1]}, -1); }, {x, sample({2, 3, 4})});
  check([](const Inputs& in) { return narrow(in[0], 2, 1, 2); }, {x});
  check([](const Inputs& in) { return slice(in[0], 1, -2, 100); }, {x});
  const Tensor index = tensor({2.f, 0.f, 2.f});
  check([&](const Inputs& in) { return index_select(in[0], 1, index); }, {x});
  check([&](const Inputs& in) { return index_add(in[0], 2, index, in[1]); },
        {x, sample({2, 3, 3})});
  check([](const Inputs& in) { return expand(in[0], {2, 3, 4}); }, {sample({3, 1})});
  check([](const Inputs& in) { return sum_to(in[0], {3, 1}); }, {x});
}

TEST_CASE("gradcheck: matmul in every rank combination and linear", "[gradcheck]") {
  manual_seed(8);
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{4}, {4}},       {{3, 4}, {4}},          {{4}, {4, 2}},
      {{3, 4}, {4, 2}}, {{2, 3, 4}, {2, 4, 5}}, {{2, 1, 3, 4}, {5, 4, 2}},
      {{2, 3, 4}, {4}}, {{4}, {2, 4, 3}},       {{2, 3, 4}, {4, 2}}};
  for (const auto& [sa, sb] : shapes) {
    INFO(to_string(sa) << " @ " << to_string(sb));
    check([](const Inputs& in) { return matmul(in[0], in[1]); }, {sample(sa), sample(sb)});
  }
  check([](const Inputs& in) { return linear(in[0], in[1], in[2]); },
        {sample({5, 3}), sample({2, 3}), sample({2})});
  check([](const Inputs& in) { return linear(in[0], in[1]); }, {sample({2, 4, 3}), sample({2, 3})});
}

TEST_CASE("gradcheck: the fused backwards of relu, pow, sum, mean and mse_loss are differentiable",
          "[gradcheck]") {
  // relu, pow, sum, mean and mse_loss compute their gradients with one-pass primitives;
  // create_graph runs
  // those primitives' own backwards. Differentiating the gradient checks them: in the output
  // gradient `gout` and (for mse_loss) in the input and the target.
  // gradcheck's finite differences run without grad mode, on inputs that need no gradient;
  // the inner grad() needs both, so it gets fresh leaves there and returns plain values.
  auto with_graph = [](std::function<Tensor(const Inputs&)> fn) {
    return [fn](const Inputs& x) {
      if (grad_enabled()) return fn(x);
      set_grad_enabled(true);
      Inputs leaves;
      for (const Tensor& t : x) leaves.push_back(t.detach().requires_grad_(true));
      const Tensor out = fn(leaves).detach();
      set_grad_enabled(false);
      return out;
    };
  };
  check(with_graph([](const Inputs& x) {
          return grad({relu(x[0])}, {x[0]}, {x[1]}, /*retain_graph=*/false, true)[0] * x[0];
        }),
        {sample({3, 4}), sample({3, 4})});
  for (const float exponent : {2.f, 3.f, 0.5f, 1.f, 0.f}) {
    INFO("pow " << exponent);
    check(with_graph([exponent](const Inputs& x) {
            const Tensor g = grad({pow(x[0], exponent)}, {x[0]}, {x[1]}, false, true)[0];
            return g * g + g * x[0];
          }),
          {sample({3, 4}, /*positive=*/exponent == 0.5f), sample({3, 4})});
  }
  for (const bool average : {false, true}) {
    for (const bool keepdim : {false, true}) {
      INFO((average ? "mean" : "sum") << " over dims 0 and 2, keepdim " << keepdim);
      const auto reduce = [average, keepdim](const Tensor& x) {
        return average ? mean(x, {0, 2}, keepdim) : sum(x, {0, 2}, keepdim);
      };
      const Shape gout_shape = keepdim ? Shape{1, 3, 1} : Shape{3};
      check(with_graph([reduce](const Inputs& x) {
              const Tensor g = grad({reduce(x[0])}, {x[0]}, {x[1]}, false, true)[0];
              return g * g * x[0];
            }),
            {sample({2, 3, 4}), sample(gout_shape)});
    }
    INFO((average ? "mean" : "sum") << " over a dim of size 1");
    check(with_graph([average](const Inputs& x) {
            const Tensor y = average ? mean(x[0], {1}) : sum(x[0], {1});
            const Tensor g = grad({y}, {x[0]}, {x[1]}, false, true)[0];
            return g * g * x[0];
          }),
          {sample({2, 1, 4}), sample({2, 4})});
  }
  for (const nn::Reduction reduction :
       {nn::Reduction::Mean, nn::Reduction::Sum, nn::Reduction::None}) {
    const Shape gout_shape = reduction == nn::Reduction::None ? Shape{3, 4} : Shape{};
    check(with_graph([reduction](const Inputs& x) {
            const Tensor loss = nn::mse_loss(x[0], x[1], reduction);
            const std::vector<Tensor> grads =
                grad({loss}, {x[0], x[1]}, {x[2]}, /*retain_graph=*/false, true);
            return grads[0] * grads[0] + grads[1] * x[1];
          }),
          {sample({3, 4}), sample({3, 4}), sample(gout_shape)});
  }
}

TEST_CASE("gradcheck fails on a wrong gradient", "[gradcheck]") {
  // A deliberately wrong backward (d/dx x² claimed to be x, not 2x) must be caught.
  auto wrong_square = [](const Inputs& in) {
    const Tensor& x = in[0];
    Tensor out = x.detach() * x.detach();
    return record("WrongSquareBackward", out, {x}, {x},
                  [](const Tensor& g, const BackwardContext& ctx) {
                    return std::vector<Tensor>{g * ctx.saved[0]};
                  });
  };
  manual_seed(9);
  CHECK_FALSE(gradcheck(wrong_square, {sample({3})}).passed);
}
