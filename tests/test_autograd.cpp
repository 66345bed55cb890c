// The autograd engine: accumulation, the functional grad(), graph lifetime, grad mode,
// higher-order gradients, version counters and anomaly detection.

#include <catch2/catch.hpp>

#include <thread>

#include <ember/core/tensor_impl.h>
#include <ember/ember.h>

using namespace ember;
using Catch::Contains;
using Catch::StartsWith;

TEST_CASE("leaves accumulate .grad across backward calls, like PyTorch", "[autograd]") {
  Tensor x = tensor({1.f, 2.f, 3.f}, true);
  (x * x).sum().backward();
  (x * x).sum().backward();
  CHECK(x.grad().to_vector() == std::vector<float>{4.f, 8.f, 12.f});  // 2 * 2x
}

TEST_CASE("a tensor used twice receives the sum of both gradients", "[autograd]") {
  Tensor x = tensor({3.f}, true);
  Tensor y = x * x + x * 5.f;  // dy/dx = 2x + 5 = 11
  y.sum().backward();
  CHECK(x.grad().item() == 11.f);
}

TEST_CASE("leaves fed the same gradient tensor get independent .grad storage", "[autograd]") {
  Tensor a = tensor({1.f, 2.f}, true), b = tensor({3.f, 4.f}, true);
  (a + b).sum().backward();  // add passes one gradient tensor to both inputs
  {
    NoGradGuard no_grad;
    a.grad().mul_(10.f);
  }
  CHECK(a.grad().to_vector() == std::vector<float>{10.f, 10.f});
  CHECK(b.grad().to_vector() == std::vector<float>{1.f, 1.f});
}

TEST_CASE("nodes fed the same gradient tensor sum their later gradients separately", "[autograd]") {
  // a's and b's nodes both receive s's gradient, one tensor (add passes it to both inputs),
  // then one more gradient each: summed in place into a shared tensor, each would see both.
  Tensor x = tensor({1.f, 2.f}, true);
  Tensor w = tensor({1.f, -1.f}), v = tensor({10.f, 20.f}), u = tensor({100.f, 200.f});
  // Each order of the terms, as the order the gradients arrive in follows it.
  for (int order = 0; order < 3; ++order) {
    Tensor a = x * 2.f, b = x * 3.f;
    Tensor s = a + b;
    Tensor terms[3] = {(s * w).sum(), (a * v).sum(), (b * u).sum()};
    (terms[order] + terms[(order + 1) % 3] + terms[(order + 2) % 3]).backward();
  }
  // dx = 2 (w + v) + 3 (w + u), three times
  CHECK(x.grad().to_vector() == std::vector<float>{975.f, 1905.f});
}

TEST_CASE("a tensor used by three ops sums all three gradients", "[autograd]") {
  Tensor x = tensor({1.f, 2.f}, true);
  Tensor h = x * 2.f;  // a node that receives three gradients, the engine's own tensors
  ((h * 1.f).sum() + (h * 10.f).sum() + (h * 100.f).sum()).backward();
  CHECK(x.grad().to_vector() == std::vector<float>{222.f, 222.f});
}

TEST_CASE("grad() returns gradients without touching .grad", "[autograd]") {
  Tensor x = tensor({1.f, 2.f}, true), w = tensor({3.f, 4.f}, true);
  Tensor y = (x * w).sum();
  std::vector<Tensor> g = grad({y}, {x, w});
  CHECK(g[0].to_vector() == std::vector<float>{3.f, 4.f});
  CHECK(g[1].to_vector() == std::vector<float>{1.f, 2.f});
  CHECK_FALSE(x.grad().defined());
  CHECK_FALSE(w.grad().defined());
}

TEST_CASE("grad() of a non-leaf input is the gradient flowing into it", "[autograd]") {
  Tensor x = tensor({1.f, 2.f}, true);
  Tensor h = x * 3.f;
  Tensor y = (h * h).sum();
  CHECK(grad({y}, {h})[0].to_vector() == std::vector<float>{6.f, 12.f});  // 2h
}

TEST_CASE("a backward writes its gradient over the incoming one only if nothing else sees it",
          "[autograd]") {
  // relu's and pow's backwards may compute in the incoming gradient's memory (it is most often
  // a gradient the engine made for them alone); every other holder must see it unchanged.
  Tensor x = tensor({-1.f, 2.f, -3.f}, true);
  SECTION("a grad_output passed by the caller") {
    const Tensor g = tensor({5.f, 6.f, 7.f});
    backward({relu(x)}, {g});
    CHECK(g.to_vector() == std::vector<float>{5.f, 6.f, 7.f});
    CHECK(x.grad().to_vector() == std::vector<float>{0.f, 6.f, 0.f});
    backward({x.pow(2.f)}, {g});
    CHECK(g.to_vector() == std::vector<float>{5.f, 6.f, 7.f});
  }
  SECTION("a gradient grad() also returns") {
    const Tensor h = relu(x);
    const std::vector<Tensor> g = grad({(h * tensor({5.f, 6.f, 7.f})).sum()}, {h, x});
    CHECK(g[0].to_vector() == std::vector<float>{5.f, 6.f, 7.f});
    CHECK(g[1].to_vector() == std::vector<float>{0.f, 6.f, 0.f});
  }
  SECTION("a gradient that add passes to both of its inputs") {
    const Tensor a = x * 1.f, b = x * 1.f;
    (relu(a) + b.pow(2.f)).sum().backward();  // relu's and pow's nodes get one tensor
    CHECK(x.grad().to_vector() == std::vector<float>{-2.f, 5.f, -6.f});  // [x > 0] + 2x
  }
}

TEST_CASE("grad() rejects an unused input unless allow_unused", "[autograd]") {
  Tensor x = tensor({1.f}, true), unused = tensor({1.f}, true);
  Tensor y = (x * 2.f).sum();
  CHECK_THROWS_WITH(grad({y}, {x, unused}, {}, true), Contains("allow_unused"));
  std::vector<Tensor> g = grad({y}, {x, unused}, {}, false, false, true);
  CHECK(g[0].item() == 2.f);
  CHECK_FALSE(g[1].defined());
}

TEST_CASE("create_graph gives second and third derivatives of x^3", "[autograd]") {
  Tensor x = tensor({2.f}, true);
  Tensor y = (x * x * x).sum();
  Tensor dy = grad({y}, {x}, {}, false, true)[0];          // 3x² = 12
  Tensor d2y = grad({dy.sum()}, {x}, {}, false, true)[0];  // 6x = 12
  Tensor d3y = grad({d2y.sum()}, {x})[0];                  // 6
  CHECK(dy.item() == 12.f);
  CHECK(d2y.item() == 12.f);
  CHECK(d3y.item() == 6.f);
}

TEST_CASE("create_graph differentiates through a saved output (tanh)", "[autograd]") {
  // d/dx tanh = 1 - t², d²/dx² tanh = -2 t (1 - t²)
  Tensor x = tensor({0.5f}, true);
  Tensor dy = grad({tanh(x).sum()}, {x}, {}, false, true)[0];
  Tensor d2y = grad({dy.sum()}, {x})[0];
  const float t = std::tanh(0.5f);
  CHECK(d2y.item() == Approx(-2.f * t * (1.f - t * t)).epsilon(1e-6));
}

TEST_CASE("backward on a non-scalar output needs grad_output", "[autograd][errors]") {
  Tensor x = tensor({1.f, 2.f, 3.f, 4.f}, {2, 2}, true);
  Tensor y = x * 2.f;
  CHECK_THROWS_AS(y.backward(), Error);
  CHECK_THROWS_WITH(y.backward(), Contains("[2, 2]") && Contains("grad_output"));
  CHECK_THROWS_WITH(y.backward(ones({3})), Contains("[3]") && Contains("[2, 2]"));
  y.backward(full({2, 2}, 0.5f));
  CHECK(x.grad().to_vector() == std::vector<float>{1.f, 1.f, 1.f, 1.f});
}

TEST_CASE("backward on a tensor that does not require grad names the tensor, not an index",
          "[autograd][errors]") {
  CHECK_THROWS_WITH(ones({1}).backward(), StartsWith("backward: the tensor (shape [1]) does not "
                                                     "require grad and has no grad_fn"));
  CHECK_THROWS_WITH(ones({2, 3}).backward(ones({2, 3})),
                    Contains("the tensor (shape [2, 3])") && !Contains("output 0"));
  CHECK_THROWS_WITH(Tensor().backward(), Contains("backward: the tensor is undefined"));
}

TEST_CASE("backward on several outputs names the one that does not require grad by index",
          "[autograd][errors]") {
  const Tensor x = ones({2}, true);
  CHECK_THROWS_WITH(backward({x.sum(), ones({3}).sum()}),
                    StartsWith("backward: output 1 (shape []) does not require grad"));
  CHECK_THROWS_WITH(grad({x.sum(), Tensor()}, {x}), Contains("grad: output 1 is undefined"));
}

TEST_CASE("GradModeGuard sets grad mode for its scope, and NoGradGuard is its no-grad form",
          "[autograd]") {
  const Tensor x = ones({2}, true);
  {
    NoGradGuard no_grad;
    CHECK_FALSE((x * 2.f).requires_grad());
    {
      GradModeGuard enabled(true);
      CHECK((x * 2.f).requires_grad());
    }
    CHECK_FALSE(grad_enabled());
  }
  CHECK(grad_enabled());
}

TEST_CASE("a second backward through a freed graph names retain_graph", "[autograd][errors]") {
  Tensor x = tensor({1.f, 2.f}, true);
  Tensor y = (x * x).sum();
  y.backward();
  CHECK_THROWS_AS(y.backward(), Error);
  CHECK_THROWS_WITH(y.backward(), Contains("retain_graph") && Contains("MulBackward0"));
}

TEST_CASE("leaves fed the same gradient tensor stay independent with retain_graph too",
          "[autograd]") {
  // retain_graph runs each node with apply (the gradient by reference), not apply_and_release.
  Tensor a = tensor({1.f, 2.f}, true), b = tensor({3.f, 4.f}, true);
  Tensor y = (a + b).sum();
  y.backward({}, true);
  {
    NoGradGuard no_grad;
    a.grad().mul_(10.f);
  }
  CHECK(a.grad().to_vector() == std::vector<float>{10.f, 10.f});
  CHECK(b.grad().to_vector() == std::vector<float>{1.f, 1.f});
  y.backward();  // add and sum saved nothing; now each grad is added to out of place
  CHECK(a.grad().to_vector() == std::vector<float>{11.f, 11.f});
  CHECK(b.grad().to_vector() == std::vector<float>{2.f, 2.f});
}

TEST_CASE("retain_graph allows a second backward", "[autograd]") {
  Tensor x = tensor({1.f, 2.f}, true);
  Tensor y = (x * x).sum();
  y.backward({}, true);
  y.backward();
  CHECK(x.grad().to_vector() == std::vector<float>{4.f, 8.f});
}

TEST_CASE("backward through a tensor changed in place since it was saved throws",
          "[autograd][errors]") {
  Tensor x = tensor({1.f, 2.f}, true);
  Tensor a = x * 1.f;
  Tensor y = (a * a).sum();  // mul saves a
  {
    NoGradGuard no_grad;
    a.add_(ones({2}));
  }
  CHECK(a.version() == 1);
  CHECK_THROWS_AS(y.backward(), Error);
  CHECK_THROWS_WITH(y.backward(), Contains("MulBackward0") && Contains("in-place") &&
                                      Contains("version 0 when saved, 1 now"));
}

TEST_CASE("in-place updates of a tensor requiring grad need NoGradGuard", "[autograd][errors]") {
  Tensor w = ones({2}, true);
  CHECK_THROWS_WITH(w.add_(ones({2})), Contains("add_") && Contains("NoGradGuard"));
  CHECK_THROWS_WITH(w.mul_(2.f), Contains("mul_"));
  CHECK_THROWS_WITH(w.mutable_data(), Contains("mutable_data") && Contains("NoGradGuard"));
  CHECK(w.version() == 0);  // refused writes leave the version alone
  NoGradGuard no_grad;
  w.add_(ones({2}), -0.5f);
  CHECK(w.to_vector() == std::vector<float>{0.5f, 0.5f});
  CHECK(w.version() == 1);
  w.mutable_data()[0] = 2.f;
  CHECK(w.version() == 2);
}

TEST_CASE("reshape shares storage and therefore the version counter", "[autograd]") {
  Tensor x = zeros({2, 3});
  Tensor r = x.reshape({6});
  r.fill_(1.f);
  CHECK(x.version() == 1);
  CHECK(x.to_vector() == std::vector<float>(6, 1.f));
}

TEST_CASE("NoGradGuard stops recording on its thread only", "[autograd]") {
  Tensor x = ones({2}, true);
  {
    NoGradGuard no_grad;
    CHECK_FALSE(grad_enabled());
    Tensor y = x * 2.f;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
    bool other_thread_records = false;
    std::thread([&] { other_thread_records = (x * 2.f).requires_grad(); }).join();
    CHECK(other_thread_records);
  }
  CHECK(grad_enabled());
  CHECK((x * 2.f).requires_grad());
}

TEST_CASE("detach shares data but drops history", "[autograd]") {
  Tensor x = ones({2}, true);
  Tensor d = (x * 3.f).detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.is_leaf());
  CHECK(d.to_vector() == std::vector<float>{3.f, 3.f});
}

TEST_CASE("requires_grad_(false) on a non-leaf is an error", "[autograd][errors]") {
  Tensor y = ones({1}, true) * 2.f;
  CHECK_THROWS_WITH(y.requires_grad_(false), Contains("non-leaf") && Contains("MulBackward0"));
}

TEST_CASE("anomaly mode throws at the first NaN/Inf gradient and names the op",
          "[autograd][errors]") {
  Tensor x = tensor({0.f, 1.f}, true);
  {
    DetectAnomalyGuard anomaly;
    Tensor y = sqrt(x).sum();  // d/dx sqrt(x) = 1/(2 sqrt(x)) is Inf at 0
    CHECK_THROWS_WITH(y.backward(), Contains("SqrtBackward0") && Contains("Inf"));
  }
  CHECK_FALSE(anomaly_enabled());
  sqrt(x).sum().backward();  // without the guard the Inf simply lands in .grad
  CHECK(std::isinf(x.grad().to_vector()[0]));
}

TEST_CASE("anomaly mode names log for an injected log(0) and div for 0/0", "[autograd][errors]") {
  DetectAnomalyGuard anomaly;
  Tensor x = tensor({0.f, 1.f}, true);
  // d/dx log(x) = 1/x: Inf at x = 0, produced by LogBackward0 before anything else runs.
  CHECK_THROWS_WITH((log(x) * 2.f).sum().backward(),
                    Contains("LogBackward0") && !Contains("MulBackward0"));
  Tensor zero = tensor({0.f}, true);
  // d/da (a/b) = 1/b and d/db = -a/b²: at 0/0 these are Inf and NaN.
  CHECK_THROWS_WITH((zero / zero).sum().backward(), Contains("DivBackward0"));
}

TEST_CASE("a node does not own its output: no reference cycle", "[autograd]") {
  Tensor x = ones({3}, true);
  Tensor y = exp(x);  // ExpBackward0 saves its output's data
  std::weak_ptr<TensorImpl> output = y.impl_ptr();
  Tensor z = y.sum();  // keeps y's node alive through its edge
  y = Tensor();
  CHECK(output.expired());
  z.backward();
  CHECK(x.grad().to_vector()[0] == Approx(std::exp(1.f)));
}

TEST_CASE("a node's edges beyond the three kept inside it move to a block of their own",
          "[autograd]") {
  std::vector<Tensor> parts;
  for (int i = 0; i < 7; ++i) parts.push_back(full({2}, float(i), true));
  const Tensor joined = cat(parts);
  REQUIRE(joined.grad_fn()->next.size() == 7);
  (joined * joined).sum().backward();  // d/dpart = 2 part
  for (int i = 0; i < 7; ++i) {
    CHECK(parts[i].grad().to_vector() == std::vector<float>{2.f * i, 2.f * i});
  }
}

TEST_CASE("SmallVector keeps order and destroys each element once, inline and in a block",
          "[autograd]") {
  const auto shared = std::make_shared<int>(0);
  {
    detail::SmallVector<std::shared_ptr<int>, 2> list;
    for (int i = 0; i < 9; ++i) list.push_back(i % 2 ? shared : std::make_shared<int>(i));
    REQUIRE(list.size() == 9);
    for (int i = 0; i < 9; ++i) CHECK((i % 2 ? list[i] == shared : *list[i] == i));
    CHECK(shared.use_count() == 5);
    list.clear();
    CHECK(list.empty());
    CHECK(shared.use_count() == 1);
    list.push_back(shared);
    list.push_back(shared);
  }
  CHECK(shared.use_count() == 1);
  detail::SmallVector<std::shared_ptr<int>, 2> full;
  full.push_back(std::make_shared<int>(7));
  full.push_back(shared);
  full.push_back(full[0]);  // its own element, while it grows out of the inline room
  CHECK(full.size() == 3);
  CHECK(*full[2] == 7);
  CHECK(full[2] == full[0]);
}

TEST_CASE("a 1,000,000-op chain backprops and is freed without recursion", "[autograd]") {
  const int64_t storages_before = live_storage_count();
  {
    Tensor x = tensor({1.f}, true);
    Tensor y = x;
    for (int i = 0; i < 1'000'000; ++i) y = y * 1.f;  // each mul saves both inputs
    y.backward();
    CHECK(x.grad().item() == 1.f);
  }
  {
    // Freed without a backward: the saved tensors still hold the whole chain.
    Tensor y = tensor({1.f}, true);
    for (int i = 0; i < 1'000'000; ++i) y = y * 1.f;
  }
  CHECK(live_storage_count() == storages_before);
}

TEST_CASE("backward without retain_graph releases the saved tensors' memory", "[autograd]") {
  const int64_t before = live_storage_bytes();
  Tensor x = rand({1000}, true);  // 4,000 bytes
  Tensor y = x;
  for (int i = 0; i < 50; ++i) y = tanh(y);  // each tanh saves its 4,000-byte output
  Tensor loss = y.sum();
  const int64_t with_graph = live_storage_bytes() - before;
  loss.backward();
  const int64_t after_backward = live_storage_bytes() - before;
  INFO("bytes with graph " << with_graph << ", after backward " << after_backward);
  CHECK(with_graph >= 51 * 4000);
  // Left: x, x.grad, y (the last output, still held here) and the scalar loss.
  CHECK(after_backward <= 3 * 4000 + 64);
}
