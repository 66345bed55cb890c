#include "ember_peer.h"

#include <chrono>
#include <initializer_list>
#include <stdexcept>

#include <ember/ember.h>

namespace scoreboard {

using namespace ember;

namespace {

// The seed MultiTaskModel (models/seed.h) with its sizes as parameters; at (10, 50, 10) it is
// the seed's model, parameter names included.
struct SizedMultiTask : nn::Module {
  nn::Sequential& shared_layers;
  nn::ModuleList& task_specific_layers;

  SizedMultiTask(int64_t inputs, int64_t hidden, int64_t features)
      : shared_layers(register_module(
            "shared_layers",
            nn::Sequential(nn::Linear(inputs, hidden), nn::ReLU(), nn::Linear(hidden, features)))),
        task_specific_layers(register_module(
            "task_specific_layers", nn::ModuleList(nn::Linear(features, 1), nn::Linear(features, 1),
                                                   nn::Linear(features, 1)))) {}

  std::vector<Tensor> forward(const Tensor& x) {
    const Tensor h = shared_layers(x);
    std::vector<Tensor> outputs;
    for (auto& layer : task_specific_layers) outputs.push_back(layer(h));
    return outputs;
  }
};

// The seed EnsembleModel with its sizes as parameters.
struct SizedEnsemble : nn::Module {
  nn::ModuleList& models = register_module("models", nn::ModuleList());

  SizedEnsemble(int64_t members, int64_t inputs, int64_t hidden) {
    for (int64_t k = 0; k < members; ++k)
      models.push_back(
          nn::Sequential(nn::Linear(inputs, hidden), nn::ReLU(), nn::Linear(hidden, 1)));
  }

  Tensor forward(const Tensor& x) {
    std::vector<Tensor> outputs;
    for (auto& model : models) outputs.push_back(model(x));
    return mean(stack(outputs), {0});
  }
};

models::MultiTaskNetConfig member_config(const Case& c) {
  return {.inputs = c.inputs, .hidden = {c.hidden}, .tasks = {models::regression("y")}};
}

// One case, built: model, data, optimizer, and the step or inference the variant times.
class EmberCase {
 public:
  EmberCase(const Case& c, std::string variant, uint64_t seed)
      : case_(c), variant_(std::move(variant)) {
    manual_seed(seed);
    if (c.model == "multitask") {
      multitask_ = std::make_unique<SizedMultiTask>(c.inputs, c.hidden, c.features);
      module_ = multitask_.get();
    } else if (c.model == "ensemble") {
      ensemble_ = std::make_unique<SizedEnsemble>(c.members, c.inputs, c.hidden);
      module_ = ensemble_.get();
    } else {
      looped_ = std::make_unique<models::Ensemble>(
          c.members, [&](int64_t) { return models::MultiTaskNet(member_config(c)); });
      module_ = looped_.get();
    }
    // Data drawn after the parameters, so the input does not depend on the variant.
    x_ = randn({c.batch, c.inputs});
    for (int t = 0; t < (c.model == "multitask" ? 3 : 1); ++t)
      targets_.push_back(randn({c.batch, 1}));
    if (variant_ == "batched") {
      batched_ = std::make_unique<models::BatchedMLP>(models::BatchedMLP::from_ensemble(*looped_));
      module_ = batched_.get();
      stacked_target_ = clone(expand(unsqueeze(targets_[0], 0), {c.members, c.batch, 1}));
    }
    if (c.model == "ensembles_k") {
      optimizer_ =
          std::make_unique<optim::Adam>(module_->parameters(), optim::AdamOptions{.lr = 1e-3});
    } else {
      optimizer_ =
          std::make_unique<optim::SGD>(module_->parameters(), optim::SGDOptions{.lr = 0.01});
    }
  }

  nn::Module& module() { return *module_; }
  const Tensor& x() const { return x_; }
  const std::vector<Tensor>& targets() const { return targets_; }

  // Every output, as the reference peers return them: per task [B, 1]; the ensemble's mean
  // [B, 1]; ensembles_k's members stacked, [K, B, 1].
  std::vector<Tensor> outputs() {
    if (multitask_) return multitask_->forward(x_);
    if (ensemble_) return {ensemble_->forward(x_)};
    if (batched_) return {batched_->forward(x_)[0]};
    return {looped_->stacked_outputs(x_)[0]};
  }

  Tensor loss() {
    if (multitask_) {
      const std::vector<Tensor> out = multitask_->forward(x_);
      if (variant_ == "written") {
        // The loss as users write it: four recorded ops per task, and two adds.
        Tensor total = (out[0] - targets_[0]).pow(2.f).mean();
        for (size_t t = 1; t < out.size(); ++t)
          total = total + (out[t] - targets_[t]).pow(2.f).mean();
        return total;
      }
      return nn::mse_loss(out[0], targets_[0]) + nn::mse_loss(out[1], targets_[1]) +
             nn::mse_loss(out[2], targets_[2]);
    }
    if (ensemble_) return nn::mse_loss(ensemble_->forward(x_), targets_[0]);
    // The mean over members of each member's MSE.
    if (batched_) return nn::mse_loss(batched_->forward(x_)[0], stacked_target_);
    Tensor total = nn::mse_loss(looped_->member_outputs(0, x_)[0], targets_[0]);
    for (int64_t k = 1; k < case_.members; ++k)
      total = total + nn::mse_loss(looped_->member_outputs(k, x_)[0], targets_[0]);
    return total / float(case_.members);
  }

  Tensor train_step() {
    optimizer_->zero_grad();
    Tensor value = loss();
    value.backward();
    optimizer_->step();
    return value;
  }

  void infer() {
    NoGradGuard no_grad;
    outputs();
  }

  void run(int64_t calls) {
    if (case_.mode == "train") {
      for (int64_t i = 0; i < calls; ++i) train_step();
    } else {
      for (int64_t i = 0; i < calls; ++i) infer();
    }
  }

  optim::Optimizer& optimizer() { return *optimizer_; }

  // A parameter as the reference orders them: its name, and its values (or its gradient's).
  // For the batched model these are the looped members' names and member k's slice of each
  // stacked parameter.
  struct Slot {
    std::string name;
    Tensor parameter;
    int64_t member;  // -1: the whole tensor
  };
  std::vector<Slot> slots() const {
    std::vector<Slot> slots;
    if (!batched_) {
      for (const auto& [name, p] : module_->named_parameters()) slots.push_back({name, p, -1});
      return slots;
    }
    const nn::NamedTensors stacked = batched_->named_parameters(),
                           looped = looped_->named_parameters();
    size_t next = 0;
    for (int64_t k = 0; k < case_.members; ++k) {
      for (const auto& entry : stacked) slots.push_back({looped.at(next++).first, entry.second, k});
    }
    return slots;
  }
  static Tensor slot_values(const Slot& slot, const Tensor& t) {
    return slot.member < 0 ? t : t.narrow(0, slot.member, 1);
  }

 private:
  Case case_;
  std::string variant_;
  std::unique_ptr<SizedMultiTask> multitask_;
  std::unique_ptr<SizedEnsemble> ensemble_;
  std::unique_ptr<models::Ensemble> looped_;
  std::unique_ptr<models::BatchedMLP> batched_;
  nn::Module* module_ = nullptr;
  Tensor x_, stacked_target_;
  std::vector<Tensor> targets_;
  std::unique_ptr<optim::Optimizer> optimizer_;
};

bool variant_runs(const Case& c, const std::string& variant) {
  if (variant == "fused") return c.model != "ensembles_k";
  if (variant == "written")
    return c.model == "multitask" && c.mode == "train";  // no loss in inference
  if (variant == "looped" || variant == "batched") return c.model == "ensembles_k";
  return false;
}

Array to_array(const Tensor& t) {
  Array array;
  for (int64_t d = 0; d < t.dim(); ++d) array.shape.push_back(t.size(d));
  array.values = t.to_vector();
  return array;
}

class EmberPeer : public Peer {
 public:
  explicit EmberPeer(std::string variant) : variant_(std::move(variant)) {}
  std::string name() const override { return "ember " + variant_; }
  void set_threads(int threads) override { set_num_threads(threads); }
  bool prepare(const Case& c) override {
    case_.reset();
    if (!variant_runs(c, variant_)) return false;
    case_ = std::make_unique<EmberCase>(c, variant_, 0);
    return true;
  }
  double time(int64_t calls) override {
    const auto start = std::chrono::steady_clock::now();
    case_->run(calls);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

 private:
  std::string variant_;
  std::unique_ptr<EmberCase> case_;
};

// The digits as the whole runs train on them: the pixels standardised per column over all
// rows (a constant column is only centred), the digit as a class index [N], odd and high [N, 1].
struct Digits {
  Tensor x, digit, odd, high;
};

Digits standardised_digits() {
  const Array table = digits_table();
  const Tensor values = tensor(table.values, table.shape);
  const Tensor pixels = values.narrow(1, 0, 64);
  const Tensor spread = sqrt(var(pixels, {0}, /*unbiased=*/false, /*keepdim=*/true));
  const Tensor scale = where(eq(spread, zeros_like(spread)), ones_like(spread), spread);
  return {(pixels - mean(pixels, {0}, /*keepdim=*/true)) / scale,
          values.narrow(1, 64, 1).reshape({values.size(0)}), values.narrow(1, 65, 1),
          values.narrow(1, 66, 1)};
}

// `epochs` passes over `rows` rows in batches of `batch`, in a new order each epoch (randperm):
// step(index) for each batch, index holding its row numbers.
template <class Step>
void shuffled_batches(int64_t rows, int64_t batch, int epochs, const Step& step) {
  for (int epoch = 0; epoch < epochs; ++epoch) {
    const Tensor order = randperm(rows);
    for (int64_t begin = 0; begin < rows; begin += batch)
      step(order.narrow(0, begin, std::min(batch, rows - begin)));
  }
}

}  // namespace

std::unique_ptr<Peer> make_ember_peer(const std::string& variant) {
  return std::make_unique<EmberPeer>(variant);
}

Arrays ember_input(const Case& c, uint64_t seed) {
  EmberCase built(c, c.model == "ensembles_k" ? "looped" : "fused", seed);
  Arrays input;
  for (const auto& [name, p] : built.module().named_parameters())
    input.push_back({"param." + name, to_array(p)});
  input.push_back({"x", to_array(built.x())});
  for (size_t t = 0; t < built.targets().size(); ++t)
    input.push_back({"target." + std::to_string(t), to_array(built.targets()[t])});
  return input;
}

Arrays ember_results(const Case& c, const std::string& variant, uint64_t seed) {
  EmberCase built(c, variant, seed);
  Arrays results;
  const std::vector<Tensor> outputs = built.outputs();
  for (size_t t = 0; t < outputs.size(); ++t)
    results.push_back({"output." + std::to_string(t), to_array(outputs[t])});
  built.optimizer().zero_grad();
  built.loss().backward();
  for (const auto& slot : built.slots()) {
    const Tensor grad = slot.parameter.grad();
    results.push_back(
        {"grad." + slot.name, to_array(EmberCase::slot_values(
                                  slot, grad.defined() ? grad : zeros_like(slot.parameter)))});
  }
  std::vector<float> losses;
  for (int step = 0; step < 10; ++step) losses.push_back(built.train_step().item());
  results.push_back({"losses", Array{{10}, losses}});
  for (const auto& slot : built.slots())
    results.push_back(
        {"step10." + slot.name, to_array(EmberCase::slot_values(slot, slot.parameter.detach()))});
  return results;
}

double ember_whole_run(const std::string& name, const nlohmann::json& arguments) {
  // Read before the clock starts: the runs time training, not parsing.
  const Digits digits = name.starts_with("digits_") ? standardised_digits() : Digits{};
  const auto start = std::chrono::steady_clock::now();
  if (name == "seed_steps") {
    manual_seed(0);
    models::MultiTaskModel model;
    optim::SGD optimizer(model.parameters(), {.lr = 0.01});
    const Tensor x = randn({10, 10});
    const std::vector<Tensor> targets = {randn({10, 1}), randn({10, 1}), randn({10, 1})};
    const int steps = arguments.at("steps");
    for (int step = 0; step < steps; ++step) {
      optimizer.zero_grad();
      const std::vector<Tensor> out = model.forward(x);
      Tensor loss = nn::mse_loss(out[0], targets[0]) + nn::mse_loss(out[1], targets[1]) +
                    nn::mse_loss(out[2], targets[2]);
      loss.backward();
      optimizer.step();
    }
  } else if (name == "deep_ensemble") {
    // bench/torch_peer.py's deep_ensemble, line for line.
    manual_seed(0);
    const int64_t rows = arguments.at("rows"), batch = arguments.at("batch");
    const Tensor x = randn({rows, 10});
    const Tensor y = x.narrow(1, 0, 1) * 2.f - x.narrow(1, 1, 1) + 0.1f * randn({rows, 1});
    const int members = arguments.at("members"), epochs = arguments.at("epochs");
    for (int k = 0; k < members; ++k) {
      nn::Sequential net(nn::Linear(10, 50), nn::ReLU(), nn::Linear(50, 1));
      optim::Adam optimizer(net.parameters(), {.lr = 1e-3});
      shuffled_batches(rows, batch, epochs, [&](const Tensor& index) {
        optimizer.zero_grad();
        nn::mse_loss(net(index_select(x, 0, index)), index_select(y, 0, index)).backward();
        optimizer.step();
      });
    }
  } else if (name == "digits_multitask") {
    // bench/torch_peer.py's digits_multitask, line for line.
    manual_seed(0);
    nn::Sequential trunk(nn::Linear(64, 64), nn::ReLU(), nn::Linear(64, 64), nn::ReLU());
    nn::Linear digit_head(64, 10), odd_head(64, 1), high_head(64, 1);
    std::vector<Tensor> parameters;
    for (const nn::Module* part :
         std::initializer_list<const nn::Module*>{&trunk, &digit_head, &odd_head, &high_head})
      for (const Tensor& p : part->parameters()) parameters.push_back(p);
    optim::Adam optimizer(parameters, {.lr = 1e-3});
    const int64_t rows = digits.x.size(0), batch = arguments.at("batch");
    const int epochs = arguments.at("epochs");
    shuffled_batches(rows, batch, epochs, [&](const Tensor& index) {
      optimizer.zero_grad();
      const Tensor h = trunk(index_select(digits.x, 0, index));
      const Tensor loss =
          nn::cross_entropy(digit_head(h), index_select(digits.digit, 0, index)) +
          nn::binary_cross_entropy_with_logits(odd_head(h), index_select(digits.odd, 0, index)) +
          nn::binary_cross_entropy_with_logits(high_head(h), index_select(digits.high, 0, index));
      loss.backward();
      optimizer.step();
    });
  } else if (name == "digits_ensemble") {
    // bench/torch_peer.py's digits_ensemble, line for line.
    manual_seed(0);
    const int64_t rows = digits.x.size(0), batch = arguments.at("batch");
    const int members = arguments.at("members"), epochs = arguments.at("epochs");
    for (int k = 0; k < members; ++k) {
      nn::Sequential net(nn::Linear(64, 64), nn::ReLU(), nn::Linear(64, 64), nn::ReLU(),
                         nn::Linear(64, 10));
      optim::Adam optimizer(net.parameters(), {.lr = 1e-3});
      shuffled_batches(rows, batch, epochs, [&](const Tensor& index) {
        optimizer.zero_grad();
        nn::cross_entropy(net(index_select(digits.x, 0, index)),
                          index_select(digits.digit, 0, index))
            .backward();
        optimizer.step();
      });
    }
  } else {
    throw std::runtime_error("unknown whole run '" + name + "'");
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void ember_train_steps(const Case& c, int steps) {
  EmberCase built(c, "fused", 0);
  for (int step = 0; step < steps; ++step) built.train_step();
}

}  // namespace scoreboard
