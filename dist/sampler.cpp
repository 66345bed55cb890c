#include <ember/dist/sampler.h>
#include <ember/error.h>
#include <ember/nn/dataset.h>

#include <string>

namespace ember::dist {

DistributedSampler::DistributedSampler(int64_t rows, int64_t batch_size, bool shuffle, int rank,
                                       int size)
    : rows_(rows), batch_size_(batch_size), shuffle_(shuffle), rank_(rank), size_(size) {
  if (rows < 1 || rows > (int64_t{1} << 24)) {
    throw Error("DistributedSampler: rows must be in [1, 2^24], got " + std::to_string(rows));
  }
  if (batch_size < 1) {
    throw Error("DistributedSampler: batch_size must be >= 1, got " + std::to_string(batch_size));
  }
  if (size < 1 || rank < 0 || rank >= size) {
    throw Error("DistributedSampler: rank " + std::to_string(rank) + " is not one of " +
                std::to_string(size) + " processes");
  }
}

std::pair<int64_t, int64_t> DistributedSampler::shard(int64_t batch_rows, int rank, int size) {
  return {batch_rows * rank / size, batch_rows * (rank + 1) / size};
}

// The order comes from a DataLoader over the row numbers themselves, so it is the training
// loader's order by construction: both draw one permutation of N from the same seed.
std::vector<train::BatchShard> DistributedSampler::epoch(uint64_t seed) const {
  data::DataLoader loader(data::TensorDataset({arange(static_cast<float>(rows_))}), batch_size_,
                          shuffle_, /*drop_last=*/false, seed);
  std::vector<train::BatchShard> shards;
  shards.reserve(static_cast<size_t>(loader.size()));
  for (const std::vector<Tensor>& batch : loader) {
    const Tensor& rows = batch[0];
    const auto [begin, end] = shard(rows.numel(), rank_, size_);
    train::BatchShard part{{}, rows.numel()};
    part.rows.reserve(static_cast<size_t>(end - begin));
    for (int64_t i = begin; i < end; ++i) part.rows.push_back(static_cast<int64_t>(rows.data()[i]));
    shards.push_back(std::move(part));
  }
  return shards;
}

}  // namespace ember::dist
