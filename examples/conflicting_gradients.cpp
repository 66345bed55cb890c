// What each multi-task gradient method does to two conflicting gradients: the Jacobian
//   J = [g1; g2],  g1 = (2, 0),  g2 = (-1.2, 0.8),
// whose rows point away from each other (g1 · g2 = -2.4 < 0) and differ in length
// (|g1| = 2, |g2| ≈ 1.44). Plain equal weighting backpropagates L1 + L2, so its update is the
// sum g1 + g2 = (0.8, 0.8), which raises task 2's loss to first order (g2 · (g1 + g2) < 0);
// the mean, half of it, is the starting point of CAGrad and UPGrad. Every aggregator of
// models/multitask (PCGrad, MGDA, CAGrad, Nash-MTL, UPGrad) is applied to J with its default
// options. The loss weightings are not here: they produce Σ w_i g_i with positive weights
// that depend on the losses, not on J.
//
//   conflicting_gradients
// prints a CSV: the two gradients, then one row per update d, with d · g1 and d · g2 (the
// first-order decrease of each task's loss, up to the step size). docs/plot_conflicting_
// gradients.py draws it.

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <ember/ember.h>

using namespace ember;

namespace {

void print_row(const std::string& name, const std::vector<float>& d, const std::vector<float>& g1,
               const std::vector<float>& g2) {
  const double dot1 = double(d[0]) * g1[0] + double(d[1]) * g1[1];
  const double dot2 = double(d[0]) * g2[0] + double(d[1]) * g2[1];
  std::printf("%s,%.6f,%.6f,%.6f,%.6f\n", name.c_str(), d[0], d[1], dot1, dot2);
}

}  // namespace

int main() {
  const std::vector<float> g1 = {2.f, 0.f}, g2 = {-1.2f, 0.8f};
  const Tensor jacobian = tensor({g1[0], g1[1], g2[0], g2[1]}, {2, 2});

  std::printf("name,x,y,dot_g1,dot_g2\n");
  print_row("g1", g1, g1, g2);
  print_row("g2", g2, g1, g2);
  print_row("sum (equal)", jacobian.sum({0}).to_vector(), g1, g2);
  print_row("mean", jacobian.mean({0}).to_vector(), g1, g2);

  std::vector<std::unique_ptr<models::mtl::Aggregator>> aggregators;
  aggregators.push_back(std::make_unique<models::mtl::PCGrad>());
  aggregators.push_back(std::make_unique<models::mtl::MGDA>());
  aggregators.push_back(std::make_unique<models::mtl::CAGrad>());
  aggregators.push_back(std::make_unique<models::mtl::NashMTL>());
  aggregators.push_back(std::make_unique<models::mtl::UPGrad>());
  for (auto& aggregator : aggregators) {
    print_row(aggregator->name(), (*aggregator)(jacobian).to_vector(), g1, g2);
  }
  return 0;
}
