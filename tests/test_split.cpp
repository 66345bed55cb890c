#include <ember/ember.h>

#include <catch2/catch.hpp>

#include <algorithm>

using namespace ember;

namespace {
int64_t count_of(const Tensor& labels, float label) {
  const std::vector<float> values = labels.to_vector();
  return std::count(values.begin(), values.end(), label);
}
}  // namespace

TEST_CASE("a stratified split keeps each class's share and every row once") {
  std::vector<float> labels(100, 0.f), ids(100);
  for (int i = 0; i < 100; ++i) ids[i] = static_cast<float>(i);
  for (int i = 0; i < 20; ++i) labels[i * 5] = 1.f;
  const Tensor y = tensor(labels, {100}), id = tensor(ids, {100});
  const auto [train, test] = data::train_test_split({id, y}, 0.25f, 3, y);
  REQUIRE(test[0].size(0) == 25);
  CHECK(count_of(test[1], 1.f) == 5);  // 25% of the 20 ones
  CHECK(count_of(train[1], 1.f) == 15);
  std::vector<float> all = train[0].to_vector();
  const std::vector<float> test_ids = test[0].to_vector();
  all.insert(all.end(), test_ids.begin(), test_ids.end());
  std::sort(all.begin(), all.end());
  CHECK(all == ids);
  // Labels travel with their rows.
  const std::vector<float> train_ids = train[0].to_vector(), train_labels = train[1].to_vector();
  for (size_t i = 0; i < train_ids.size(); ++i) {
    CHECK(train_labels[i] == labels[static_cast<size_t>(train_ids[i])]);
  }
}

TEST_CASE("a stratified split shares leftover test rows by largest remainder") {
  // 7 zeros and 3 ones, half to test: 5 rows, exact shares 3.5 and 1.5; the floors give 4,
  // and the tie in remainders goes to the first class: 4 zeros and 1 one.
  const Tensor y = tensor({0.f, 0.f, 1.f, 0.f, 0.f, 1.f, 0.f, 0.f, 1.f, 0.f}, {10});
  const auto [train, test] = data::train_test_split({y}, 0.5f, 0, y);
  CHECK(count_of(test[0], 0.f) == 4);
  CHECK(count_of(test[0], 1.f) == 1);
  CHECK(train[0].size(0) == 5);
}

TEST_CASE("a stratified split depends on its seed only") {
  const Tensor y = tensor({0.f, 1.f, 0.f, 1.f, 0.f, 1.f, 0.f, 1.f}, {8});
  const Tensor id = tensor({0.f, 1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f}, {8});
  const auto first = data::train_test_split({id}, 0.5f, 9, y).second[0].to_vector();
  CHECK(data::train_test_split({id}, 0.5f, 9, y).second[0].to_vector() == first);
  bool differs = false;
  for (uint64_t seed = 10; seed < 20 && !differs; ++seed) {
    differs = data::train_test_split({id}, 0.5f, seed, y).second[0].to_vector() != first;
  }
  CHECK(differs);
}

TEST_CASE("a stratified split refuses labels of the wrong shape") {
  const Tensor x = zeros({4, 2});
  CHECK_THROWS_WITH(data::train_test_split({x}, 0.5f, 0, zeros({3})),
                    "train_test_split: stratify labels must be [4], got [3]");
  CHECK_THROWS_WITH(data::train_test_split({x}, 1.5f, 0, zeros({4})),
                    "train_test_split: test_fraction must be in (0, 1), got 1.5");
}

TEST_CASE("a split takes as many test rows as scikit-learn's train_test_split") {
  // len(test) from sklearn 1.2's train_test_split(np.arange(n), test_size=f). 0.3f · 100 in
  // float is 30.000002 (31 rows); 0.07 · 100 in double is 7.000000000000001, and scikit-learn
  // takes 8.
  const struct {
    float fraction;
    int64_t rows, test_rows;
  } cases[] = {{0.3f, 100, 30}, {0.2f, 10, 2}, {0.1f, 70, 7},   {0.07f, 100, 8},
               {0.15f, 20, 3},  {0.1f, 48, 5}, {0.2f, 40, 8},   {0.3f, 7, 3},
               {0.35f, 20, 7},  {0.7f, 10, 7}, {0.55f, 20, 11}, {0.45f, 100, 45}};
  for (const auto& c : cases) {
    INFO(c.fraction << " of " << c.rows);
    CHECK(data::rows_of_fraction(c.fraction, c.rows) == c.test_rows);
    std::vector<float> ids(static_cast<size_t>(c.rows)), parity(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<float>(i), parity[i] = i % 2;
    const Tensor id = tensor(ids, {c.rows}), labels = tensor(parity, {c.rows});
    CHECK(data::train_test_split({id}, c.fraction, 1).second[0].size(0) == c.test_rows);
    CHECK(data::train_test_split({id}, c.fraction, 1, labels).second[0].size(0) == c.test_rows);
  }
}
