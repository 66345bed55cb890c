#pragma once
// ember::dist: training across processes on MPI (optional: built when CMake's EMBER_MPI finds
// MPI, linked as ember::dist). Two patterns, both driven by train/'s ProcessGroup:
// data-parallel (Trainer::set_process_group) and ensemble-parallel
// (EnsembleOptions::group). This file is the MPI side: starting MPI, a communicator with
// the few collectives ember needs, and ending a whole job when one process fails.
//
//   int main(int argc, char** argv) {
//     dist::Environment mpi(argc, argv);            // MPI_Init ... MPI_Finalize
//     dist::Communicator& world = mpi.world();
//     try {
//       trainer.set_process_group(&world);          // then as in one process
//       trainer.fit(train_set, &validation_set);
//     } catch (const std::exception& error) {
//       world.abort_job(error.what());               // one message, every process ends
//     }
//   }
//
// mpi.h stays inside communicator.cpp: including this header needs no MPI.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <ember/train/process_group.h>

namespace ember::dist {

/// Whether this process was started by an MPI launcher (mpirun, mpiexec, srun): whether the
/// variables that Open MPI, MPICH, PMIx or Slurm set for their processes are present.
bool launched_by_mpirun();

/// The processes of an MPI communicator, with errors returned rather than fatal
/// (MPI_ERRORS_RETURN): a failed call throws Error naming the call and the rank. Implements
/// train::ProcessGroup, so a Trainer or fit_ensemble uses it directly. Collectives must be
/// called by every process, in the same order, with equal lengths where they say so.
class Communicator : public train::ProcessGroup {
 public:
  /// 1 MiB of gradients per all-reduce message. DDP's 25 MiB pays off where each bucket's
  /// all-reduce overlaps backward; here the buckets go after backward, 1 MiB already makes
  /// the latency small (30 µs against 0.84 ms of transfer on 10 Gb/s Ethernet), and 2
  /// processes on one machine all-reduced 32 MiB in ~14 ms with 1 MiB buckets against ~48 ms
  /// with 25 MiB (docs/14-distributed.md).
  static constexpr int64_t kDefaultBucketBytes = int64_t{1} << 20;

  ~Communicator() override;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  /// Element-wise sums (or means) over the processes, in place, on every process.
  void all_reduce_sum(std::span<float> values);
  void all_reduce_mean(std::span<float> values);
  void all_reduce_sum(std::span<double> values) override;
  /// Rank 0's bytes on every process (the others' are resized to fit).
  void broadcast(std::vector<std::byte>& bytes) override;
  /// On rank 0, each process's bytes in rank order; elsewhere empty. Throws Error when a
  /// process sends 2 GiB or more (MPI counts are ints).
  std::vector<std::vector<std::byte>> gather(const std::vector<std::byte>& bytes) override;
  /// Waits until every process has called it.
  void barrier();

  /// Sums weight · gradient over the processes (train::ProcessGroup::reduce_gradients), with
  /// several parameters packed into each all-reduce message of at most bucket_bytes(), as
  /// PyTorch's DistributedDataParallel does (fewer, larger messages pay the per-message
  /// latency less often); a larger parameter goes alone, in one message.
  void reduce_gradients(const std::vector<Tensor>& parameters, double weight) override;
  /// Bytes of gradients per message: 0 sends one message per parameter. Throws Error if < 0.
  void set_bucket_bytes(int64_t bytes);
  int64_t bucket_bytes() const { return bucket_bytes_; }

  /// This process's shard of every batch of an epoch (dist/sampler.h).
  std::vector<train::BatchShard> epoch(int64_t rows, int64_t batch_size, bool shuffle,
                                       uint64_t seed) const override;

  /// Prints "ember: rank R of P: <message>" on stderr and ends every process of the
  /// communicator with exit code 1 (MPI_Abort), so that the others, blocked in a collective,
  /// do not wait for ever.
  [[noreturn]] void abort_job(const std::string& message) const;

  /// Turns an MPI return code into Error("dist: <call> failed on rank R of P: <MPI's
  /// message>"); does nothing for MPI_SUCCESS (0).
  void check(int code, const std::string& call) const;

 private:
  friend class Environment;
  struct Handle;  // the MPI_Comm, kept out of this header
  explicit Communicator(std::unique_ptr<Handle> handle);

  std::unique_ptr<Handle> handle_;
  int rank_ = 0;
  int size_ = 1;
  int64_t bucket_bytes_ = kDefaultBucketBytes;
};

/// MPI for this object's lifetime: MPI_Init_thread (MPI_THREAD_FUNNELED: only the thread that
/// made it calls MPI; OpenMP threads inside ops never do) and MPI_Finalize. One per program.
/// Without a launcher it starts a single-process job (MPI's singleton mode).
class Environment {
 public:
  /// Throws Error if MPI is already initialised or fails to start.
  Environment(int& argc, char**& argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  /// Every process of the job (a duplicate of MPI_COMM_WORLD, so its error handler is ember's).
  Communicator& world() { return *world_; }

 private:
  std::unique_ptr<Communicator> world_;
};

}  // namespace ember::dist
