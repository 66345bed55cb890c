// Op behaviours checked from math (PyTorch comparisons live in test_reference.cpp), and every
// op's error path.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

#include <ember/ember.h>

using namespace ember;
using Catch::Contains;

TEST_CASE("broadcasting a 3x1 with a 4 gives a 3x4", "[ops]") {
  Tensor a = tensor({1.f, 2.f, 3.f}, {3, 1});
  Tensor b = tensor({10.f, 20.f, 30.f, 40.f});
  Tensor c = a + b;
  CHECK(c.shape() == Shape{3, 4});
  CHECK(c.to_vector()[5] == 22.f);  // row 1, column 1
}

TEST_CASE("float operands work on either side", "[ops]") {
  Tensor x = tensor({2.f, 4.f});
  CHECK((1.f - x).to_vector() == std::vector<float>{-1.f, -3.f});
  CHECK((8.f / x).to_vector() == std::vector<float>{4.f, 2.f});
  CHECK((x / 2.f).to_vector() == std::vector<float>{1.f, 2.f});
  CHECK((-x).to_vector() == std::vector<float>{-2.f, -4.f});
  CHECK((x > 3.f).to_vector() == std::vector<float>{0.f, 1.f});
  CHECK((x == tensor({2.f, 0.f})).to_vector() == std::vector<float>{1.f, 0.f});
}

TEST_CASE("comparisons are not differentiable", "[ops]") {
  Tensor x = ones({2}, true);
  CHECK_FALSE((x > 0.f).requires_grad());
}

TEST_CASE("softmax and log_softmax stay finite at +-1e4", "[ops]") {
  Tensor x = tensor({1e4f, -1e4f, 0.f});
  const std::vector<float> p = softmax(x, 0).to_vector();
  CHECK(p == std::vector<float>{1.f, 0.f, 0.f});
  const std::vector<float> lp = log_softmax(x, 0).to_vector();
  CHECK(lp[0] == 0.f);
  CHECK(lp[1] == -2e4f);
  CHECK(lp[2] == -1e4f);
  CHECK(logsumexp(x, 0).item() == 1e4f);
}

TEST_CASE("ops on zero-size tensors give zero-size results", "[ops]") {
  Tensor e = zeros({1, 0, 3}, true);
  CHECK((e * 2.f + e).shape() == Shape{1, 0, 3});
  CHECK(exp(e).numel() == 0);
  CHECK(sum(e).item() == 0.f);
  CHECK(sum(e, {1}).shape() == Shape{1, 3});
  CHECK(std::isnan(mean(zeros({0})).item()));  // 0 / 0, as in PyTorch
  sum(e * 3.f).backward();
  CHECK(e.grad().shape() == Shape{1, 0, 3});
}

TEST_CASE("max along a dim returns values and first-occurrence indices", "[ops]") {
  Tensor x = tensor({1.f, 5.f, 5.f, 7.f, 0.f, -1.f}, {2, 3});
  ValuesIndices m = max(x, 1);
  CHECK(m.values.to_vector() == std::vector<float>{5.f, 7.f});
  CHECK(m.indices.to_vector() == std::vector<float>{1.f, 0.f});
  ValuesIndices k = min(x, 0, true);
  CHECK(k.values.shape() == Shape{1, 3});
  CHECK(k.indices.to_vector() == std::vector<float>{0.f, 1.f, 1.f});
}

TEST_CASE("a matrix's column sums agree with and without a graph to record", "[ops]") {
  // Without a node to record, sum(x, {0}) (and mean) of a matrix takes a short path.
  Tensor x = tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}).reshape({2, 3});
  x.requires_grad_(true);
  const std::vector<float> expected{5.f, 7.f, 9.f};
  Tensor recorded = sum(x, {0});
  CHECK(recorded.grad_fn() != nullptr);
  CHECK(recorded.to_vector() == expected);
  NoGradGuard no_grad;
  for (const int64_t dim : {0, -2}) {
    const Tensor direct = sum(x, {dim});
    CHECK(direct.shape() == Shape{3});
    CHECK(direct.grad_fn() == nullptr);
    CHECK(direct.to_vector() == expected);
  }
  CHECK(mean(x, {0}).to_vector() == std::vector<float>{2.5f, 3.5f, 4.5f});
  CHECK(sum(x, {0}, true).shape() == Shape{1, 3});
  CHECK(sum(x, {1}).to_vector() == std::vector<float>{6.f, 15.f});
}

TEST_CASE("matmul follows torch.matmul's shape rules", "[ops]") {
  CHECK(matmul(ones({4}), ones({4})).shape() == Shape{});
  CHECK(matmul(ones({3, 4}), ones({4})).shape() == Shape{3});
  CHECK(matmul(ones({4}), ones({4, 2})).shape() == Shape{2});
  CHECK(matmul(ones({2, 1, 3, 4}), ones({5, 4, 2})).shape() == Shape{2, 5, 3, 2});
  CHECK(matmul(ones({7, 3, 4}), ones({4, 2})).shape() == Shape{7, 3, 2});
  CHECK(matmul(ones({4}), ones({6, 4, 2})).shape() == Shape{6, 2});
  CHECK(matmul(ones({3, 4}), ones({4, 5})).to_vector() == std::vector<float>(15, 4.f));
}

TEST_CASE("linear is x·wᵀ + b on any leading dims", "[ops]") {
  Tensor x = arange(6.f).reshape({1, 2, 3});
  Tensor w = tensor({1.f, 0.f, 0.f, 0.f, 1.f, 1.f}, {2, 3});
  Tensor b = tensor({10.f, 20.f});
  Tensor y = linear(x, w, b);
  CHECK(y.shape() == Shape{1, 2, 2});
  CHECK(y.to_vector() == std::vector<float>{10.f, 23.f, 13.f, 29.f});
}

TEST_CASE("binary ops reject shapes that do not broadcast", "[ops][errors]") {
  CHECK_THROWS_AS(ones({2, 3}) + ones({4}), Error);
  CHECK_THROWS_WITH(ones({2, 3}) + ones({4}),
                    Contains("add") && Contains("[2, 3]") && Contains("[4]"));
  CHECK_THROWS_WITH(mul(ones({3, 2}), ones({2, 3})), Contains("mul") && Contains("[3, 2]"));
  CHECK_THROWS_WITH(where(ones({2}), ones({3}), ones({3})), Contains("where"));
}

TEST_CASE("matmul rejects misaligned and 0-d operands", "[ops][errors]") {
  CHECK_THROWS_WITH(matmul(ones({3, 4}), ones({5, 6})),
                    Contains("matmul: shapes [3, 4] and [5, 6] are not aligned (4 != 5)"));
  CHECK_THROWS_WITH(matmul(ones({4}), ones({3})), Contains("4 != 3"));
  CHECK_THROWS_WITH(matmul(ones({}), ones({3})), Contains("at least 1 dimension"));
  CHECK_THROWS_WITH(matmul(ones({2, 3, 4}), ones({3, 4, 2})), Contains("[2]") && Contains("[3]"));
}

TEST_CASE("linear rejects a weight or bias of the wrong shape", "[ops][errors]") {
  CHECK_THROWS_WITH(linear(ones({2, 3}), ones({4, 5})), Contains("linear") && Contains("[4, 5]"));
  CHECK_THROWS_WITH(linear(ones({2, 3}), ones({4, 3}), ones({3})), Contains("bias shape [3]"));
}

TEST_CASE("reshape rejects a size that does not match", "[ops][errors]") {
  CHECK(ones({2, 6}).reshape({3, -1}).shape() == Shape{3, 4});
  CHECK_THROWS_WITH(ones({2, 3}).reshape({4, 2}),
                    Contains("reshape") && Contains("[4, 2]") && Contains("[2, 3]"));
  CHECK_THROWS_WITH(ones({2, 3}).reshape({-1, -1}), Contains("more than one -1"));
  CHECK_THROWS_WITH(ones({2, 3}).reshape({4, -1}), Contains("invalid"));
}

TEST_CASE("a bad dim index names the op and the valid range", "[ops][errors]") {
  Tensor x = ones({2, 3});
  CHECK_THROWS_WITH(sum(x, {2}), Contains("sum: dim 2 is out of range") && Contains("[-2, 1]"));
  CHECK_THROWS_WITH(sum(x, {0, -2}), Contains("more than once"));
  CHECK_THROWS_WITH(softmax(x, -3), Contains("softmax"));
  CHECK_THROWS_WITH(max(x, 5), Contains("max"));
  CHECK_THROWS_WITH(transpose(x, 0, 2), Contains("transpose"));
  CHECK_THROWS_WITH(permute(x, {0, 0}), Contains("permute") && Contains("more than once"));
  CHECK_THROWS_WITH(permute(x, {0}), Contains("permute") && Contains("[2, 3]"));
  CHECK_THROWS_WITH(unsqueeze(x, 4), Contains("unsqueeze"));
  CHECK_THROWS_WITH(flatten(x, 1, 0), Contains("flatten"));
}

TEST_CASE("shape ops reject out-of-range pieces", "[ops][errors]") {
  Tensor x = ones({2, 3});
  CHECK_THROWS_WITH(narrow(x, 1, 2, 2), Contains("narrow") && Contains("[2, 4)"));
  CHECK_THROWS_WITH(cat({x, ones({3, 3})}, 1), Contains("cat") && Contains("[3, 3]"));
  CHECK_THROWS_WITH(cat({}, 0), Contains("cat"));
  CHECK_THROWS_WITH(stack({x, ones({3, 2})}), Contains("stack") && Contains("[3, 2]"));
  CHECK_THROWS_WITH(index_select(x, 1, tensor({3.f})),
                    Contains("index_select") && Contains("[0, 3)"));
  CHECK_THROWS_WITH(index_select(x, 1, tensor({0.5f})), Contains("not an integer"));
  CHECK_THROWS_WITH(index_add(x, 0, tensor({0.f}), ones({2, 3})),
                    Contains("index_add") && Contains("[1, 3]"));
  CHECK_THROWS_WITH(expand(ones({2, 3}), {4, 3}), Contains("expand") && Contains("[4, 3]"));
  CHECK_THROWS_WITH(max(zeros({2, 0}), 1), Contains("size 0"));
  CHECK_THROWS_WITH(clamp(x, 1.f, 0.f), Contains("clamp"));
  CHECK_THROWS_WITH(x.copy_(ones({3})), Contains("copy_") && Contains("[3]"));
  CHECK_THROWS_WITH(x.add_(ones({4})), Contains("add_"));
}

TEST_CASE("clone copies into new storage and refuses an undefined tensor", "[ops][errors]") {
  Tensor x = ones({2});
  Tensor copy = clone(x);
  copy.fill_(3.f);
  CHECK(x.to_vector() == std::vector<float>{1.f, 1.f});
  CHECK_THROWS_WITH(clone(Tensor()), Contains("clone") && Contains("undefined"));
}

TEST_CASE("slice clips bounds like Python", "[ops]") {
  Tensor x = arange(5.f);
  CHECK(slice(x, 0, -2, 100).to_vector() == std::vector<float>{3.f, 4.f});
  CHECK(slice(x, 0, 4, 2).numel() == 0);
}

TEST_CASE("a shape prints like to_string", "[ops]") {
  std::ostringstream out;
  out << zeros({2, 3}).shape() << ' ' << Shape{} << ' ' << Shape{1, 2, 3, 4, 5, 6, 7};
  CHECK(out.str() == "[2, 3] [] [1, 2, 3, 4, 5, 6, 7]");
}

TEST_CASE("std is the square root of var, with Bessel's correction by default", "[ops]") {
  // torch.std(y) = 2.8284 (sqrt(8)); torch.std(y, dim=1) = [sqrt(7/3), sqrt(28/3)];
  // torch.std(y, dim=[0], unbiased=False, keepdim=True) = [[1, 1.5, 2.5]]
  const Tensor y = tensor({1.f, 2.f, 4.f, 3.f, 5.f, 9.f}, {2, 3});
  CHECK(ember::std(y).item() == Approx(std::sqrt(8.f)));
  const std::vector<float> rows = y.std(Dims{1}).to_vector();
  CHECK(rows[0] == Approx(std::sqrt(7.f / 3.f)));
  CHECK(rows[1] == Approx(std::sqrt(28.f / 3.f)));
  const Tensor columns = ember::std(y, {0}, false, true);
  CHECK(columns.shape() == Shape{1, 3});
  CHECK(columns.to_vector() == std::vector<float>{1.f, 1.5f, 2.5f});
  // One element: the unbiased estimate divides 0 by 0, as torch.std(torch.tensor([3.])).
  CHECK(std::isnan(ember::std(tensor({3.f})).item()));
}

TEST_CASE("std of a constant has gradient 0, as in PyTorch", "[ops]") {
  // x = torch.ones(3, requires_grad=True); torch.std(x).backward() -> x.grad = [0, 0, 0]
  const Tensor x = ones({3}, true);
  const Tensor s = ember::std(x);
  s.backward();
  CHECK(s.item() == 0.f);
  CHECK(x.grad().to_vector() == std::vector<float>{0.f, 0.f, 0.f});
}

TEST_CASE("randperm is a seeded permutation of 0..n-1", "[ops][random]") {
  manual_seed(3);
  const std::vector<float> first = randperm(50).to_vector();
  manual_seed(3);
  const std::vector<float> again = randperm(50).to_vector();
  manual_seed(4);
  const std::vector<float> other = randperm(50).to_vector();
  CHECK(first == again);
  CHECK(first != other);
  std::vector<float> sorted = first, identity(50);
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < identity.size(); ++i) identity[i] = static_cast<float>(i);
  CHECK(sorted == identity);
  CHECK(first != identity);
  CHECK(randperm(50).shape() == Shape{50});
  CHECK(randperm(0).shape() == Shape{0});
  CHECK(randperm(1).to_vector() == std::vector<float>{0.f});
}

TEST_CASE("randperm rejects a negative or too large n", "[ops][errors]") {
  CHECK_THROWS_WITH(randperm(-1), Contains("randperm") && Contains("-1"));
  CHECK_THROWS_WITH(randperm((int64_t(1) << 24) + 1), Contains("randperm") && Contains("2^24"));
}

TEST_CASE("set_num_threads caps the GEMM threads and rejects fewer than one", "[ops]") {
  const int before = num_threads();
  set_num_threads(1);
  CHECK(num_threads() == 1);
  // A product large enough to run in parallel still gives the same result on one thread.
  const Tensor a = ones({256, 256}), b = full({256, 256}, 2.f);
  CHECK(matmul(a, b).to_vector() == std::vector<float>(256 * 256, 512.f));
  set_num_threads(before);
  CHECK(num_threads() == before);
  CHECK_THROWS_WITH(set_num_threads(0), Contains("at least 1 thread, got 0"));
}
