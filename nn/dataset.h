#pragma once
// TensorDataset, DataLoader and train_test_split: rows of aligned tensors, served in batches
// or split in two, shuffled by a seeded generator of their own.

#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include <ember/core/tensor.h>

namespace ember::data {

/// Tensors whose first dim indexes the same samples, like torch.utils.data.TensorDataset:
/// features x [N, F] and targets y [N, 1] give N samples (x[i], y[i]).
class TensorDataset {
 public:
  /// Throws Error if `tensors` is empty, one is undefined or 0-d, or their first dims differ
  /// (the message lists every shape).
  explicit TensorDataset(std::vector<Tensor> tensors);

  /// Number of samples N.
  int64_t size() const;
  /// Sample `index`: the row `index` of each tensor (x [N, F] gives [F]; y [N] gives a 0-d
  /// tensor). Throws Error unless 0 <= index < size().
  std::vector<Tensor> get(int64_t index) const;
  const std::vector<Tensor>& tensors() const { return tensors_; }

 private:
  std::vector<Tensor> tensors_;
};

/// Serves a dataset in batches, like torch.utils.data.DataLoader:
///
///   data::DataLoader loader(data::TensorDataset({x, y}), /*batch_size=*/32, /*shuffle=*/true);
///   for (int epoch = 0; epoch < 10; ++epoch)
///     for (const std::vector<Tensor>& batch : loader) train_step(batch[0], batch[1]);
///
/// A batch holds one tensor per dataset tensor: its rows for that batch, stacked along dim 0.
/// Every `begin()` starts an epoch; with `shuffle` each epoch visits the rows in a new order
/// drawn from the loader's own generator (std::mt19937_64 seeded with `seed`), so the same
/// seed gives the same sequence of epochs. Without a seed, it takes one from ember's global
/// generator (next_seed), so that manual_seed decides the order, as torch.manual_seed does. Without
/// `shuffle` rows come in order. The last batch is shorter when the batch size does not divide N,
/// unless `drop_last` drops it.
class DataLoader {
 public:
  /// Yields one batch per step. Holds the order of its epoch, so it stays valid while the
  /// loader starts another one; it must not outlive the loader.
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = std::vector<Tensor>;
    using difference_type = std::ptrdiff_t;

    Iterator() = default;
    Iterator(const DataLoader* loader, std::shared_ptr<const std::vector<int64_t>> order,
             int64_t batch)
        : loader_(loader), order_(std::move(order)), batch_(batch) {}

    /// The current batch (built on each call).
    std::vector<Tensor> operator*() const;
    Iterator& operator++() {
      ++batch_;
      return *this;
    }
    Iterator operator++(int) {
      Iterator before = *this;
      ++batch_;
      return before;
    }
    bool operator==(const Iterator& other) const { return batch_ == other.batch_; }

   private:
    const DataLoader* loader_ = nullptr;
    std::shared_ptr<const std::vector<int64_t>> order_;
    int64_t batch_ = 0;
  };

  /// Keeps a copy of `dataset` (cheap: the tensors are shared handles). Throws Error if
  /// `batch_size` < 1, or if the dataset has more than 2^24 rows (batches are gathered with
  /// index_select, whose float32 indices are exact only up to 2^24).
  DataLoader(TensorDataset dataset, int64_t batch_size, bool shuffle = false,
             bool drop_last = false, std::optional<uint64_t> seed = std::nullopt);

  /// Number of batches per epoch: ceil(N / batch_size), or floor with drop_last.
  int64_t size() const;
  int64_t batch_size() const { return batch_size_; }
  const TensorDataset& dataset() const { return dataset_; }

  /// Starts a new epoch (and draws its order when shuffling).
  Iterator begin();
  Iterator end() const { return Iterator(this, nullptr, size()); }

 private:
  std::vector<Tensor> batch(const std::vector<int64_t>& order, int64_t index) const;

  TensorDataset dataset_;
  int64_t batch_size_;
  bool shuffle_;
  bool drop_last_;
  std::mt19937_64 generator_;
};

/// ceil(fraction · rows), as scikit-learn counts a split's test rows: in double, from the
/// shortest decimal that reads back as `fraction` (0.3f counts as 0.3, so 0.3 of 100 rows is 30).
int64_t rows_of_fraction(float fraction, int64_t rows);

/// Splits aligned tensors into (train, test) by rows, like scikit-learn's train_test_split:
/// the rows are shuffled with a generator seeded by `seed` (without one, seeded from the
/// calling thread's generator, so manual_seed decides the split), the first ceil(test_fraction · N)
/// go to the test set and the rest to the training set, in the same order for every tensor. Throws
/// Error if the tensors do not share their first dim (see TensorDataset), if test_fraction is not
/// in (0, 1), or if either set would be empty.
std::pair<std::vector<Tensor>, std::vector<Tensor>> train_test_split(
    const std::vector<Tensor>& tensors, float test_fraction,
    std::optional<uint64_t> seed = std::nullopt);

/// Same, stratified like scikit-learn's `stratify=labels`: each class of `labels` [N]
/// (integers held as floats) keeps its share in both sets. The ceil(test_fraction · N) test
/// rows are shared out by largest remainder: each class c of n_c rows gets
/// floor(test_fraction · n_c), and the rows left over go to the classes with the largest
/// fractional parts. Within a class the rows are drawn at random, and each set is shuffled.
/// Throws Error as above, and if `labels` is not [N].
std::pair<std::vector<Tensor>, std::vector<Tensor>> train_test_split(
    const std::vector<Tensor>& tensors, float test_fraction, std::optional<uint64_t> seed,
    const Tensor& labels);

}  // namespace ember::data
