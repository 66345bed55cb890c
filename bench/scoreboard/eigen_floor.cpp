#include "eigen_floor.h"

#include <Eigen/Core>

#include <chrono>
#include <random>

namespace scoreboard {

namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowVector = Eigen::RowVectorXf;

// Trunk x [B, I] -> z1 = x W1ᵀ + b1 [B, H] -> a1 = relu(z1) -> h = a1 W2ᵀ + b2 [B, F]; the three
// heads as one [3, F] matrix: out = h Whᵀ + bh [B, 3] (column t is task t's output).
// loss = sum over t of mean over b of (out[b, t] - y[b, t])².
class Floor {
 public:
  Floor(const Case& c, float lr) : lr_(lr) {
    const int64_t B = c.batch, I = c.inputs, H = c.hidden, F = c.features;
    x_.resize(B, I), y_.resize(B, 3), w1_.resize(H, I), w2_.resize(F, H), wh_.resize(3, F);
    b1_.resize(H), b2_.resize(F), bh_.resize(3);
    z1_.resize(B, H), a1_.resize(B, H), h_.resize(B, F), out_.resize(B, 3), g_.resize(B, 3);
    dh_.resize(B, F), da1_.resize(B, H), dw1_.resize(H, I), dw2_.resize(F, H), dwh_.resize(3, F);
    db1_.resize(H), db2_.resize(F), dbh_.resize(3);
    // PyTorch's default Linear init: uniform in ±1/sqrt(fan_in), weights and biases alike.
    std::mt19937 rng(0);
    const auto fill = [&](auto& m, int64_t fan_in) {
      std::uniform_real_distribution<float> u(-1.f / std::sqrt(float(fan_in)),
                                              1.f / std::sqrt(float(fan_in)));
      for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = u(rng);
    };
    fill(w1_, I), fill(b1_, I), fill(w2_, H), fill(b2_, H), fill(wh_, F), fill(bh_, F);
    std::normal_distribution<float> n;
    for (Eigen::Index i = 0; i < x_.size(); ++i) x_.data()[i] = n(rng);
    for (Eigen::Index i = 0; i < y_.size(); ++i) y_.data()[i] = n(rng);
  }

  // Parameters in the order of cases.h, then x and the three targets.
  void load(const Arrays& input) {
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

  void forward() {
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

  float train_step() {
    forward();
    const float loss = backward();
    sgd();
    return loss;
  }

  // Outputs, gradients, losses and parameters in the reference's names (cases.h).
  Arrays results() {
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

  float sink() const { return out_(0, 0); }

 private:
  static Array column(const Matrix& m, int t) {
    Array a{{m.rows(), 1}, {}};
    for (Eigen::Index b = 0; b < m.rows(); ++b) a.values.push_back(m(b, t));
    return a;
  }
  template <class M>
  static Array array(const M& m) {
    return Array{{m.rows(), m.cols()}, std::vector<float>(m.data(), m.data() + m.size())};
  }
  static void append(Arrays& r, const std::string& prefix, const Matrix& w1, const RowVector& b1,
                     const Matrix& w2, const RowVector& b2, const Matrix& wh, const RowVector& bh) {
    r.push_back({prefix + "shared_layers.0.weight", array(w1)});
    r.push_back({prefix + "shared_layers.0.bias", array(b1)});
    r.push_back({prefix + "shared_layers.2.weight", array(w2)});
    r.push_back({prefix + "shared_layers.2.bias", array(b2)});
    for (int t = 0; t < 3; ++t) {
      const std::string head = prefix + "task_specific_layers." + std::to_string(t);
      r.push_back({head + ".weight", array(Matrix(wh.row(t)))});
      r.push_back({head + ".bias", Array{{1}, {bh(t)}}});
    }
  }

  float lr_;
  Matrix x_, y_, w1_, w2_, wh_, z1_, a1_, h_, out_, g_, dh_, da1_, dw1_, dw2_, dwh_;
  RowVector b1_, b2_, bh_, db1_, db2_, dbh_;
};

class FloorPeer : public Peer {
 public:
  std::string name() const override { return "Eigen floor"; }
  void set_threads(int threads) override { Eigen::setNbThreads(threads); }
  bool prepare(const Case& c) override {
    floor_.reset();
    if (c.model != "multitask") return false;
    floor_ = std::make_unique<Floor>(c, 0.01f);
    mode_ = c.mode;
    return true;
  }
  double time(int64_t calls) override {
    const auto start = std::chrono::steady_clock::now();
    if (mode_ == "train") {
      for (int64_t i = 0; i < calls; ++i) sink_ = sink_ + floor_->train_step();
    } else {
      for (int64_t i = 0; i < calls; ++i) {
        floor_->forward();
        sink_ = sink_ + floor_->sink();
      }
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

 private:
  std::unique_ptr<Floor> floor_;
  std::string mode_;
  volatile float sink_ = 0;  // keeps the work from being optimised away
};

}  // namespace

std::unique_ptr<Peer> make_eigen_floor_peer() { return std::make_unique<FloorPeer>(); }

Arrays eigen_floor_results(const Case& c, const Arrays& input) {
  Floor floor(c, 0.01f);
  floor.load(input);
  return floor.results();
}

}  // namespace scoreboard
