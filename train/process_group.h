#pragma once
// ProcessGroup: the processes a training run is spread over, as train/ sees them. A Trainer
// given one trains data-parallel (Trainer::set_process_group); fit_ensemble given one spreads
// independent members over the processes (EnsembleOptions::group). dist::Communicator
// implements it over MPI (dist/communicator.h); train/ never includes MPI, so a build without
// MPI loses nothing here.
//
// Every method but rank(), size() and epoch() is collective: every process of the group must
// call it, in the same order, with buffers of the same length where it says so.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <ember/core/tensor.h>

namespace ember::train {

/// One process's part of one global batch.
struct BatchShard {
  std::vector<int64_t> rows;  // dataset rows, in the order one process would see them
  int64_t batch_rows = 0;     // rows of the whole batch, over every process
};

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;

  /// This process's number, from 0 (rank 0 writes the run's files), and how many there are.
  virtual int rank() const = 0;
  virtual int size() const = 0;

  /// Element-wise sums over the group, in place, on every process (same length everywhere).
  virtual void all_reduce_sum(std::span<double> values) = 0;
  /// Rank 0's bytes on every process: the others' are replaced (and resized).
  virtual void broadcast(std::vector<std::byte>& bytes) = 0;
  /// On rank 0, every process's bytes in rank order (lengths may differ); elsewhere empty.
  virtual std::vector<std::vector<std::byte>> gather(const std::vector<std::byte>& bytes) = 0;
  /// Replaces each parameter's gradient by Σ_r weight_r · grad_r over the processes r, where
  /// each passes its own `weight`. An undefined gradient counts as zeros; one undefined on
  /// every process stays undefined (optimizers skip it, as they would in one process). Same
  /// parameters, in the same order, everywhere.
  virtual void reduce_gradients(const std::vector<Tensor>& parameters, double weight) = 0;

  /// This process's shard of every batch of an epoch over `rows` dataset rows: the batches
  /// are those of data::DataLoader(dataset, batch_size, shuffle, false, seed) in one process,
  /// whatever the number of processes, and every row falls to exactly one process.
  virtual std::vector<BatchShard> epoch(int64_t rows, int64_t batch_size, bool shuffle,
                                        uint64_t seed) const = 0;
};

}  // namespace ember::train
