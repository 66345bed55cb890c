// Threads: forwards through one shared model, and independent training loops, run at once on
// several threads and give exactly what one thread gives. This file is its own executable
// (ember_thread_tests) so that a ThreadSanitizer build (`make tsan`) can build and run just
// these; under it, a data race fails the run even when the values happen to come out right.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <latch>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <ember/ember.h>
#include <ember/kernels/cpu/parallel.h>
#include <ember/train/trainer.h>

using namespace ember;

namespace {

constexpr int kThreads = 8;

// Runs body(t) on threads t = 0 .. count-1, released together so that their work overlaps.
template <class Body>
void run_together(int count, Body body) {
  std::latch start(count);
  std::vector<std::thread> threads;
  for (int t = 0; t < count; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      body(t);
    });
  }
  for (std::thread& thread : threads) thread.join();
}

std::vector<models::Task> two_tasks() {
  return {models::regression("value"), models::multiclass("band", 3)};
}

models::MultiTaskNet make_net(float dropout) {
  return models::MultiTaskNet({.inputs = 6,
                               .hidden = {24, 16},
                               .activation = "gelu",
                               .dropout = dropout,
                               .tasks = two_tasks()});
}

// Every output's values, one after another.
std::vector<float> values_of(const std::vector<Tensor>& outputs) {
  std::vector<float> values;
  for (const Tensor& output : outputs) {
    const std::vector<float> part = output.to_vector();
    values.insert(values.end(), part.begin(), part.end());
  }
  return values;
}

// What one training run ends with: every step's loss and every parameter's values.
struct RunResult {
  std::vector<double> losses;
  std::vector<std::vector<float>> weights;
  bool operator==(const RunResult&) const = default;
};

// Stands in for whatever SIGINT handler a program had before training.
extern "C" void program_handler(int) {}

struct StepLog : train::Callback {
  std::vector<double> losses;
  void on_step_end(const train::StepResult& step) override { losses.push_back(step.loss); }
};

// A whole run from one seed: data, initialisation, dropout masks and shuffling all come from
// this thread's generator.
data::TensorDataset two_task_data() {
  const Tensor x = randn({40, 6});
  const Tensor value = matmul(x, tensor({1.f, -2.f, 0.5f, 0.f, 1.f, -1.f}));
  std::vector<float> bands;
  for (float v : value.to_vector()) bands.push_back(v < -1.f ? 0.f : (v < 1.f ? 1.f : 2.f));
  return data::TensorDataset({x, value, tensor(bands, {40})});
}

RunResult train_from_seed(uint64_t seed) {
  manual_seed(seed);
  const data::TensorDataset train_set = two_task_data();
  models::MultiTaskNet model = make_net(0.2f);
  optim::Adam adam(model.parameters(), {.lr = 0.01});
  train::Trainer trainer(model, two_tasks(), adam, {.epochs = 4, .batch_size = 8});
  auto log = std::make_shared<StepLog>();
  trainer.add_callback(log);
  trainer.fit(train_set);
  RunResult result{log->losses, {}};
  for (const auto& [name, parameter] : model.named_parameters()) {
    result.weights.push_back(parameter.to_vector());
  }
  return result;
}

}  // namespace

TEST_CASE("eight threads running forwards through one model equal one thread bit for bit") {
  manual_seed(0);
  models::MultiTaskNet model = make_net(0.3f);
  model.eval();  // dropout off: the same input gives the same output
  std::vector<Tensor> inputs;
  std::vector<std::vector<float>> expected;
  for (int t = 0; t < kThreads; ++t) {
    inputs.push_back(randn({16, 6}));
    const NoGradGuard no_grad;
    expected.push_back(values_of(model.forward(inputs.back())));
  }
  for (const bool grad_mode : {true, false}) {
    INFO("grad mode " << (grad_mode ? "on" : "off"));
    // Several rounds per thread, each recording (grad mode on) and then dropping a graph
    // whose leaves are the shared parameters.
    std::vector<int> equal(kThreads, 0), recorded(kThreads, 0);
    run_together(kThreads, [&](int t) {
      const GradModeGuard mode(grad_mode);
      for (int round = 0; round < 100; ++round) {
        const std::vector<Tensor> outputs = model.forward(inputs[t]);
        equal[t] += values_of(outputs) == expected[t];
        recorded[t] += outputs[0].grad_fn() != nullptr;
      }
    });
    CHECK(equal == std::vector<int>(kThreads, 100));
    CHECK(recorded == std::vector<int>(kThreads, grad_mode ? 100 : 0));
  }
}

TEST_CASE("a shared model still trains after threads recorded graphs through it") {
  // The threads' graphs shared the parameters' gradient accumulators; a backward afterwards
  // must find them intact and give what a model no thread touched gives.
  manual_seed(1);
  nn::Linear shared(3, 2), untouched(3, 2);
  untouched.load_state_dict(shared.state_dict());
  const Tensor x = randn({5, 3});
  run_together(kThreads, [&](int) {
    for (int round = 0; round < 20; ++round) (void)shared.forward(x).sum();
  });
  shared.forward(x).sum().backward();
  untouched.forward(x).sum().backward();
  CHECK(shared.weight.grad().to_vector() == untouched.weight.grad().to_vector());
  CHECK(shared.bias.grad().to_vector() == std::vector<float>{5.f, 5.f});
}

TEST_CASE("independent training runs on four threads each equal the same run alone") {
  const std::vector<uint64_t> seeds = {11, 12, 13, 14};
  std::vector<RunResult> alone;
  for (const uint64_t seed : seeds) alone.push_back(train_from_seed(seed));
  // Different seeds give different runs, so a thread drawing from another's stream shows.
  REQUIRE(alone[0].losses != alone[1].losses);

  std::vector<RunResult> together(seeds.size());
  run_together(int(seeds.size()), [&](int t) { together[t] = train_from_seed(seeds[t]); });
  for (size_t t = 0; t < seeds.size(); ++t) {
    INFO("seed " << seeds[t]);
    CHECK(together[t] == alone[t]);
  }
}

TEST_CASE("threads that never call manual_seed draw different streams") {
  std::vector<std::vector<float>> drawn(kThreads);
  run_together(kThreads, [&](int t) { drawn[t] = rand({8}).to_vector(); });
  for (int a = 0; a < kThreads; ++a) {
    for (int b = a + 1; b < kThreads; ++b) CHECK(drawn[a] != drawn[b]);
  }
}

TEST_CASE("manual_seed on one thread leaves another thread's stream alone") {
  manual_seed(5);
  const std::vector<float> expected = rand({6}).to_vector();
  manual_seed(5);
  const std::vector<float> first = rand({3}).to_vector();
  std::thread other([] { manual_seed(99); });
  other.join();
  std::vector<float> drawn = first;
  const std::vector<float> rest = rand({3}).to_vector();
  drawn.insert(drawn.end(), rest.begin(), rest.end());
  CHECK(drawn == expected);
}

TEST_CASE("Ctrl-C stops the trainers of every thread, and the last to stop restores the handler") {
  std::signal(SIGINT, program_handler);
  manual_seed(2);
  const data::TensorDataset train_set = two_task_data();
  // Thread 1 waits at its step 2 until thread 0, at its step 3, has raised SIGINT; thread 0
  // raises only once thread 1 is there, so both fits are running when it arrives.
  std::atomic<bool> waiting{false}, raised{false};
  struct Interrupter : train::Callback {
    int thread = 0;
    std::atomic<bool>* other_waiting = nullptr;
    std::atomic<bool>* signal_raised = nullptr;
    void on_step_end(const train::StepResult& step) override {
      if (thread == 0 && step.step == 3) {
        while (!other_waiting->load()) std::this_thread::yield();
        std::raise(SIGINT);
        signal_raised->store(true);
      }
      if (thread == 1 && step.step == 2) {
        other_waiting->store(true);
        while (!signal_raised->load()) std::this_thread::yield();
      }
    }
  };
  std::vector<train::History> histories(2);
  std::vector<size_t> steps(2);
  run_together(2, [&](int t) {
    models::MultiTaskNet model = make_net(0.f);
    optim::SGD sgd(model.parameters(), {.lr = 0.01});
    train::Trainer trainer(model, two_tasks(), sgd, {.epochs = 50, .batch_size = 4});
    auto log = std::make_shared<StepLog>();
    auto interrupter = std::make_shared<Interrupter>();
    interrupter->thread = t;
    interrupter->other_waiting = &waiting;
    interrupter->signal_raised = &raised;
    trainer.add_callback(interrupter);
    trainer.add_callback(log);
    histories[t] = trainer.fit(train_set);
    steps[t] = log->losses.size();
  });
  CHECK(histories[0].interrupted);
  CHECK(histories[1].interrupted);
  CHECK(steps == std::vector<size_t>{3, 2});
  CHECK(std::signal(SIGINT, SIG_DFL) == program_handler);
}

TEST_CASE("live storage counts include other threads' tensors, wherever they are freed") {
  const int64_t count_before = live_storage_count(), bytes_before = live_storage_bytes();
  // Each thread makes one [100] tensor (400 bytes) and keeps it; its counters die with it.
  std::vector<Tensor> made(kThreads);
  std::latch made_all(kThreads + 1), checked(1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      made[static_cast<size_t>(t)] = zeros({100});
      made_all.count_down();
      checked.wait();  // alive while the main thread sums every thread's counters
    });
  }
  made_all.count_down();
  made_all.wait();
  CHECK(live_storage_count() == count_before + kThreads);
  CHECK(live_storage_bytes() == bytes_before + kThreads * 400);
  checked.count_down();
  for (std::thread& thread : threads) thread.join();
  // The threads are gone, their tensors are not: the counts moved to the retired totals.
  CHECK(live_storage_count() == count_before + kThreads);
  CHECK(live_storage_bytes() == bytes_before + kThreads * 400);
  // Freed on this thread, which made none of them.
  made.clear();
  CHECK(live_storage_count() == count_before);
  CHECK(live_storage_bytes() == bytes_before);
}

TEST_CASE("a large pass is split across ember's threads, covering every index once") {
  const int before = num_threads();
  set_num_threads(2);
  const int64_t n = 4 * kernels::cpu::kParallelGrain + 3;
  std::mutex mutex;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  std::set<std::thread::id> ids;
  kernels::cpu::parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    std::lock_guard<std::mutex> lock(mutex);
    ranges.emplace_back(begin, end);
    ids.insert(std::this_thread::get_id());
  });
  std::sort(ranges.begin(), ranges.end());
  REQUIRE(ranges.size() == 2);
  CHECK(ranges[0].first == 0);
  CHECK(ranges[0].second == ranges[1].first);
  CHECK(ranges[1].second == n);
  CHECK(ids.size() == 2);
  CHECK(ids.count(std::this_thread::get_id()) == 1);
  // Below two grains it stays on this thread.
  ranges.clear();
  ids.clear();
  kernels::cpu::parallel_for(2 * kernels::cpu::kParallelGrain - 1, 1,
                             [&](int64_t begin, int64_t end) {
                               ranges.emplace_back(begin, end);
                               ids.insert(std::this_thread::get_id());
                             });
  CHECK(ranges ==
        std::vector<std::pair<int64_t, int64_t>>{{0, 2 * kernels::cpu::kParallelGrain - 1}});
  CHECK(ids == std::set<std::thread::id>{std::this_thread::get_id()});
  set_num_threads(before);
}

namespace {

// Every pass that parallel_for splits, on tensors of more than two grains, with sizes that do
// not divide evenly: a broadcast add, relu and its backward, column sums (the bias gradient),
// linear's bias rows (of depth 1, so that no multi-threaded GEMM takes part), and an SGD and
// an Adam update.
std::vector<std::vector<float>> large_passes() {
  manual_seed(7);
  Tensor x = randn({5, 211, 1001}, true), b = randn({1001}, true);
  Tensor y = relu(x + b);
  y.sum().backward();
  Tensor l = linear(randn({2100, 1}), randn({500, 1}), randn({500}));
  Tensor p = randn({1100, 1000}, true), q = randn({1100, 1000}, true);
  (p * q).sum().backward();
  optim::SGD sgd({p}, optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  optim::Adam adam({q}, optim::AdamOptions{.lr = 0.01});
  for (int i = 0; i < 2; ++i) {
    sgd.step();
    adam.step();
  }
  return {y.to_vector(), x.grad().to_vector(), b.grad().to_vector(),
          l.to_vector(), p.to_vector(),        q.to_vector()};
}

// The first index where two lists of arrays differ, as "array i, element j"; "none" if equal.
std::string first_difference(const std::vector<std::vector<float>>& a,
                             const std::vector<std::vector<float>>& b) {
  if (a.size() != b.size()) return "the number of arrays";
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].size() != b[i].size()) return "the size of array " + std::to_string(i);
    for (size_t j = 0; j < a[i].size(); ++j)
      if (a[i][j] != b[i][j])
        return "array " + std::to_string(i) + ", element " + std::to_string(j);
  }
  return "none";
}

}  // namespace

TEST_CASE("large passes on two threads, and on several callers at once, equal one thread's") {
  const int before = num_threads();
  set_num_threads(1);
  const std::vector<std::vector<float>> one = large_passes();
  set_num_threads(2);
  CHECK(first_difference(large_passes(), one) == "none");
  // Four callers at once: one holds the workers, the others run their passes alone.
  std::vector<std::vector<std::vector<float>>> results(4);
  run_together(4, [&](int t) {
    set_num_threads(2);
    results[size_t(t)] = large_passes();
  });
  for (const auto& result : results) CHECK(first_difference(result, one) == "none");
  // The values themselves, for the pass a reference loop states simply: relu(x + b).
  manual_seed(7);
  Tensor x = randn({5, 211, 1001}), b = randn({1001});
  std::vector<float> xv = x.to_vector(), bv = b.to_vector();
  for (size_t i = 0; i < xv.size(); ++i) {
    const float v = xv[i] + bv[i % 1001];
    if (one[0][i] != (v > 0.f ? v : 0.f)) FAIL("relu(x + b) differs at " << i);
  }
  set_num_threads(before);
}
