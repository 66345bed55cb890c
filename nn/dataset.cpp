#include <ember/core/ops.h>
#include <ember/core/random.h>
#include <ember/error.h>
#include <ember/nn/dataset.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <string>
#include <utility>

namespace ember::data {

namespace {

// Rows are gathered with index_select, whose index tensor is float32: every integer up to
// 2^24 is exact, beyond that odd ones are not.
constexpr int64_t kMaxIndexableRows = int64_t{1} << 24;

// Every tensor defined, at least 1-d, and all with the same first dim. Returns that dim.
int64_t check_aligned_rows(const std::vector<Tensor>& tensors, const std::string& op) {
  if (tensors.empty()) throw Error(op + ": needs at least one tensor");
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (!tensors[i].defined()) throw Error(op + ": tensor " + std::to_string(i) + " is undefined");
    if (tensors[i].dim() == 0) {
      throw Error(op + ": tensor " + std::to_string(i) + " is 0-d; samples are indexed by dim 0");
    }
  }
  const int64_t rows = tensors[0].size(0);
  for (const Tensor& t : tensors) {
    if (t.size(0) != rows) {
      std::string shapes;
      for (const Tensor& each : tensors)
        shapes += (shapes.empty() ? "" : ", ") + to_string(each.shape());
      throw Error(op + ": tensors must share their first dim (the number of samples), got shapes " +
                  shapes);
    }
  }
  return rows;
}

void check_indexable(int64_t rows, const std::string& op) {
  if (rows > kMaxIndexableRows) {
    throw Error(op + ": " + std::to_string(rows) + " rows is more than 2^24, the most that " +
                "float32 indices address exactly");
  }
}

// The shortest text that reads back as `value` ("0.2", not std::to_string's "0.200000").
std::string shortest(float value) {
  char text[32];
  const auto result = std::to_chars(text, text + sizeof text, value);
  return std::string(text, result.ptr);
}

// A uniform integer in [0, bound). Rejection drops the top partial block of 2^64 draws, so
// every result is equally likely (a plain `draw % bound` favours small values).
uint64_t uniform_below(uint64_t bound, std::mt19937_64& generator) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  const uint64_t limit = max - max % bound;
  uint64_t draw = generator();
  while (draw >= limit) draw = generator();
  return draw % bound;
}

// 0..n-1 in a uniformly random order (Fisher-Yates). Written out rather than std::shuffle,
// whose algorithm differs between standard libraries: mt19937_64's stream is fixed by the
// standard, so a seed gives the same order everywhere.
std::vector<int64_t> random_permutation(int64_t n, std::mt19937_64& generator) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(uniform_below(static_cast<uint64_t>(i + 1), generator));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

// Rows `order[begin, end)` of each tensor, in that order.
std::vector<Tensor> gather_rows(const std::vector<Tensor>& tensors,
                                const std::vector<int64_t>& order, int64_t begin, int64_t end) {
  const std::vector<float> picks(order.begin() + begin, order.begin() + end);
  const Tensor index = tensor(picks, Shape{end - begin});
  std::vector<Tensor> rows;
  rows.reserve(tensors.size());
  for (const Tensor& t : tensors) rows.push_back(index_select(t, 0, index));
  return rows;
}

}  // namespace

// -- TensorDataset ---------------------------------------------------------------------------

TensorDataset::TensorDataset(std::vector<Tensor> tensors) : tensors_(std::move(tensors)) {
  check_aligned_rows(tensors_, "TensorDataset");
}

int64_t TensorDataset::size() const { return tensors_[0].size(0); }

std::vector<Tensor> TensorDataset::get(int64_t index) const {
  if (index < 0 || index >= size()) {
    throw Error("TensorDataset::get: index " + std::to_string(index) +
                " is out of range for a dataset of " + std::to_string(size()) + " samples");
  }
  std::vector<Tensor> sample;
  sample.reserve(tensors_.size());
  for (const Tensor& t : tensors_) {
    const Shape row_shape(t.shape().begin() + 1, t.shape().end());
    sample.push_back(reshape(narrow(t, 0, index, 1), row_shape));
  }
  return sample;
}

// -- DataLoader ------------------------------------------------------------------------------

DataLoader::DataLoader(TensorDataset dataset, int64_t batch_size, bool shuffle, bool drop_last,
                       std::optional<uint64_t> seed)
    : dataset_(std::move(dataset)),
      batch_size_(batch_size),
      shuffle_(shuffle),
      drop_last_(drop_last),
      generator_(seed      ? *seed
                 : shuffle ? next_seed()
                           : 0) {
  if (batch_size < 1) {
    throw Error("DataLoader: batch_size must be at least 1, got " + std::to_string(batch_size));
  }
  check_indexable(dataset_.size(), "DataLoader");
}

int64_t DataLoader::size() const {
  const int64_t rows = dataset_.size();
  return drop_last_ ? rows / batch_size_ : (rows + batch_size_ - 1) / batch_size_;
}

DataLoader::Iterator DataLoader::begin() {
  std::vector<int64_t> order;
  if (shuffle_) {
    order = random_permutation(dataset_.size(), generator_);
  } else {
    order.resize(static_cast<size_t>(dataset_.size()));
    std::iota(order.begin(), order.end(), int64_t{0});
  }
  return Iterator(this, std::make_shared<const std::vector<int64_t>>(std::move(order)), 0);
}

std::vector<Tensor> DataLoader::batch(const std::vector<int64_t>& order, int64_t index) const {
  const int64_t begin = index * batch_size_;
  const int64_t end = std::min(begin + batch_size_, dataset_.size());
  return gather_rows(dataset_.tensors(), order, begin, end);
}

std::vector<Tensor> DataLoader::Iterator::operator*() const {
  if (loader_ == nullptr || order_ == nullptr || batch_ < 0 || batch_ >= loader_->size()) {
    throw Error("DataLoader: dereferencing an iterator that points at no batch");
  }
  return loader_->batch(*order_, batch_);
}

// -- train_test_split ------------------------------------------------------------------------

// From the decimal the float stands for: 0.3f is 0.30000001, and ceil(0.30000001 · 100) is 31
// where scikit-learn's 0.3 · 100 gives 30 (the float product, used before, gave 31 too; a
// plain double product of 0.2f gives 3 of 10 rows, not 2). In double, as scikit-learn, so
// its quirks are kept too: 0.07 · 100 = 7.000000000000001 takes 8 rows.
int64_t rows_of_fraction(float fraction, int64_t rows) {
  const std::string decimal = shortest(fraction);
  double value = 0;
  std::from_chars(decimal.data(), decimal.data() + decimal.size(), value);
  return static_cast<int64_t>(std::ceil(value * static_cast<double>(rows)));
}

namespace {
// The number of test rows, after checking the arguments every split shares.
int64_t test_rows_of(const std::vector<Tensor>& tensors, float test_fraction) {
  const int64_t rows = check_aligned_rows(tensors, "train_test_split");
  check_indexable(rows, "train_test_split");
  if (!(test_fraction > 0.f && test_fraction < 1.f)) {
    throw Error("train_test_split: test_fraction must be in (0, 1), got " +
                shortest(test_fraction));
  }
  const int64_t test_rows = rows_of_fraction(test_fraction, rows);
  if (rows - test_rows < 1) {
    throw Error("train_test_split: with " + std::to_string(rows) + " row(s) and test_fraction " +
                shortest(test_fraction) + " the training set would be empty");
  }
  return test_rows;
}
}  // namespace

std::pair<std::vector<Tensor>, std::vector<Tensor>> train_test_split(
    const std::vector<Tensor>& tensors, float test_fraction, std::optional<uint64_t> seed) {
  const int64_t test_rows = test_rows_of(tensors, test_fraction);
  const int64_t rows = tensors[0].size(0);
  std::mt19937_64 generator(seed ? *seed : next_seed());
  const std::vector<int64_t> order = random_permutation(rows, generator);
  return {gather_rows(tensors, order, test_rows, rows), gather_rows(tensors, order, 0, test_rows)};
}

std::pair<std::vector<Tensor>, std::vector<Tensor>> train_test_split(
    const std::vector<Tensor>& tensors, float test_fraction, std::optional<uint64_t> seed,
    const Tensor& labels) {
  const int64_t test_rows = test_rows_of(tensors, test_fraction);
  const int64_t rows = tensors[0].size(0);
  if (!labels.defined() || labels.dim() != 1 || labels.size(0) != rows) {
    throw Error("train_test_split: stratify labels must be [" + std::to_string(rows) + "], got " +
                (labels.defined() ? to_string(labels.shape()) : std::string("undefined")));
  }
  std::map<float, std::vector<int64_t>> classes;  // label -> its rows
  const float* values = labels.data();
  for (int64_t row = 0; row < rows; ++row) classes[values[row]].push_back(row);

  // Largest remainder: floor shares first, then one more row for the largest remainders.
  std::vector<int64_t> shares;
  std::vector<std::pair<double, size_t>> remainders;
  int64_t given = 0;
  for (const auto& [label, members] : classes) {
    const double exact = static_cast<double>(test_rows) * static_cast<double>(members.size()) /
                         static_cast<double>(rows);
    shares.push_back(static_cast<int64_t>(std::floor(exact)));
    remainders.emplace_back(exact - std::floor(exact), shares.size() - 1);
    given += shares.back();
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; given < test_rows; ++i, ++given) ++shares[remainders[i].second];

  std::mt19937_64 generator(seed ? *seed : next_seed());
  std::vector<int64_t> test, train;
  size_t c = 0;
  for (const auto& [label, members] : classes) {
    const std::vector<int64_t> order =
        random_permutation(static_cast<int64_t>(members.size()), generator);
    for (size_t i = 0; i < order.size(); ++i) {
      const int64_t row = members[static_cast<size_t>(order[i])];
      (static_cast<int64_t>(i) < shares[c] ? test : train).push_back(row);
    }
    ++c;
  }
  // Shuffle each set so that classes are not in blocks.
  std::vector<int64_t> order;
  for (const auto& set : {&train, &test}) {
    for (int64_t i : random_permutation(static_cast<int64_t>(set->size()), generator)) {
      order.push_back((*set)[static_cast<size_t>(i)]);
    }
  }
  const auto train_rows = static_cast<int64_t>(train.size());
  return {gather_rows(tensors, order, 0, train_rows),
          gather_rows(tensors, order, train_rows, rows)};
}

}  // namespace ember::data
