// Training across processes (dist/): run by ctest under mpiexec with 1, 2 and 4 processes.
// Every process runs every test case in the same order, so collectives meet; comparisons
// with a single-process reference are made on rank 0, which trains that reference itself,
// after the collectives of the case. The job fails if any process fails.

#define CATCH_CONFIG_RUNNER
#include <mpi.h>
#include <catch2/catch.hpp>

#include <cstring>
#include <optional>
#include <set>

#include <ember/dist/communicator.h>
#include <ember/dist/sampler.h>
#include <ember/ember.h>

#include "../temp_dir.h"

using namespace ember;
using Catch::Matchers::Contains;

namespace {

dist::Communicator* world = nullptr;  // set by main()

std::vector<models::Task> two_tasks() {
  return {models::regression("a"), models::multiclass("b", 3)};
}

models::MultiTaskNetConfig network() {
  return {.inputs = 6, .hidden = {16, 8}, .tasks = two_tasks()};
}

// x [N, 6] ~ N(0, 1); a = x0 - 2 x1 + noise; b = the largest of x2, x3, x4.
data::TensorDataset make_data(int64_t rows, uint64_t seed) {
  manual_seed(seed);
  const Tensor x = randn({rows, 6});
  const Tensor a =
      (narrow(x, 1, 0, 1) - 2.f * narrow(x, 1, 1, 1) + 0.1f * randn({rows, 1})).reshape({-1});
  const Tensor b = max(narrow(x, 1, 2, 3), 1).indices;
  return data::TensorDataset({x, a, b});
}

nn::NamedTensors copy_of(const nn::NamedTensors& state) {
  nn::NamedTensors copy;
  for (const auto& [name, tensor] : state) copy.emplace_back(name, clone(tensor.detach()));
  return copy;
}

std::vector<std::byte> bytes_of(const nn::NamedTensors& state) {
  std::vector<std::byte> bytes;
  for (const auto& [name, tensor] : state) {
    const auto* first = reinterpret_cast<const std::byte*>(tensor.data());
    bytes.insert(bytes.end(), first, first + tensor.numel() * sizeof(float));
  }
  return bytes;
}

// Each value of `actual` within `relative` times the largest magnitude of `expected`'s tensor.
void check_close(const nn::NamedTensors& actual, const nn::NamedTensors& expected,
                 double relative) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    const std::vector<float> a = actual[i].second.to_vector(), b = expected[i].second.to_vector();
    REQUIRE(a.size() == b.size());
    double scale = 0, error = 0;
    for (size_t j = 0; j < a.size(); ++j) {
      scale = std::max(scale, std::abs(static_cast<double>(b[j])));
      error = std::max(error, std::abs(static_cast<double>(a[j]) - b[j]));
    }
    INFO(expected[i].first << ": largest difference " << error << ", largest value " << scale);
    CHECK(error <= relative * scale);
  }
}

void check_close(double actual, double expected, double relative) {
  CHECK(std::abs(actual - expected) <= relative * std::abs(expected));
}

struct Trained {
  nn::NamedTensors state;
  train::History history;
};

// The network trained by SGD with momentum on `train_set`, data-parallel over `group` (or
// alone), starting from the weights manual_seed(1) draws. Processes other than rank 0 start
// from other weights, which fit() must replace with rank 0's.
Trained train_network(train::ProcessGroup* group, const data::TensorDataset& train_set,
                      const data::TensorDataset& validation, const train::TrainerOptions& options,
                      bool resume = false) {
  manual_seed(group && group->rank() != 0 ? 100 + group->rank() : 1);
  models::MultiTaskNet model(network());
  manual_seed(1);  // the epochs' shuffling
  optim::SGD sgd(model.parameters(), {.lr = 0.05, .momentum = 0.9});
  train::Trainer trainer(model, two_tasks(), sgd, options);
  trainer.set_process_group(group);
  if (resume) trainer.resume();
  train::History history = trainer.fit(train_set, &validation);
  return {copy_of(model.state_dict()), history};
}

}  // namespace

TEST_CASE("the sampler gives every row of an epoch to one process, in one process's batch order") {
  for (const auto& [rows, batch_size] :
       std::vector<std::pair<int64_t, int64_t>>{{91, 30}, {10, 4}, {7, 16}}) {
    for (const bool shuffle : {true, false}) {
      // The training loader's batches, over a dataset whose row i holds 3 i + 1.
      data::DataLoader loader(data::TensorDataset({arange(static_cast<float>(rows)) * 3.f + 1.f}),
                              batch_size, shuffle, false, 42);
      std::vector<std::vector<int64_t>> expected;
      for (const std::vector<Tensor>& batch : loader) {
        std::vector<int64_t> batch_rows;
        for (const float value : batch[0].to_vector())
          batch_rows.push_back(static_cast<int64_t>((value - 1.f) / 3.f));
        expected.push_back(batch_rows);
      }
      for (int size = 1; size <= 5; ++size) {
        INFO(rows << " rows, batches of " << batch_size << ", shuffle " << shuffle << ", " << size
                  << " processes");
        std::vector<std::vector<train::BatchShard>> shards;
        for (int rank = 0; rank < size; ++rank)
          shards.push_back(
              dist::DistributedSampler(rows, batch_size, shuffle, rank, size).epoch(42));
        std::multiset<int64_t> seen;
        for (size_t b = 0; b < expected.size(); ++b) {
          std::vector<int64_t> joined;
          size_t smallest = SIZE_MAX, largest = 0;
          for (int rank = 0; rank < size; ++rank) {
            REQUIRE(shards[rank].size() == expected.size());
            const train::BatchShard& shard = shards[rank][b];
            CHECK(shard.batch_rows == static_cast<int64_t>(expected[b].size()));
            joined.insert(joined.end(), shard.rows.begin(), shard.rows.end());
            seen.insert(shard.rows.begin(), shard.rows.end());
            smallest = std::min(smallest, shard.rows.size());
            largest = std::max(largest, shard.rows.size());
          }
          CHECK(joined == expected[b]);
          CHECK(largest - smallest <= 1);
        }
        CHECK(seen.size() == static_cast<size_t>(rows));
        for (int64_t row = 0; row < rows; ++row) CHECK(seen.count(row) == 1);
      }
    }
  }
}

TEST_CASE("the sampler rejects rows, batch sizes and ranks that make no epoch") {
  CHECK_THROWS_WITH(dist::DistributedSampler(0, 4, true, 0, 1), Contains("rows must be in"));
  CHECK_THROWS_WITH(dist::DistributedSampler(10, 0, true, 0, 1), Contains("batch_size must be"));
  CHECK_THROWS_WITH(dist::DistributedSampler(10, 4, true, 2, 2),
                    Contains("rank 2 is not one of 2 processes"));
  CHECK_THROWS_WITH(dist::DistributedSampler(10, 4, true, -1, 2), Contains("rank -1"));
}

TEST_CASE("all-reduce, broadcast and gather give every process what MPI promises") {
  const int rank = world->rank(), size = world->size();
  const float total = static_cast<float>(size * (size + 1) / 2);  // Σ (r + 1)
  std::vector<float> values{static_cast<float>(rank + 1), 2.f * static_cast<float>(rank + 1)};
  world->all_reduce_sum(std::span<float>(values));
  CHECK(values == std::vector<float>{total, 2 * total});
  values = {static_cast<float>(rank + 1)};
  world->all_reduce_mean(std::span<float>(values));
  CHECK(values[0] == Approx(total / static_cast<float>(size)));
  std::vector<double> sums{0.5 * rank, 1.0};
  world->all_reduce_sum(std::span<double>(sums));
  CHECK(sums[1] == size);
  std::vector<float> nothing;
  world->all_reduce_sum(std::span<float>(nothing));

  std::vector<std::byte> bytes(rank == 0 ? 3 : 7 + rank,
                               std::byte{static_cast<unsigned char>(rank)});
  if (rank == 0) bytes = {std::byte{'a'}, std::byte{'b'}, std::byte{'c'}};
  world->broadcast(bytes);
  CHECK(bytes == std::vector<std::byte>{std::byte{'a'}, std::byte{'b'}, std::byte{'c'}});

  // Rank r sends r + 1 bytes of value r: lengths differ.
  const std::vector<std::vector<std::byte>> gathered = world->gather(std::vector<std::byte>(
      static_cast<size_t>(rank + 1), std::byte{static_cast<unsigned char>(rank)}));
  if (rank != 0) {
    CHECK(gathered.empty());
  } else {
    REQUIRE(gathered.size() == static_cast<size_t>(size));
    for (int r = 0; r < size; ++r) {
      CHECK(gathered[r] == std::vector<std::byte>(static_cast<size_t>(r + 1),
                                                  std::byte{static_cast<unsigned char>(r)}));
    }
  }
  world->barrier();
}

TEST_CASE("an MPI error code becomes an Error naming the call and the rank") {
  const std::string where =
      "on rank " + std::to_string(world->rank()) + " of " + std::to_string(world->size());
  CHECK_THROWS_WITH(world->check(MPI_ERR_COUNT, "MPI_Allreduce"),
                    Contains("dist: MPI_Allreduce failed " + where + ": "));
  CHECK_NOTHROW(world->check(MPI_SUCCESS, "MPI_Allreduce"));
  CHECK_THROWS_WITH(world->set_bucket_bytes(-1), Contains("bytes must be >= 0, got -1"));
  int argc = 0;
  char** argv = nullptr;
  CHECK_THROWS_WITH(dist::Environment(argc, argv), Contains("MPI is already initialised"));
}

TEST_CASE(
    "reduce_gradients sums weighted gradients in buckets and leaves unreached ones undefined") {
  const int rank = world->rank(), size = world->size();
  const double total = size * (size + 1) / 2.0;
  const double weight = (rank + 1) / total;  // the shares of batches of 1, 2, ... rows
  Tensor a = zeros({3, 4}, true), b = zeros({5}, true), c = zeros({2, 2}, true);
  // a: every process has (r + 1) everywhere; b: rank 0 alone has 10; c: nobody.
  double sum_of_squares = 0;
  for (int r = 1; r <= size; ++r) sum_of_squares += static_cast<double>(r) * r;
  for (const int64_t bucket_bytes :
       {int64_t{0}, int64_t{16}, dist::Communicator::kDefaultBucketBytes}) {
    INFO("bucket_bytes " << bucket_bytes);
    world->set_bucket_bytes(bucket_bytes);
    a.set_grad(full({3, 4}, static_cast<float>(rank + 1)));
    b.set_grad(rank == 0 ? full({5}, 10.f) : Tensor());
    c.set_grad(Tensor());
    world->reduce_gradients({a, b, c}, weight);
    REQUIRE(a.grad().defined());
    for (const float value : a.grad().to_vector())
      CHECK(value == Approx(sum_of_squares / total).epsilon(1e-6));
    REQUIRE(b.grad().defined());
    for (const float value : b.grad().to_vector()) CHECK(value == Approx(10 / total).epsilon(1e-6));
    CHECK_FALSE(c.grad().defined());
  }
  world->set_bucket_bytes(dist::Communicator::kDefaultBucketBytes);
}

TEST_CASE("data-parallel training equals one process on the whole batch") {
  // 91 rows in batches of 30: shards of 15 (2 processes) or 7, 8, 7, 8 (4), and a last batch
  // of 1 row that leaves all processes but one without rows.
  const data::TensorDataset train_set = make_data(91, 7), validation = make_data(40, 8);
  const train::TrainerOptions options{
      .epochs = 4, .batch_size = 30, .restore_best = false, .clip_grad_norm = 5.0};
  const Trained parallel = train_network(world, train_set, validation, options);

  // Every replica holds the same weights, bit for bit.
  const std::vector<std::vector<std::byte>> replicas = world->gather(bytes_of(parallel.state));
  if (world->rank() != 0) return;
  for (const std::vector<std::byte>& replica : replicas) CHECK(replica == replicas[0]);

  const Trained alone = train_network(nullptr, train_set, validation, options);
  REQUIRE(parallel.history.epochs.size() == 4);
  REQUIRE(alone.history.epochs.size() == 4);
  if (world->size() == 1) {  // nothing to sum: the very same floats
    CHECK(bytes_of(parallel.state) == bytes_of(alone.state));
    for (size_t e = 0; e < 4; ++e)
      CHECK(parallel.history.epochs[e].metrics == alone.history.epochs[e].metrics);
    return;
  }
  // Only the order of the float sums differs.
  check_close(parallel.state, alone.state, 1e-5);
  for (size_t e = 0; e < 4; ++e) {
    for (const char* metric : {"train/loss", "train/a/loss", "train/b/loss", "val/loss"}) {
      INFO("epoch " << e + 1 << ", " << metric);
      check_close(parallel.history.epochs[e].metrics.at(metric),
                  alone.history.epochs[e].metrics.at(metric), 1e-5);
    }
  }
  CHECK(alone.history.epochs[3].metrics.at("train/loss") <
        alone.history.epochs[0].metrics.at("train/loss"));
}

TEST_CASE("data-parallel checkpoints are written by rank 0 and every process resumes from them") {
  const data::TensorDataset train_set = make_data(60, 9), validation = make_data(20, 10);
  train::TrainerOptions options{.epochs = 4, .batch_size = 16, .restore_best = false};
  const Trained full = train_network(world, train_set, validation, options);

  // Each process is given a folder of its own: only rank 0's may fill up.
  const TempDir own;
  options.epochs = 2;
  options.checkpoint_dir = own.file("checkpoint");
  train_network(world, train_set, validation, options);
  CHECK(std::filesystem::exists(own.file("checkpoint")) == (world->rank() == 0));

  // Every process resumes from rank 0's checkpoint and ends where the full run ended.
  std::vector<std::byte> path(options.checkpoint_dir.size());
  std::memcpy(path.data(), options.checkpoint_dir.data(), path.size());
  world->broadcast(path);
  options.checkpoint_dir.assign(reinterpret_cast<const char*>(path.data()), path.size());
  options.epochs = 4;
  const Trained resumed = train_network(world, train_set, validation, options, /*resume=*/true);
  CHECK(resumed.history.epochs.size() == 2);
  CHECK(bytes_of(resumed.state) == bytes_of(full.state));
  world->barrier();  // rank 0's folder outlives every reader
}

TEST_CASE("data-parallel training refuses what would differ from one process") {
  const data::TensorDataset train_set = make_data(20, 11);
  models::MultiTaskNet model(network());
  optim::SGD sgd(model.parameters(), {.lr = 0.05});
  train::Trainer trainer(model, two_tasks(), sgd, {.epochs = 1, .batch_size = 8});
  trainer.set_process_group(world);
  const std::unique_ptr<models::mtl::Balancer> gradnorm =
      models::mtl::make_balancer("gradnorm", model.shared_parameters(), two_tasks());
  trainer.set_balancer(gradnorm.get());

  nn::Sequential normalised(nn::Linear(6, 4), nn::BatchNorm1d(4), nn::Linear(4, 1));
  optim::SGD normalised_sgd(normalised.parameters(), {.lr = 0.05});
  train::Trainer normalised_trainer(normalised, {models::regression("a")}, normalised_sgd,
                                    {.epochs = 1, .batch_size = 8});
  normalised_trainer.set_process_group(world);
  const data::TensorDataset one_task({train_set.tensors()[0], train_set.tensors()[1]});
  if (world->size() == 1) {  // one process sums nothing: both train as they would alone
    CHECK_NOTHROW(trainer.fit(train_set));
    CHECK_NOTHROW(normalised_trainer.fit(one_task));
    return;
  }
  CHECK_THROWS_WITH(trainer.fit(train_set), Contains("data-parallel training over") &&
                                                Contains("(equal, uncertainty, dwa); 'gradnorm'"));
  CHECK_THROWS_WITH(normalised_trainer.fit(one_task),
                    Contains("cannot train BatchNorm1d layers ('1')"));
}

TEST_CASE(
    "ensemble-parallel training gathers on rank 0 the members one process trains, bit for bit") {
  const data::TensorDataset train_set = make_data(50, 12), validation = make_data(20, 13);
  for (const train::EnsembleMethod method :
       {train::EnsembleMethod::voting, train::EnsembleMethod::bagging}) {
    INFO(train::to_string(method));
    const auto fit = [&](train::ProcessGroup* group) {
      manual_seed(3);
      models::Ensemble ensemble(5, [&](int64_t) { return models::MultiTaskNet(network()); });
      const train::EnsembleOptions options{.method = method,
                                           .trainer = {.epochs = 2, .batch_size = 16},
                                           .optimizer = train::sgd_factory(0.05, 0.9),
                                           .group = group};
      const train::EnsembleHistory history =
          train::fit_ensemble(ensemble, two_tasks(), options, train_set, &validation);
      return std::pair{copy_of(ensemble.state_dict()), history};
    };
    const auto [state, history] = fit(world);
    REQUIRE(history.runs.size() == 5);
    for (size_t k = 0; k < 5; ++k) {
      const bool trained_here = static_cast<int>(k) % world->size() == world->rank();
      CHECK(history.runs[k].epochs.size() == (world->rank() == 0 || trained_here ? 2u : 0u));
    }
    if (world->rank() != 0) continue;
    const auto [alone_state, alone_history] = fit(nullptr);
    CHECK(bytes_of(state) == bytes_of(alone_state));
    CHECK(history.seeds == alone_history.seeds);
    for (size_t k = 0; k < 5; ++k) {
      for (size_t e = 0; e < 2; ++e) {
        CHECK(history.runs[k].epochs[e].metrics == alone_history.runs[k].epochs[e].metrics);
      }
      CHECK(history.runs[k].best_epoch == alone_history.runs[k].best_epoch);
    }
  }
}

TEST_CASE("fusion trains its one model data-parallel, as one process would") {
  const data::TensorDataset train_set = make_data(50, 14);
  const auto fit = [&](train::ProcessGroup* group) {
    manual_seed(4);
    models::Ensemble ensemble(3, [&](int64_t) { return models::MultiTaskNet(network()); });
    const train::EnsembleOptions options{.method = train::EnsembleMethod::fusion,
                                         .trainer = {.epochs = 3, .batch_size = 16},
                                         .optimizer = train::sgd_factory(0.05, 0.9),
                                         .group = group};
    train::fit_ensemble(ensemble, two_tasks(), options, train_set);
    return copy_of(ensemble.state_dict());
  };
  const nn::NamedTensors parallel = fit(world);
  if (world->rank() != 0) return;
  check_close(parallel, fit(nullptr), 1e-5);
}

int main(int argc, char** argv) {
  dist::Environment mpi(argc, argv);
  world = &mpi.world();
  Catch::Session session;
  if (const int code = session.applyCommandLine(argc, argv); code != 0) return code;
  // Rank 0 reports; the others report only failures.
  if (world->rank() != 0) session.configData().reporterName = "compact";
  double failed = session.run() != 0 ? 1 : 0;
  world->all_reduce_sum(std::span<double>(&failed, 1));
  return failed > 0 ? 1 : 0;
}
