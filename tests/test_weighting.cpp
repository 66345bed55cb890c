// Loss weightings (models/multitask/weighting.h). Expected numbers come from hand derivation
// or from tests/reference/weighting_reference.py (PyTorch 1.13), as each case says.

#include <ember/ember.h>
#include <ember/train/trainer.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>

using namespace ember;
namespace mtl = ember::models::mtl;

namespace {

// A leaf scalar that stands in for a task loss, so that its gradient is the weight.
Tensor loss_leaf(float value) { return tensor({value}, {1}, /*requires_grad=*/true); }

std::string temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("ember_test_weighting_" + name);
  std::filesystem::remove_all(dir);
  return dir.string();
}

}  // namespace

TEST_CASE("uncertainty weighting's gradient in s is ½ - c exp(-s) L for each task's form") {
  // Regression: ∂/∂s (½ exp(-s) L + ½ s) = ½ - ½ exp(-s) L; classification: ½ - exp(-s) L.
  mtl::UncertaintyWeighting uncertainty({models::regression("a"), models::binary("b")});
  REQUIRE(uncertainty.log_variance().to_vector() == std::vector<float>{0.f, 0.f});
  uncertainty.log_variance().data()[0] = 0.3f;
  uncertainty.log_variance().data()[1] = -0.7f;
  const Tensor a = loss_leaf(2.f), b = loss_leaf(0.5f);
  uncertainty.backward({a, b});
  const std::vector<float> ds = uncertainty.log_variance().grad().to_vector();
  CHECK(ds[0] == Approx(0.5 - 0.5 * std::exp(-0.3) * 2.0).margin(1e-6));  // -0.2408182
  CHECK(ds[1] == Approx(0.5 - std::exp(0.7) * 0.5).margin(1e-6));         // -0.5068764
  // The losses' gradients are the weights c exp(-s).
  CHECK(a.grad().item() == Approx(0.5 * std::exp(-0.3)).margin(1e-6));  // 0.3704091
  CHECK(b.grad().item() == Approx(std::exp(0.7)).margin(1e-6));         // 2.0137527
  CHECK(uncertainty.last_weights()[0] == Approx(0.3704091).margin(1e-6));
  CHECK(uncertainty.last_weights()[1] == Approx(2.0137527).margin(1e-6));
  CHECK(uncertainty.sigma()[0] == Approx(1.1618342).margin(1e-6));  // exp(0.15)
  CHECK(uncertainty.sigma()[1] == Approx(0.7046881).margin(1e-6));  // exp(-0.35)
}

TEST_CASE("GradNorm's logit gradient on a hand-worked step pulls weight to the slow task") {
  // W is a [1] shared weight and L_i = k_i W, so |∇_W L_i| = k_i. Step 1 (W = 1): k = (4, 4)
  // sets L(0) = (4, 4). Step 2: k = (1, 4): L̃ = (0.25, 1), r = (0.4, 1.6); w = (1, 1), so
  // G = (1, 4), Ḡ = 2.5, targets 2.5 r^1.5 = (0.632, 5.060): sign(G - target) = (+, -).
  // With ∂w_i/∂ξ_j = δ_ij - ½: ∂L_grad/∂ξ_1 = (+1)(1)(½) + (-1)(4)(-½) = 2.5, and -2.5
  // for ξ_2. The model gets ∂(L_1 + L_2)/∂W = 1 + 4 = 5.
  const Tensor W = tensor({1.f}, {1}, /*requires_grad=*/true);
  mtl::GradNorm gradnorm(W, 2);
  gradnorm.backward({sum(W * 4.f), sum(W * 4.f)});
  CHECK(gradnorm.logits().grad().to_vector() == std::vector<float>{0.f, 0.f});
  CHECK(gradnorm.initial_losses().to_vector() == std::vector<float>{4.f, 4.f});
  W.set_grad(Tensor{});
  gradnorm.backward({sum(W * 1.f), sum(W * 4.f)});
  const std::vector<float> logits_grad = gradnorm.logits().grad().to_vector();
  CHECK(logits_grad[0] == Approx(2.5f).margin(1e-6));
  CHECK(logits_grad[1] == Approx(-2.5f).margin(1e-6));
  CHECK(W.grad().item() == Approx(5.f).margin(1e-6));
  CHECK(gradnorm.last_weights() == std::vector<double>{1.0, 1.0});
}

TEST_CASE("GradNorm's G_i = w_i |∇_W L_i| gives the logits the gradient of the double backward") {
  // The reference differentiates |∇_W (w_i L_i)| itself: grad() with create_graph = true.
  manual_seed(2);
  models::MultiTaskNet net(
      {.inputs = 3,
       .hidden = {5},
       .tasks = {models::regression("a"), models::regression("b"), models::regression("c")}});
  const Tensor x = randn({16, 3});
  const std::vector<Tensor> y = {randn({16}), randn({16}), randn({16})};
  const auto losses = [&] {
    const std::vector<Tensor> out = net.forward(x);
    std::vector<Tensor> result;
    for (size_t i = 0; i < 3; ++i) result.push_back(nn::mse_loss(out[i].reshape({-1}), y[i]));
    return result;
  };
  const Tensor W = net.trunk.parameters()[0];
  mtl::GradNorm gradnorm(W, 3);
  gradnorm.logits().data()[0] = 0.4f;
  gradnorm.logits().data()[2] = -0.3f;
  // L(0) from other losses, so that the ratios r_i differ.
  gradnorm.initial_losses().data()[0] = 2.f;
  gradnorm.initial_losses().data()[1] = 0.5f;
  gradnorm.initial_losses().data()[2] = 1.f;
  const std::vector<Tensor> step_losses = losses();
  gradnorm.backward(step_losses);
  const std::vector<float> got = gradnorm.logits().grad().to_vector();

  const Tensor logits = tensor({0.4f, 0.f, -0.3f}, {3}, /*requires_grad=*/true);
  const Tensor w = softmax(logits, 0) * 3.f;
  const std::vector<Tensor> again = losses();
  std::vector<Tensor> norms;
  for (int64_t i = 0; i < 3; ++i) {
    const Tensor weighted = w.index_select(0, tensor({static_cast<float>(i)})).sum() * again[i];
    const Tensor g = grad({weighted}, {W}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
    norms.push_back(sqrt(sum(g * g)).reshape({1}));
  }
  const Tensor G = cat(norms);
  const std::vector<float> L =
      cat({again[0].reshape({1}), again[1].reshape({1}), again[2].reshape({1})}).to_vector();
  const std::vector<float> initial = {2.f, 0.5f, 1.f};
  std::vector<float> ratio;
  float mean_ratio = 0;
  for (int i = 0; i < 3; ++i) {
    ratio.push_back(L[i] / initial[i]);
    mean_ratio += ratio.back() / 3.f;
  }
  const float mean_G = G.mean().item();
  std::vector<float> targets;
  for (float r : ratio) targets.push_back(mean_G * std::pow(r / mean_ratio, 1.5f));
  const Tensor expected = grad({sum(abs(G - tensor(targets, {3})))}, {logits})[0];
  for (int i = 0; i < 3; ++i) CHECK(got[i] == Approx(expected.to_vector()[i]).margin(1e-5));
}

TEST_CASE("GradNorm's weights stay positive, sum to T and favour the slower task") {
  // Task a is linear in x (learned fast); b is noise, independent of x, which no network
  // learns, so its relative loss L̃_b stays near 1 and GradNorm must give it more weight. (With
  // b = 2 x0 x1 instead, which a 6-unit ReLU trunk fits slowly, b was not the slower task on 7
  // of 200 draws.)
  manual_seed(4);
  models::MultiTaskNet net(
      {.inputs = 2, .hidden = {6}, .tasks = {models::regression("a"), models::regression("b")}});
  const Tensor x = randn({64, 2});
  const Tensor y_a = matmul(x, tensor({1.f, -2.f}));
  const Tensor y_b = 2.f * randn({64});
  const Tensor W = net.trunk.parameters()[0];
  mtl::GradNorm gradnorm(W, 2);
  std::vector<Tensor> params = net.parameters();
  params.push_back(gradnorm.logits());
  optim::SGD sgd(params, {.lr = 0.02});
  std::vector<float> first, last;
  for (int step = 0; step < 300; ++step) {
    const std::vector<Tensor> out = net.forward(x);
    const std::vector<Tensor> losses = {nn::mse_loss(out[0].reshape({-1}), y_a),
                                        nn::mse_loss(out[1].reshape({-1}), y_b)};
    last = {losses[0].item(), losses[1].item()};
    if (step == 0) first = last;
    sgd.zero_grad();
    gradnorm.backward(losses);
    sgd.step();
    const std::vector<float> w = gradnorm.weights().to_vector();
    REQUIRE(w[0] > 0.f);
    REQUIRE(w[1] > 0.f);
    REQUIRE(w[0] + w[1] == Approx(2.f).margin(1e-6));
  }
  const double slow_a = last[0] / first[0], slow_b = last[1] / first[1];
  REQUIRE(slow_b > slow_a);
  const std::vector<float> w = gradnorm.weights().to_vector();
  CHECK(w[1] > w[0]);
}

TEST_CASE("DWA's weights are T softmax(r / 2) of the last two epochs' loss ratios") {
  mtl::DynamicWeightAverage dwa(2);
  const Tensor a = loss_leaf(3.f), b = loss_leaf(5.f);
  dwa.backward({a, b});  // no epoch yet: w = 1
  CHECK(a.grad().item() == 1.f);
  CHECK(b.grad().item() == 1.f);
  dwa.on_epoch_end({1.0, 2.0});
  CHECK(dwa.weights() == std::vector<double>{1.0, 1.0});  // one epoch: still no ratio
  dwa.on_epoch_end({0.5, 1.8});
  // r = (0.5, 0.9); 2 softmax(r / 2) = (0.9003320, 1.0996680) (weighting_reference.py).
  const Tensor c = loss_leaf(3.f), d = loss_leaf(5.f);
  dwa.backward({c, d});
  CHECK(c.grad().item() == Approx(0.9003320).margin(1e-6));
  CHECK(d.grad().item() == Approx(1.0996680).margin(1e-6));
  CHECK(dwa.last_weights()[0] == Approx(0.9003320).margin(1e-7));
  CHECK(dwa.last_weights()[1] == Approx(1.0996680).margin(1e-7));
  CHECK_THROWS_WITH(dwa.on_epoch_end({1.0, 0.0}), Catch::Contains("the mean loss of task 1 is"));
}

TEST_CASE("FAMO's logits after two hand-worked steps match the authors' update in PyTorch") {
  // Step 1: z = (½, ½), L = (2, 1): c = ½/2 + ½/1 = ¾, so the losses' gradients are
  // w_i = z_i / (c L_i) = (1/3, 2/3). After the step L = (1, 1): Δ = (ln 2, 0), δ = z ⊙ (Δ -
  // z·Δ) = (ln 2 / 4, -ln 2 / 4), and Adam's first step moves each logit by lr = 0.025
  // against the sign of δ (m̂ = δ, v̂ = δ²; ξ = 0 so weight decay adds nothing).
  mtl::FAMO famo(2);
  const Tensor a = loss_leaf(2.f), b = loss_leaf(1.f);
  famo.backward({a, b});
  CHECK(a.grad().item() == Approx(1.0 / 3).margin(1e-6));
  CHECK(b.grad().item() == Approx(2.0 / 3).margin(1e-6));
  famo.after_step({1.0, 1.0});
  std::vector<float> logits = famo.logits().to_vector();
  CHECK(logits[0] == Approx(-0.025).margin(1e-8));
  CHECK(logits[1] == Approx(0.025).margin(1e-8));
  // Step 2: no change in the losses, so δ = 0 and Adam's momentum and weight decay alone
  // move ξ; expected values from weighting_reference.py (torch.optim.Adam).
  const Tensor c = loss_leaf(1.f), d = loss_leaf(1.f);
  famo.backward({c, d});
  CHECK(c.grad().item() == Approx(0.4875026).margin(1e-6));
  CHECK(d.grad().item() == Approx(0.5124974).margin(1e-6));
  famo.after_step({1.0, 1.0});
  logits = famo.logits().to_vector();
  CHECK(logits[0] == Approx(-0.0417487659).margin(1e-7));
  CHECK(logits[1] == Approx(0.0417487659).margin(1e-7));
}

TEST_CASE("make_balancer knows the four loss weightings by name") {
  models::MultiTaskNet net(
      {.inputs = 2, .hidden = {4}, .tasks = {models::regression("a"), models::binary("b")}});
  const std::vector<models::Task> tasks = net.config().tasks;
  for (const std::string name : {"uncertainty", "gradnorm", "dwa", "famo"}) {
    const auto balancer = mtl::make_balancer(name, net.trunk.parameters(), tasks);
    CHECK(balancer->name() == name);
  }
  CHECK_THROWS_WITH(mtl::make_balancer("gradnorm", {}, tasks),
                    Catch::Contains("gradnorm needs a shared weight matrix"));
}

TEST_CASE("a trainer run with each loss weighting resumes from its checkpoint bit for bit") {
  const std::vector<models::Task> tasks = {models::regression("value"),
                                           models::multiclass("band", 3)};
  manual_seed(5);
  const Tensor x = randn({60, 4});
  const Tensor value = matmul(x, tensor({1.f, -2.f, 0.5f, 0.f}));
  std::vector<float> labels;
  for (float v : value.to_vector()) labels.push_back(v < -1.f ? 0.f : (v < 1.f ? 1.f : 2.f));
  const data::TensorDataset train_set({x, value, tensor(labels, {60})});

  struct StepLog : train::Callback {
    std::vector<double> losses;
    void on_step_end(const train::StepResult& step) override { losses.push_back(step.loss); }
  };
  for (const std::string name : {"uncertainty", "gradnorm", "dwa", "famo"}) {
    SECTION(name) {
      const auto run = [&](int64_t epochs, const std::string& dir, bool resume, uint64_t seed) {
        manual_seed(seed);
        models::MultiTaskNet net({.inputs = 4, .hidden = {16, 8}, .tasks = tasks});
        const auto balancer = mtl::make_balancer(name, net.trunk.parameters(), tasks);
        optim::Adam adam(net.parameters(), {.lr = 0.01});
        if (!balancer->parameters().empty()) adam.add_param_group({balancer->parameters()});
        train::Trainer trainer(net, tasks, adam,
                               {.epochs = epochs, .batch_size = 7, .checkpoint_dir = dir});
        trainer.set_balancer(balancer.get());
        if (resume) trainer.resume();
        auto log = std::make_shared<StepLog>();
        trainer.add_callback(log);
        trainer.fit(train_set);
        return std::make_pair(log->losses, balancer->last_weights());
      };
      const auto [whole, whole_weights] = run(5, temp_dir("whole_" + name), false, 11);
      const std::string dir = temp_dir("resumed_" + name);
      const auto [first, first_weights] = run(3, dir, false, 11);
      const auto [second, second_weights] = run(5, dir, true, 12345);
      std::vector<double> joined = first;
      joined.insert(joined.end(), second.begin(), second.end());
      REQUIRE(joined.size() == whole.size());
      CHECK(joined == whole);
      CHECK(second_weights == whole_weights);
      // The method did weigh the tasks unequally by the end.
      CHECK(whole_weights[0] != whole_weights[1]);
    }
  }
}
