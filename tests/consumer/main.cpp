// The smallest useful ember program, built against an installed copy of the library:
// d/dt sum(t * t) = 2 t.
#include <ember/ember.h>

#include <cstdio>
#include <exception>
#include <vector>

int main() {
  try {
    ember::Tensor t = ember::tensor({1.f, 2.f, 3.f}, {3}, true);
    ember::Tensor y = (t * t).sum();
    y.backward();

    const std::vector<float> x = t.to_vector();
    const std::vector<float> g = t.grad().to_vector();
    if (g.size() != x.size()) {
      std::printf("ember consumer: FAILED, grad has %zu elements, expected %zu\n", g.size(),
                  x.size());
      return 1;
    }
    std::printf("ember consumer: y = %g, grad = [%g, %g, %g]\n", y.item(), g[0], g[1], g[2]);
    for (size_t i = 0; i < x.size(); ++i) {
      if (g[i] != 2.f * x[i]) {
        std::printf("ember consumer: FAILED, grad[%zu] = %g, expected %g\n", i, g[i], 2.f * x[i]);
        return 1;
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::printf("ember consumer: FAILED with exception: %s\n", e.what());
    return 1;
  }
}
