#include <catch2/catch.hpp>

#include <ember/ember.h>

using namespace ember;

TEST_CASE("smoke: y = (t * 2 + 1).relu().sum() backprops 2 where positive", "[tensor]") {
  Tensor t = tensor({1.f, -2.f, 3.f, 4.f}, {2, 2}, true);
  Tensor y = (t * 2.f + 1.f).relu().sum();
  REQUIRE(y.item() == Approx(3.f + 7.f + 9.f));
  y.backward();
  REQUIRE(t.grad().to_vector() == std::vector<float>{2.f, 0.f, 2.f, 2.f});
}
