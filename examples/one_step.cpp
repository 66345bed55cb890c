// One training step of the seed MultiTaskModel, with the graph printed between the forward
// and the backward, and what the step did to each parameter printed after it.
// docs/10-training-step.md follows this step through the library, file by file.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <utility>
#include <vector>

#include <ember/ember.h>

using namespace ember;

namespace {

// Prints the graph behind `loss`, one node per line, each node's inputs indented below it in
// the order of its edges; "-" is an edge to an input that needs no gradient. A node reached
// a second time (the trunk feeds all three heads) is not expanded again.
void print_graph(const Tensor& loss) {
  std::set<const Node*> printed;
  std::vector<std::pair<const Node*, int>> stack{{loss.grad_fn().get(), 0}};  // node, depth
  while (!stack.empty()) {
    const auto [node, depth] = stack.back();
    stack.pop_back();
    if (!node) {
      std::printf("%*s-\n", 2 * depth, "");
      continue;
    }
    const bool seen = !printed.insert(node).second;
    std::printf("%*s%s%s\n", 2 * depth, "", node->name().c_str(), seen ? " (as above)" : "");
    if (seen) continue;
    for (auto edge = node->next.rbegin(); edge != node->next.rend(); ++edge) {
      stack.emplace_back(edge->get(), depth + 1);
    }
  }
}

// The largest |value| in t.
float max_abs(const Tensor& t) {
  float largest = 0.f;
  for (float value : t.to_vector()) largest = std::max(largest, std::fabs(value));
  return largest;
}

}  // namespace

int main() {
  manual_seed(0);
  models::MultiTaskModel model;
  optim::SGD optimizer(model.parameters(), {.lr = 0.01});
  const Tensor x = randn({10, 10});
  const std::vector<Tensor> targets = {randn({10, 1}), randn({10, 1}), randn({10, 1})};

  std::vector<Tensor> before;  // the parameters' values before the step, to compare
  for (const Tensor& param : model.parameters()) before.push_back(clone(param.detach()));

  // The step.
  const std::vector<Tensor> outputs = model.forward(x);  // 3 x [10, 1]
  Tensor loss = nn::mse_loss(outputs[0], targets[0]) + nn::mse_loss(outputs[1], targets[1]) +
                nn::mse_loss(outputs[2], targets[2]);  // []
  loss.backward();
  optimizer.step();

  // The backward freed the tensors the nodes saved, but the nodes and their edges stay while
  // `loss` holds them.
  std::printf("loss %.4f, computed by this graph:\n", loss.item());
  print_graph(loss);

  std::printf("\n%-30s %-9s %-10s %s\n", "parameter", "shape", "max|grad|", "max|change|");
  size_t i = 0;
  for (const auto& [name, param] : model.named_parameters()) {
    const Tensor change = param.detach() - before[i++];
    std::printf("%-30s %-9s %-10.5f %.7f\n", name.c_str(), to_string(param.shape()).c_str(),
                max_abs(param.grad()), max_abs(change));
  }

  optimizer.zero_grad();
  std::printf("\nafter zero_grad, shared_layers.0.weight's grad is %s\n",
              model.parameters()[0].grad().defined() ? "defined" : "undefined");
}
