// libtorch, PyTorch's C++ API: the cases of cases.h written with ATen's functional ops
// (torch::linear, torch::relu, torch::mse_loss) and torch::optim, as nn::Linear modules would
// run them minus the module call; the digits runs with torch::nn modules and losses, as a user
// writes them. Compiled only when CMake finds Torch (libtorch_missing.cpp otherwise).

#include <torch/torch.h>

#include <chrono>
#include <initializer_list>
#include <stdexcept>

#include "torch_peer.h"

#if defined(EMBER_BENCH_OPENBLAS)
// Debian's libtorch multiplies with OpenBLAS, whose thread pool torch::set_num_threads
// (OpenMP's) does not reach.
extern "C" void openblas_set_num_threads(int threads);
#endif

namespace scoreboard {

namespace {

// A Linear layer's parameters with PyTorch's default init: uniform in ±1/sqrt(fan_in).
void add_linear(std::vector<torch::Tensor>& params, int64_t in, int64_t out) {
  const double bound = 1.0 / std::sqrt(double(in));
  params.push_back(torch::empty({out, in}).uniform_(-bound, bound).requires_grad_());
  params.push_back(torch::empty({out}).uniform_(-bound, bound).requires_grad_());
}

// Drops every gradient, as ember's zero_grad and PyTorch's zero_grad(set_to_none=True) do
// (libtorch 1.13's Optimizer::zero_grad zeroes them in place instead).
void zero_grad(std::vector<torch::Tensor>& params) {
  for (torch::Tensor& p : params) p.mutable_grad().reset();
}

torch::Tensor linear(const std::vector<torch::Tensor>& p, size_t first, const torch::Tensor& x) {
  return torch::linear(x, p[first], p[first + 1]);
}

// `epochs` passes over `rows` rows in batches of `batch`, in a new order each epoch (randperm):
// step(index) for each batch, index holding its row numbers.
template <class Step>
void shuffled_batches(int64_t rows, int64_t batch, int epochs, const Step& step) {
  for (int epoch = 0; epoch < epochs; ++epoch) {
    const torch::Tensor order = torch::randperm(rows);
    for (int64_t begin = 0; begin < rows; begin += batch)
      step(order.narrow(0, begin, std::min(batch, rows - begin)));
  }
}

class TorchCase {
 public:
  explicit TorchCase(const Case& c) : case_(c) {
    torch::manual_seed(0);
    if (c.model == "multitask") {
      add_linear(params_, c.inputs, c.hidden);
      add_linear(params_, c.hidden, c.features);
      for (int t = 0; t < 3; ++t) add_linear(params_, c.features, 1);
    } else {
      for (int64_t k = 0; k < c.members; ++k) {
        add_linear(params_, c.inputs, c.hidden);
        add_linear(params_, c.hidden, 1);
      }
    }
    x_ = torch::randn({c.batch, c.inputs});
    for (int t = 0; t < (c.model == "multitask" ? 3 : 1); ++t)
      targets_.push_back(torch::randn({c.batch, 1}));
    make_optimizer();
  }

  void make_optimizer() {
    if (case_.model == "ensembles_k") {
      optimizer_ = std::make_unique<torch::optim::Adam>(params_, torch::optim::AdamOptions(1e-3));
    } else {
      optimizer_ = std::make_unique<torch::optim::SGD>(params_, torch::optim::SGDOptions(0.01));
    }
  }

  std::vector<torch::Tensor>& params() { return params_; }
  void set_data(torch::Tensor x, std::vector<torch::Tensor> targets) {
    x_ = std::move(x), targets_ = std::move(targets);
  }

  std::vector<torch::Tensor> outputs() {
    if (case_.model == "multitask") {
      const torch::Tensor h = linear(params_, 2, torch::relu(linear(params_, 0, x_)));
      return {linear(params_, 4, h), linear(params_, 6, h), linear(params_, 8, h)};
    }
    std::vector<torch::Tensor> members;
    for (int64_t k = 0; k < case_.members; ++k)
      members.push_back(linear(params_, 4 * k + 2, torch::relu(linear(params_, 4 * k, x_))));
    const torch::Tensor stacked = torch::stack(members);
    if (case_.model == "ensemble") return {stacked.mean(0)};
    return {stacked};
  }

  torch::Tensor loss(const std::vector<torch::Tensor>& out) {
    if (case_.model == "multitask") {
      return torch::mse_loss(out[0], targets_[0]) + torch::mse_loss(out[1], targets_[1]) +
             torch::mse_loss(out[2], targets_[2]);
    }
    if (case_.model == "ensemble") return torch::mse_loss(out[0], targets_[0]);
    return torch::mse_loss(out[0], targets_[0].expand_as(out[0]));
  }

  torch::Tensor train_step() {
    zero_grad(params_);
    torch::Tensor value = loss(outputs());
    value.backward();
    optimizer_->step();
    return value;
  }

  void run(int64_t calls) {
    if (case_.mode == "train") {
      for (int64_t i = 0; i < calls; ++i) train_step();
    } else {
      torch::NoGradGuard no_grad;
      for (int64_t i = 0; i < calls; ++i) outputs();
    }
  }

 private:
  Case case_;
  std::vector<torch::Tensor> params_;
  torch::Tensor x_;
  std::vector<torch::Tensor> targets_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
};

torch::Tensor to_torch(const Array& a) {
  return torch::from_blob(const_cast<float*>(a.values.data()), a.shape, torch::kFloat32).clone();
}

Array to_array(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().contiguous();
  return Array{c.sizes().vec(),
               std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())};
}

// The digits as the whole runs train on them: the pixels standardised per column over all
// rows (a constant column is only centred), the digit as a class index [N], odd and high [N, 1].
struct Digits {
  torch::Tensor x, digit, odd, high;
};

Digits standardised_digits() {
  const torch::Tensor values = to_torch(digits_table());
  const torch::Tensor pixels = values.narrow(1, 0, 64);
  torch::Tensor spread = pixels.std(0, /*unbiased=*/false, /*keepdim=*/true);
  spread = torch::where(spread == 0, torch::ones_like(spread), spread);
  return {(pixels - pixels.mean(0, /*keepdim=*/true)) / spread,
          values.select(1, 64).to(torch::kLong), values.narrow(1, 65, 1).contiguous(),
          values.narrow(1, 66, 1).contiguous()};
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

class LibtorchPeer : public ReferencePeer {
 public:
  std::string name() const override { return "libtorch"; }
  std::string description() const override {
    return std::string("libtorch ") + TORCH_VERSION + " (C++ API, in this process)";
  }
  void set_threads(int threads) override {
    torch::set_num_threads(threads);
#if defined(EMBER_BENCH_OPENBLAS)
    openblas_set_num_threads(threads);
#endif
  }
  bool prepare(const Case& c) override {
    case_.reset();
    if (c.model == "ensembles_k" || c.model == "multitask" || c.model == "ensemble") {
      case_ = std::make_unique<TorchCase>(c);
      return true;
    }
    return false;
  }
  double time(int64_t calls) override {
    const auto start = std::chrono::steady_clock::now();
    case_->run(calls);
    return seconds_since(start);
  }

  Arrays reference(const Case& c, const Arrays& input) override {
    TorchCase built(c);
    std::vector<std::string> names;
    {
      torch::NoGradGuard no_grad;
      for (const auto& [name, array] : input) {
        if (name.rfind("param.", 0) != 0) continue;
        if (names.size() == built.params().size())
          throw std::runtime_error("libtorch: more parameters sent than the model has");
        torch::Tensor& p = built.params()[names.size()];
        p.copy_(to_torch(array).reshape(p.sizes()));
        names.push_back(name.substr(6));
      }
      if (names.size() != built.params().size())
        throw std::runtime_error("libtorch: fewer parameters sent than the model has");
    }
    std::vector<torch::Tensor> targets;
    for (int t = 0; t < (c.model == "multitask" ? 3 : 1); ++t)
      targets.push_back(to_torch(find(input, "target." + std::to_string(t))));
    built.set_data(to_torch(find(input, "x")), targets);
    Arrays out;
    const std::vector<torch::Tensor> outputs = built.outputs();
    for (size_t t = 0; t < outputs.size(); ++t)
      out.push_back({"output." + std::to_string(t), to_array(outputs[t])});
    built.loss(outputs).backward();
    for (size_t i = 0; i < names.size(); ++i)
      out.push_back({"grad." + names[i], to_array(built.params()[i].grad())});
    built.make_optimizer();  // fresh state, and zero_grad below clears that backward's gradients
    std::vector<float> losses;
    for (int step = 0; step < 10; ++step) losses.push_back(built.train_step().item<float>());
    out.push_back({"losses", Array{{10}, losses}});
    for (size_t i = 0; i < names.size(); ++i)
      out.push_back({"step10." + names[i], to_array(built.params()[i])});
    return out;
  }

  double whole_run(const std::string& name, const nlohmann::json& arguments) override {
    // Read before the clock starts: the runs time training, not parsing.
    const Digits digits = name.starts_with("digits_") ? standardised_digits() : Digits{};
    const auto start = std::chrono::steady_clock::now();
    if (name == "seed_steps") {
      const Case c{.model = "multitask",
                   .mode = "train",
                   .batch = 10,
                   .inputs = 10,
                   .hidden = 50,
                   .features = 10};
      TorchCase built(c);
      const int steps = arguments.at("steps");
      for (int step = 0; step < steps; ++step) built.train_step();
    } else if (name == "deep_ensemble") {
      torch::manual_seed(0);
      const int64_t rows = arguments.at("rows"), batch = arguments.at("batch");
      const torch::Tensor x = torch::randn({rows, 10});
      const torch::Tensor y =
          x.narrow(1, 0, 1) * 2 - x.narrow(1, 1, 1) + 0.1 * torch::randn({rows, 1});
      const int members = arguments.at("members"), epochs = arguments.at("epochs");
      for (int k = 0; k < members; ++k) {
        std::vector<torch::Tensor> p;
        add_linear(p, 10, 50);
        add_linear(p, 50, 1);
        torch::optim::Adam optimizer(p, torch::optim::AdamOptions(1e-3));
        shuffled_batches(rows, batch, epochs, [&](const torch::Tensor& index) {
          zero_grad(p);
          const torch::Tensor prediction =
              linear(p, 2, torch::relu(linear(p, 0, x.index_select(0, index))));
          torch::mse_loss(prediction, y.index_select(0, index)).backward();
          optimizer.step();
        });
      }
    } else if (name == "digits_multitask") {
      namespace F = torch::nn::functional;
      torch::manual_seed(0);
      torch::nn::Sequential trunk(torch::nn::Linear(64, 64), torch::nn::ReLU(),
                                  torch::nn::Linear(64, 64), torch::nn::ReLU());
      torch::nn::Linear digit_head(64, 10), odd_head(64, 1), high_head(64, 1);
      std::vector<torch::Tensor> p;
      for (const torch::nn::Module* part : std::initializer_list<const torch::nn::Module*>{
               trunk.get(), digit_head.get(), odd_head.get(), high_head.get()})
        for (const torch::Tensor& parameter : part->parameters()) p.push_back(parameter);
      torch::optim::Adam optimizer(p, torch::optim::AdamOptions(1e-3));
      const int64_t rows = digits.x.size(0), batch = arguments.at("batch");
      const int epochs = arguments.at("epochs");
      shuffled_batches(rows, batch, epochs, [&](const torch::Tensor& index) {
        zero_grad(p);
        const torch::Tensor h = trunk->forward(digits.x.index_select(0, index));
        const torch::Tensor loss =
            F::cross_entropy(digit_head(h), digits.digit.index_select(0, index)) +
            F::binary_cross_entropy_with_logits(odd_head(h), digits.odd.index_select(0, index)) +
            F::binary_cross_entropy_with_logits(high_head(h), digits.high.index_select(0, index));
        loss.backward();
        optimizer.step();
      });
    } else if (name == "digits_ensemble") {
      torch::manual_seed(0);
      const int64_t rows = digits.x.size(0), batch = arguments.at("batch");
      const int members = arguments.at("members"), epochs = arguments.at("epochs");
      for (int k = 0; k < members; ++k) {
        torch::nn::Sequential net(torch::nn::Linear(64, 64), torch::nn::ReLU(),
                                  torch::nn::Linear(64, 64), torch::nn::ReLU(),
                                  torch::nn::Linear(64, 10));
        std::vector<torch::Tensor> p = net->parameters();
        torch::optim::Adam optimizer(p, torch::optim::AdamOptions(1e-3));
        shuffled_batches(rows, batch, epochs, [&](const torch::Tensor& index) {
          zero_grad(p);
          torch::nn::functional::cross_entropy(net->forward(digits.x.index_select(0, index)),
                                               digits.digit.index_select(0, index))
              .backward();
          optimizer.step();
        });
      }
    } else {
      throw std::runtime_error("libtorch: unknown whole run '" + name + "'");
    }
    return seconds_since(start);
  }

 private:
  std::unique_ptr<TorchCase> case_;
};

}  // namespace

std::unique_ptr<ReferencePeer> make_libtorch_peer(std::string&) {
  return std::make_unique<LibtorchPeer>();
}

void libtorch_train_steps(const Case& c, int steps) {
  TorchCase built(c);
  for (int step = 0; step < steps; ++step) built.train_step();
}

}  // namespace scoreboard
