#include "eigen_floor.h"

#include <Eigen/Core>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <stdexcept>
#include <tuple>

namespace scoreboard {

namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowVector = Eigen::RowVectorXf;

// One case's model by hand: what FloorPeer times and eigen_floor_results checks.
class FloorModel {
 public:
  virtual ~FloorModel() = default;
  // Parameters in the order of cases.h ("param.<name>"), then x and the targets.
  virtual void load(const Arrays& input) = 0;
  virtual void forward() = 0;
  // Forward, loss, backward, optimizer step; returns the loss.
  virtual float train_step() = 0;
  // Outputs, gradients, losses and parameters in the reference's names (cases.h).
  virtual Arrays results() = 0;
  // One output value, so that the work cannot be optimised away.
  virtual float sink() const = 0;
};

// PyTorch's default Linear init: uniform in ±1/sqrt(fan_in), weights and biases alike.
template <class M>
void fill_uniform(M& m, int64_t fan_in, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.f / std::sqrt(float(fan_in)),
                                          1.f / std::sqrt(float(fan_in)));
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = u(rng);
}
template <class M>
void fill_normal(M& m, std::mt19937& rng) {
  std::normal_distribution<float> n;
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = n(rng);
}
template <class M>
Array to_array(const M& m) {
  return Array{{m.rows(), m.cols()}, std::vector<float>(m.data(), m.data() + m.size())};
}

// Trunk x [B, I] -> z1 = x W1ᵀ + b1 [B, H] -> a1 = relu(z1) -> h = a1 W2ᵀ + b2 [B, F]; the three
// heads as one [3, F] matrix: out = h Whᵀ + bh [B, 3] (column t is task t's output).
// loss = sum over t of mean over b of (out[b, t] - y[b, t])².
class MultitaskFloor : public FloorModel {
 public:
  MultitaskFloor(const Case& c, float lr) : lr_(lr) {
    const int64_t B = c.batch, I = c.inputs, H = c.hidden, F = c.features;
    x_.resize(B, I), y_.resize(B, 3), w1_.resize(H, I), w2_.resize(F, H), wh_.resize(3, F);
    b1_.resize(H), b2_.resize(F), bh_.resize(3);
    z1_.resize(B, H), a1_.resize(B, H), h_.resize(B, F), out_.resize(B, 3), g_.resize(B, 3);
    dh_.resize(B, F), da1_.resize(B, H), dw1_.resize(H, I), dw2_.resize(F, H), dwh_.resize(3, F);
    db1_.resize(H), db2_.resize(F), dbh_.resize(3);
    std::mt19937 rng(0);
    fill_uniform(w1_, I, rng), fill_uniform(b1_, I, rng), fill_uniform(w2_, H, rng);
    fill_uniform(b2_, H, rng), fill_uniform(wh_, F, rng), fill_uniform(bh_, F, rng);
    fill_normal(x_, rng), fill_normal(y_, rng);
  }

  void load(const Arrays& input) override {
    const auto copy = [&](auto& m, const std::string& name) {
      const Array& a = find(input, name);
      std::copy(a.values.begin(), a.values.end(), m.data());
    };
    std::vector<const Array*> params;
    for (const auto& [name, array] : input)
      if (name.rfind("param.", 0) == 0) params.push_back(&array);
    const auto take = [&](auto& m, size_t i) {
      std::copy(params.at(i)->values.begin(), params.at(i)->values.end(), m.data());
    };
    take(w1_, 0), take(b1_, 1), take(w2_, 2), take(b2_, 3);
    for (int t = 0; t < 3; ++t) {
      std::copy(params.at(4 + 2 * t)->values.begin(), params.at(4 + 2 * t)->values.end(),
                wh_.row(t).data());
      bh_(t) = params.at(5 + 2 * t)->values.at(0);
    }
    copy(x_, "x");
    for (int t = 0; t < 3; ++t) {
      const Array& a = find(input, "target." + std::to_string(t));
      for (Eigen::Index b = 0; b < y_.rows(); ++b) y_(b, t) = a.values[b];
    }
  }

  void forward() override {
    z1_.noalias() = x_ * w1_.transpose();
    z1_.rowwise() += b1_;
    a1_ = z1_.cwiseMax(0.f);
    h_.noalias() = a1_ * w2_.transpose();
    h_.rowwise() += b2_;
    out_.noalias() = h_ * wh_.transpose();
    out_.rowwise() += bh_;
  }

  // d loss / d out = 2 (out - y) / B, then the chain rule back through each layer.
  float backward() {
    g_ = out_ - y_;
    const float loss = g_.squaredNorm() / float(g_.rows());
    g_ *= 2.f / float(g_.rows());
    dwh_.noalias() = g_.transpose() * h_;
    dbh_ = g_.colwise().sum();
    dh_.noalias() = g_ * wh_;
    dw2_.noalias() = dh_.transpose() * a1_;
    db2_ = dh_.colwise().sum();
    da1_.noalias() = dh_ * w2_;
    da1_ = (z1_.array() > 0.f).select(da1_, 0.f);  // relu'(z1) = [z1 > 0]
    dw1_.noalias() = da1_.transpose() * x_;
    db1_ = da1_.colwise().sum();
    return loss;
  }

  void sgd() {
    w1_ -= lr_ * dw1_, b1_ -= lr_ * db1_, w2_ -= lr_ * dw2_, b2_ -= lr_ * db2_;
    wh_ -= lr_ * dwh_, bh_ -= lr_ * dbh_;
  }

  float train_step() override {
    forward();
    const float loss = backward();
    sgd();
    return loss;
  }

  Arrays results() override {
    Arrays r;
    forward();
    for (int t = 0; t < 3; ++t) r.push_back({"output." + std::to_string(t), column(out_, t)});
    backward();
    append(r, "grad.", dw1_, db1_, dw2_, db2_, dwh_, dbh_);
    std::vector<float> losses;
    for (int step = 0; step < 10; ++step) losses.push_back(train_step());
    r.push_back({"losses", Array{{10}, losses}});
    append(r, "step10.", w1_, b1_, w2_, b2_, wh_, bh_);
    return r;
  }

  float sink() const override { return out_(0, 0); }

 private:
  static Array column(const Matrix& m, int t) {
    Array a{{m.rows(), 1}, {}};
    for (Eigen::Index b = 0; b < m.rows(); ++b) a.values.push_back(m(b, t));
    return a;
  }
  static void append(Arrays& r, const std::string& prefix, const Matrix& w1, const RowVector& b1,
                     const Matrix& w2, const RowVector& b2, const Matrix& wh, const RowVector& bh) {
    r.push_back({prefix + "shared_layers.0.weight", to_array(w1)});
    r.push_back({prefix + "shared_layers.0.bias", to_array(b1)});
    r.push_back({prefix + "shared_layers.2.weight", to_array(w2)});
    r.push_back({prefix + "shared_layers.2.bias", to_array(b2)});
    for (int t = 0; t < 3; ++t) {
      const std::string head = prefix + "task_specific_layers." + std::to_string(t);
      r.push_back({head + ".weight", to_array(Matrix(wh.row(t)))});
      r.push_back({head + ".bias", Array{{1}, {bh(t)}}});
    }
  }

  float lr_;
  Matrix x_, y_, w1_, w2_, wh_, z1_, a1_, h_, out_, g_, dh_, da1_, dw1_, dw2_, dwh_;
  RowVector b1_, b2_, bh_, db1_, db2_, dbh_;
};

// K members I -> H -> 1 (ReLU between), all at once, as one would write the batched form by
// hand: the members' first layers side by side in one [I, K·H] matrix w1 (member k's weight,
// transposed, in columns k·H ... k·H + H - 1), so that
//   z = x w1 + b1 [B, K·H], a = relu(z), out[:, k] = a_k w2[k]ᵀ + b2[k] [B, K]
// with a_k member k's H columns of a: one GEMM for every first layer and one matrix-vector
// product per member. (w1 stored [K·H, I] and multiplied transposed took about 10% longer on an
// AMD EPYC, Zen 4.)
// loss = mean over b and k of (out[b, k] - y[b])², the mean of the members' MSEs; Adam.
class EnsembleFloor : public FloorModel {
 public:
  explicit EnsembleFloor(const Case& c) : members_(c.members), hidden_(c.hidden) {
    const int64_t B = c.batch, I = c.inputs, K = c.members, H = c.hidden;
    x_.resize(B, I), y_.resize(B, 1), w1_.resize(I, K * H), w2_.resize(K, H);
    b1_.resize(K * H), b2_.resize(K);
    z_.resize(B, K * H), a_.resize(B, K * H), out_.resize(B, K), g_.resize(B, K);
    dz_.resize(B, K * H), dw1_.resize(I, K * H), dw2_.resize(K, H);
    db1_.resize(K * H), db2_.resize(K);
    std::mt19937 rng(0);
    fill_uniform(w1_, I, rng), fill_uniform(b1_, I, rng), fill_uniform(w2_, H, rng);
    fill_uniform(b2_, H, rng), fill_normal(x_, rng), fill_normal(y_, rng);
    w1_state_.resize(w1_.size()), b1_state_.resize(b1_.size());
    w2_state_.resize(w2_.size()), b2_state_.resize(b2_.size());
  }

  // Per member: the first layer's weight [H, I] and bias [H], the second's [1, H] and [1].
  void load(const Arrays& input) override {
    names_.clear();
    std::vector<const Array*> params;
    for (const auto& [name, array] : input) {
      if (name.rfind("param.", 0) != 0) continue;
      names_.push_back(name.substr(6));
      params.push_back(&array);
    }
    const int64_t H = hidden_, I = w1_.rows();
    for (int64_t k = 0; k < members_; ++k) {
      const std::vector<float>& w1 = params.at(4 * k)->values;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < I; ++i) w1_(i, k * H + h) = w1.at(h * I + i);
      const std::vector<float>& b1 = params.at(4 * k + 1)->values;
      std::copy(b1.begin(), b1.end(), b1_.data() + k * H);
      const std::vector<float>& w2 = params.at(4 * k + 2)->values;
      std::copy(w2.begin(), w2.end(), w2_.row(k).data());
      b2_(k) = params.at(4 * k + 3)->values.at(0);
    }
    const Array& x = find(input, "x");
    std::copy(x.values.begin(), x.values.end(), x_.data());
    const Array& y = find(input, "target.0");
    std::copy(y.values.begin(), y.values.end(), y_.data());
  }

  void forward() override {
    const int64_t H = hidden_;
    z_.noalias() = x_ * w1_;
    z_.rowwise() += b1_;
    a_ = z_.cwiseMax(0.f);
    for (int64_t k = 0; k < members_; ++k)
      out_.col(k).noalias() = a_.middleCols(k * H, H) * w2_.row(k).transpose();
    out_.rowwise() += b2_;
  }

  float train_step() override {
    forward();
    const float loss = backward();
    for (auto [p, g, state] : {std::tuple{w1_.data(), dw1_.data(), &w1_state_},
                               std::tuple{b1_.data(), db1_.data(), &b1_state_},
                               std::tuple{w2_.data(), dw2_.data(), &w2_state_},
                               std::tuple{b2_.data(), db2_.data(), &b2_state_}})
      state->update(p, g);
    return loss;
  }

  Arrays results() override {
    Arrays r;
    forward();
    Array outputs{{members_, out_.rows(), 1}, {}};  // [K, B, 1], as the reference stacks them
    for (int64_t k = 0; k < members_; ++k)
      for (Eigen::Index b = 0; b < out_.rows(); ++b) outputs.values.push_back(out_(b, k));
    r.push_back({"output.0", outputs});
    backward();
    append(r, "grad.", dw1_, db1_, dw2_, db2_);
    std::vector<float> losses;
    for (int step = 0; step < 10; ++step) losses.push_back(train_step());
    r.push_back({"losses", Array{{10}, losses}});
    append(r, "step10.", w1_, b1_, w2_, b2_);
    return r;
  }

  float sink() const override { return out_(0, 0); }

 private:
  // PyTorch's Adam (lr 1e-3, betas 0.9 and 0.999, eps 1e-8) on one flat array, in its order
  // of operations: the corrections in double, the elements in float.
  struct Adam {
    Eigen::ArrayXf m, v;
    int64_t step = 0;
    void resize(Eigen::Index n) { m.setZero(n), v.setZero(n); }
    void update(float* param, const float* grad) {
      constexpr double lr = 1e-3, beta1 = 0.9, beta2 = 0.999;
      ++step;
      const auto step_size = float(lr / (1 - std::pow(beta1, double(step))));
      const auto correction2_sqrt = float(std::sqrt(1 - std::pow(beta2, double(step))));
      Eigen::Map<Eigen::ArrayXf> p(param, m.size());
      const Eigen::Map<const Eigen::ArrayXf> g(grad, m.size());
      m = m * float(beta1) + float(1 - beta1) * g;
      v = v * float(beta2) + float(1 - beta2) * g * g;
      p += -step_size * m / (v.sqrt() / correction2_sqrt + 1e-8f);
    }
  };

  // d loss / d out = 2 (out - y) / (B·K), then the chain rule back through each layer.
  float backward() {
    const int64_t H = hidden_;
    const float count = float(out_.size());
    g_ = out_.colwise() - y_.col(0);
    const float loss = g_.squaredNorm() / count;
    g_ *= 2.f / count;
    db2_ = g_.colwise().sum();
    for (int64_t k = 0; k < members_; ++k) {
      dw2_.row(k).noalias() = g_.col(k).transpose() * a_.middleCols(k * H, H);
      dz_.middleCols(k * H, H).noalias() = g_.col(k) * w2_.row(k);
    }
    dz_ = (z_.array() > 0.f).select(dz_, 0.f);  // relu'(z) = [z > 0]
    dw1_.noalias() = x_.transpose() * dz_;
    db1_ = dz_.colwise().sum();
    return loss;
  }

  // In the reference's names and shapes, member after member.
  void append(Arrays& r, const std::string& prefix, const Matrix& w1, const RowVector& b1,
              const Matrix& w2, const RowVector& b2) const {
    const int64_t H = hidden_;
    for (int64_t k = 0; k < members_; ++k) {
      r.push_back({prefix + names_.at(4 * k),
                   to_array(Matrix(w1.middleCols(k * H, H).transpose()))});  // [H, I]
      r.push_back({prefix + names_.at(4 * k + 1), to_array(RowVector(b1.segment(k * H, H)))});
      r.push_back({prefix + names_.at(4 * k + 2), to_array(Matrix(w2.row(k)))});
      r.push_back({prefix + names_.at(4 * k + 3), Array{{1}, {b2(k)}}});
    }
  }

  int64_t members_, hidden_;
  std::vector<std::string> names_;  // the parameters' names, from load()
  Matrix x_, y_, w1_, w2_, z_, a_, out_, g_, dz_, dw1_, dw2_;
  RowVector b1_, b2_, db1_, db2_;
  Adam w1_state_, b1_state_, w2_state_, b2_state_;
};

std::unique_ptr<FloorModel> make_floor(const Case& c) {
  if (c.model == "multitask") return std::make_unique<MultitaskFloor>(c, 0.01f);
  if (c.model == "ensembles_k") return std::make_unique<EnsembleFloor>(c);
  return nullptr;
}

// The multiply-adds of the case's largest product: the trunk's first or second layer (the
// heads' is smaller), or the ensemble's first layer over every member at once.
double largest_product(const Case& c) {
  const double B = double(c.batch), I = double(c.inputs), H = double(c.hidden);
  if (c.model == "ensembles_k") return B * I * H * double(c.members);
  return B * H * std::max(I, double(c.features));
}

// Eigen threads a product from ~50,000 multiply-adds on, and with the scoreboard's idle workers
// asleep (OMP_WAIT_POLICY=PASSIVE) each such call waits for a wake-up: at 2 threads the
// 8-member ensemble's step took 4x its one-thread time. Written by hand, a model whose products
// are all below ember's own limit for threading (2^21 multiply-adds, gemm_kernel.cpp) runs on
// one thread.
constexpr double kThreadedWork = 1 << 21;

class FloorPeer : public Peer {
 public:
  std::string name() const override { return "Eigen floor"; }
  void set_threads(int threads) override {
    threads_ = threads;
    Eigen::setNbThreads(threads);
  }
  bool prepare(const Case& c) override {
    floor_ = make_floor(c);
    mode_ = c.mode;
    one_thread_ = largest_product(c) < kThreadedWork;
    return floor_ != nullptr;
  }
  double time(int64_t calls) override {
    // Eigen's count is global (ember's Eigen products read it too): one thread for this call only.
    if (one_thread_) Eigen::setNbThreads(1);
    const auto start = std::chrono::steady_clock::now();
    if (mode_ == "train") {
      for (int64_t i = 0; i < calls; ++i) sink_ = sink_ + floor_->train_step();
    } else {
      for (int64_t i = 0; i < calls; ++i) {
        floor_->forward();
        sink_ = sink_ + floor_->sink();
      }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    Eigen::setNbThreads(threads_);
    return seconds;
  }

 private:
  std::unique_ptr<FloorModel> floor_;
  std::string mode_;
  int threads_ = 1;
  bool one_thread_ = true;
  volatile float sink_ = 0;  // keeps the work from being optimised away
};

}  // namespace

std::unique_ptr<Peer> make_eigen_floor_peer() { return std::make_unique<FloorPeer>(); }

Arrays eigen_floor_results(const Case& c, const Arrays& input) {
  const std::unique_ptr<FloorModel> floor = make_floor(c);
  if (!floor) throw std::runtime_error("the Eigen floor has no " + c.model + " model");
  floor->load(input);
  return floor->results();
}

}  // namespace scoreboard
