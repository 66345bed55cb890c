// Fits y = 2·x0 - x1 + 0.5·x2 + 0.3 by gradient descent, with nothing but tensors and autograd.
#include <iostream>

#include <ember/ember.h>

using namespace ember;

int main() {
  manual_seed(0);
  Tensor x = randn({64, 3});
  Tensor y = matmul(x, tensor({2.f, -1.f, 0.5f})) + 0.3f;  // the line to recover
  Tensor w = zeros({3}, true), b = zeros({}, true);
  for (int step = 0; step <= 100; ++step) {
    Tensor loss = mean(pow(matmul(x, w) + b - y, 2.f));
    loss.backward();
    NoGradGuard no_grad;  // the update itself is not part of the graph
    w.add_(w.grad(), -0.1f).set_grad({});
    b.add_(b.grad(), -0.1f).set_grad({});
  }
  std::cout << "w = " << w << "\n";  // w = tensor([ 2.0000, -1.0000,  0.5000], requires_grad=True)
  std::cout << "b = " << b << "\n";  // b = tensor(0.3000, requires_grad=True)
}
