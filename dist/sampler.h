#pragma once
// DistributedSampler: how data-parallel training shares each batch out among processes.
//
// The batches are those one process trains on: data::DataLoader(dataset, batch_size, shuffle,
// /*drop_last=*/false, seed), so a seed gives the same batches whatever the number of
// processes. Process r of p takes the rows [floor(r·n/p), floor((r+1)·n/p)) of each batch of
// n rows: every row of an epoch falls to exactly one process, the shards of a batch differ by
// at most one row, and a batch with fewer rows than processes (a short last batch) leaves
// some with none. The Trainer weights each shard's gradient by its share of the batch, so
// uneven shards still give the whole batch's gradient.

#include <cstdint>
#include <utility>
#include <vector>

#include <ember/train/process_group.h>

namespace ember::dist {

class DistributedSampler {
 public:
  /// Throws Error for rows outside [1, 2^24] (the DataLoader's limit), batch_size < 1,
  /// size < 1, or rank outside [0, size).
  DistributedSampler(int64_t rows, int64_t batch_size, bool shuffle, int rank, int size);

  /// This process's shard of every batch of the epoch whose order `seed` draws (ignored
  /// without shuffle).
  std::vector<train::BatchShard> epoch(uint64_t seed) const;

  /// The rows [begin, end) of a batch of `batch_rows` rows that fall to `rank` of `size`.
  static std::pair<int64_t, int64_t> shard(int64_t batch_rows, int rank, int size);

 private:
  int64_t rows_, batch_size_;
  bool shuffle_;
  int rank_, size_;
};

}  // namespace ember::dist
