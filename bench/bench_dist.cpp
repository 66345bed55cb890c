// Training across processes (dist/), measured on this machine, and a paper model beyond it.
// Run it under the launcher, once per process count (docs/14-distributed.md has the numbers):
//   mpiexec -n 1 build/bench/bench_dist            one process, one thread
//   mpiexec -n 1 --bind-to none build/bench/bench_dist 2
//                                                  one process, two threads (Open MPI binds
//                                                  a job of 1 or 2 processes to one core each)
//   mpiexec -n 2 build/bench/bench_dist            two processes, one thread each
// (started without a launcher it runs as one process). It prints:
// 1. data-parallel training at the largest benchmark size: a 1024 -> 4096 -> 1024 MLP
//    (1024-way classification), global batch 1024, epochs of 4 steps (4096 rows), SGD: seconds
//    per epoch and per step, and of each step the time in the gradient all-reduce;
// 2. with 2 processes or more, the gradient all-reduce alone: milliseconds per step against
//    gradient bytes, 64 parameters per model, one message per parameter (no bucketing),
//    ember's 1 MiB buckets and DDP's 25 MiB;
// 3. a 16-member ensemble (64 -> 256 -> 256 -> 10 members, 4096 rows, batches of 128),
//    ensemble-parallel: seconds per epoch of all 16 members, gather included;
// 4. with 1 process, a model (not a measurement) of scaling to 8, 64 and 512 processes from
//    this run's compute per step and a ring all-reduce's cost.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <ember/dist/communicator.h>
#include <ember/ember.h>
#include <ember/kernels/cpu/cpu_level.h>

using namespace ember;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// The communicator, with the time spent in its collectives added up.
class TimedGroup : public train::ProcessGroup {
 public:
  explicit TimedGroup(dist::Communicator& world) : world_(world) {}
  int rank() const override { return world_.rank(); }
  int size() const override { return world_.size(); }
  void all_reduce_sum(std::span<double> values) override {
    const auto start = Clock::now();
    world_.all_reduce_sum(values);
    small_seconds += seconds_since(start);
  }
  void broadcast(std::vector<std::byte>& bytes) override { world_.broadcast(bytes); }
  std::vector<std::vector<std::byte>> gather(const std::vector<std::byte>& bytes) override {
    return world_.gather(bytes);
  }
  void reduce_gradients(const std::vector<Tensor>& parameters, double weight) override {
    const auto start = Clock::now();
    world_.reduce_gradients(parameters, weight);
    gradient_seconds += seconds_since(start);
  }
  std::vector<train::BatchShard> epoch(int64_t rows, int64_t batch_size, bool shuffle,
                                       uint64_t seed) const override {
    return world_.epoch(rows, batch_size, shuffle, seed);
  }

  double gradient_seconds = 0;  // in reduce_gradients
  double small_seconds = 0;     // in the per-step reductions of losses and stop requests

 private:
  dist::Communicator& world_;
};

// Class labels [rows] cycling through 0 ... classes - 1 (what is learnt does not matter here).
Tensor labels(int64_t rows, int64_t classes) {
  std::vector<float> values(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i)
    values[static_cast<size_t>(i)] = static_cast<float>(i % classes);
  return tensor(values, {rows});
}

constexpr int64_t kSteps = 4, kBatch = 1024, kWidth = 1024, kHidden = 4096;

// Seconds of one step's compute (forward, backward, SGD) with one process: the median epoch
// of this run divided by its steps, communication excluded.
double data_parallel(dist::Communicator& world) {
  manual_seed(0);
  const Tensor x = randn({kSteps * kBatch, kWidth});
  const Tensor y = labels(kSteps * kBatch, kWidth);
  models::MultiTaskNet model(
      {.inputs = kWidth, .hidden = {kHidden}, .tasks = {models::multiclass("y", kWidth)}});
  optim::SGD sgd(model.parameters(), {.lr = 0.01});
  const int64_t epochs = 3;
  train::Trainer trainer(model, model.config().tasks, sgd,
                         {.epochs = epochs, .batch_size = kBatch, .stop_on_interrupt = false});
  TimedGroup group(world);
  trainer.set_process_group(&group);
  const train::History history = trainer.fit(data::TensorDataset({x, y}));
  std::vector<double> epoch_seconds;
  for (size_t e = 1; e < history.epochs.size(); ++e)  // the first epoch warms up
    epoch_seconds.push_back(history.epochs[e].seconds);
  const double per_epoch = median(epoch_seconds);
  const double steps = static_cast<double>(epochs * kSteps);
  const double reduce_per_step = group.gradient_seconds / steps;
  const double small_per_step = group.small_seconds / steps;
  const int64_t bytes = model.num_parameters() * 4;
  if (world.rank() == 0) {
    std::printf(
        "\n1. data-parallel: MLP %lld -> %lld -> %lld, %.1f MB of gradients, global batch "
        "%lld, %lld steps per epoch\n",
        static_cast<long long>(kWidth), static_cast<long long>(kHidden),
        static_cast<long long>(kWidth), bytes / 1e6, static_cast<long long>(kBatch),
        static_cast<long long>(kSteps));
    std::printf(
        "   %.3f s per epoch, %.3f s per step; per step %.1f ms in the gradient "
        "all-reduce and %.2f ms in the loss and stop reductions (each including the wait "
        "for the slowest process)\n",
        per_epoch, per_epoch / kSteps, reduce_per_step * 1e3, small_per_step * 1e3);
  }
  return per_epoch / kSteps - reduce_per_step - small_per_step;
}

void all_reduce_sweep(dist::Communicator& world) {
  if (world.size() < 2) return;
  if (world.rank() == 0) {
    std::printf(
        "\n2. gradient all-reduce, %d processes: ms per step (median of 7) against "
        "gradient bytes, 64 parameters of equal size\n",
        world.size());
    std::printf("   %12s | %12s %12s %12s | %12s %10s\n", "bytes", "per param", "1 MiB bkt",
                "25 MiB bkt", "1 MiB GB/s", "speed-up");
  }
  for (const int64_t bytes :
       {int64_t{64} << 10, int64_t{1} << 20, int64_t{8} << 20, int64_t{32} << 20}) {
    const int64_t values = bytes / 4 / 64;
    std::vector<Tensor> parameters;
    for (int p = 0; p < 64; ++p) parameters.push_back(zeros({values}, true));
    const auto time = [&](int64_t bucket_bytes) {
      world.set_bucket_bytes(bucket_bytes);
      std::vector<double> samples;
      for (int run = 0; run < 8; ++run) {
        for (const Tensor& p : parameters) p.set_grad(ones({values}));
        world.barrier();
        const auto start = Clock::now();
        world.reduce_gradients(parameters, 0.5);
        if (run > 0) samples.push_back(seconds_since(start));
      }
      return median(samples);
    };
    const double unbucketed = time(0), bucketed = time(int64_t{1} << 20),
                 ddp = time(int64_t{25} << 20);
    if (world.rank() == 0) {
      std::printf("   %12lld | %12.3f %12.3f %12.3f | %12.2f %9.2fx\n",
                  static_cast<long long>(bytes), unbucketed * 1e3, bucketed * 1e3, ddp * 1e3,
                  bytes / bucketed / 1e9, unbucketed / bucketed);
    }
  }
  world.set_bucket_bytes(dist::Communicator::kDefaultBucketBytes);
}

void ensemble_parallel(dist::Communicator& world) {
  manual_seed(1);
  const Tensor x = randn({4096, 64});
  const Tensor y = labels(4096, 10);
  const models::MultiTaskNetConfig config{
      .inputs = 64, .hidden = {256, 256}, .tasks = {models::multiclass("y", 10)}};
  models::Ensemble ensemble(16, [&](int64_t) { return models::MultiTaskNet(config); });
  const int64_t epochs = 2;
  world.barrier();
  const auto start = Clock::now();
  train::fit_ensemble(ensemble, config.tasks,
                      {.trainer = {.epochs = epochs, .batch_size = 128, .stop_on_interrupt = false},
                       .optimizer = train::sgd_factory(0.05),
                       .group = &world},
                      data::TensorDataset({x, y}));
  const double seconds = seconds_since(start);
  if (world.rank() == 0) {
    std::printf(
        "\n3. ensemble-parallel: 16 members 64 -> 256 -> 256 -> 10, 4096 rows, batch 128\n");
    std::printf("   %.3f s per epoch of all 16 members (gather included), %d member(s) on rank 0\n",
                seconds / epochs, (16 + world.size() - 1) / world.size());
  }
}

// Ring all-reduce (Patarasuk & Yuan 2009): 2(p - 1) steps, each sending 1/p of the buffer
// to the next process, so each process sends 2(p - 1)/p of the bytes; each step of each of
// the `messages` all-reduces also pays the link's latency.
double ring_all_reduce_seconds(int64_t processes, double bytes, int64_t messages,
                               double bytes_per_second, double latency) {
  if (processes == 1) return 0;
  const double p = static_cast<double>(processes);
  return 2 * (p - 1) / p * bytes / bytes_per_second +
         2 * (p - 1) * static_cast<double>(messages) * latency;
}

// The all-reduce messages of one step: the buckets Communicator::reduce_gradients packs the
// parameters into (consecutive ones, at most bucket_bytes each, or one larger alone).
int64_t bucket_count(const std::vector<int64_t>& parameter_bytes, int64_t bucket_bytes) {
  int64_t buckets = 0, filled = bucket_bytes;
  for (const int64_t bytes : parameter_bytes) {
    if (filled + bytes > bucket_bytes) {
      ++buckets;
      filled = 0;
    }
    filled += bytes;
  }
  return buckets;
}

void paper_model(double compute_per_step, double gradient_bytes, int64_t messages) {
  struct Link {
    const char* name;
    double bytes_per_second, latency;
  };
  const Link links[] = {{"100 Gb/s InfiniBand (12.5 GB/s, 2 us per message)", 12.5e9, 2e-6},
                        {"10 Gb/s Ethernet (1.25 GB/s, 30 us per message)", 1.25e9, 30e-6}};
  std::printf(
      "\n4. MODEL, not a measurement: the MLP above on p processes, from this run's "
      "compute per step (%.3f s) and ring all-reduces of %.1f MB in %lld messages (the "
      "buckets) after backward (no overlap); strong scaling keeps the global batch at %lld "
      "(compute assumed to shrink as 1/p), weak scaling gives every process %lld rows\n",
      compute_per_step, gradient_bytes / 1e6, static_cast<long long>(messages),
      static_cast<long long>(kBatch), static_cast<long long>(kBatch));
  for (const Link& link : links) {
    std::printf("   %s\n", link.name);
    std::printf("   %8s | %12s %12s %10s | %12s %10s\n", "p", "all-reduce", "step", "speed-up",
                "efficiency", "speed-up");
    for (const int64_t p : {1, 2, 8, 64, 512}) {
      const double reduce =
          ring_all_reduce_seconds(p, gradient_bytes, messages, link.bytes_per_second, link.latency);
      const double strong = compute_per_step / static_cast<double>(p) + reduce;
      const double weak_efficiency = compute_per_step / (compute_per_step + reduce);
      std::printf("   %8lld | %10.1fms %10.1fms %9.1fx | %11.0f%% %9.1fx\n",
                  static_cast<long long>(p), reduce * 1e3, strong * 1e3, compute_per_step / strong,
                  weak_efficiency * 100, weak_efficiency * static_cast<double>(p));
    }
  }
  std::printf(
      "   ensemble-parallel, 16 members: no communication but one gather of the "
      "weights at the end; speed-up 16 / ceil(16 / p), at most 16:");
  for (const int64_t p : {1, 2, 8, 64, 512})
    std::printf("  p=%lld %.0fx", static_cast<long long>(p), 16.0 / std::ceil(16.0 / p));
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  dist::Environment mpi(argc, argv);
  dist::Communicator& world = mpi.world();
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  try {
    set_num_threads(threads);
    if (world.rank() == 0) {
      std::printf("bench_dist: %d process(es), %d thread(s) each, CPU kernels: %s\n", world.size(),
                  threads, kernels::cpu::cpu_level_name(kernels::cpu::cpu_level()));
    }
    const double compute_per_step = data_parallel(world);
    all_reduce_sweep(world);
    ensemble_parallel(world);
    if (world.size() == 1) {
      const double gradient_bytes = 4.0 * (kWidth * kHidden + kHidden + kHidden * kWidth + kWidth);
      const int64_t messages =
          bucket_count({4 * kWidth * kHidden, 4 * kHidden, 4 * kHidden * kWidth, 4 * kWidth},
                       dist::Communicator::kDefaultBucketBytes);
      paper_model(compute_per_step, gradient_bytes, messages);
    }
  } catch (const std::exception& error) {
    world.abort_job(error.what());
  }
  return 0;
}
