// Faults a checkpoint must survive: a process killed (SIGKILL) in the middle of a save or of
// training, a full disk, a read-only folder. Each fault happens in a child process (fork), so
// the kill is real and the limits it sets stay in the child; the parent then checks what is
// on disk.

#include <catch2/catch.hpp>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <thread>

#include <ember/ember.h>
#include <ember/train/trainer.h>

#include "temp_dir.h"
#include "two_task_net.h"

using namespace ember;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

using two_task::Net;
using two_task::StepLog;
using two_task::two_task_data;

// What a child process ended with: its wait status, and the text it wrote back.
struct ChildResult {
  int status = 0;
  std::string text;
};

// Runs `body` in a child process; the text it returns comes back through a pipe. The child
// never returns into Catch: it exits 0, or 1 if `body` threw.
ChildResult run_in_child(const std::function<std::string()>& body) {
  int pipe_ends[2];
  REQUIRE(::pipe(pipe_ends) == 0);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(pipe_ends[0]);
    int code = 0;
    std::string text;
    try {
      text = body();
    } catch (const std::exception& error) {
      text = std::string("the child threw: ") + error.what();
      code = 1;
    }
    if (::write(pipe_ends[1], text.data(), text.size()) != ssize_t(text.size())) code = 2;
    ::_exit(code);
  }
  ::close(pipe_ends[1]);
  ChildResult result;
  char buffer[4096];
  for (ssize_t got; (got = ::read(pipe_ends[0], buffer, sizeof buffer)) > 0;) {
    result.text.append(buffer, size_t(got));
  }
  ::close(pipe_ends[0]);
  REQUIRE(::waitpid(pid, &result.status, 0) == pid);
  return result;
}

bool exited_cleanly(const ChildResult& child) {
  return WIFEXITED(child.status) && WEXITSTATUS(child.status) == 0;
}

bool killed_by_sigkill(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }

std::string read_bytes(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

// The checkpoint the kill test saves again and again: 4 tensors of 2^18 floats (4 MiB), whose
// values depend on the generation and on every index, so a file mixing two saves, or a short
// one, cannot pass for a complete save.
constexpr int64_t kTensors = 4, kTensorSize = int64_t(1) << 18;

float pattern(int64_t generation, int64_t tensor, int64_t index) {
  return float((generation * 7919 + tensor * 104729 + index) % (int64_t(1) << 24));
}

void save_generation(const std::string& path, int64_t generation) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (int64_t t = 0; t < kTensors; ++t) {
    Tensor values = empty({kTensorSize});
    float* data = values.data();
    for (int64_t i = 0; i < kTensorSize; ++i) data[i] = pattern(generation, t, i);
    tensors.emplace_back("layer" + std::to_string(t) + ".weight", values);
  }
  save_safetensors(path, tensors, {{"generation", std::to_string(generation)}});
}

// The generation of the complete save at `path`; fails the test if the file is anything else.
int64_t loaded_generation(const std::string& path) {
  const SafetensorsFile file = load_safetensors(path);
  const int64_t generation = std::stoll(file.metadata.at("generation"));
  REQUIRE(file.tensors.size() == size_t(kTensors));
  for (int64_t t = 0; t < kTensors; ++t) {
    const Tensor& values = file.tensors[size_t(t)].second;
    REQUIRE(values.numel() == kTensorSize);
    int64_t wrong = 0;
    for (int64_t i = 0; i < kTensorSize; ++i)
      wrong += values.data()[i] != pattern(generation, t, i);
    INFO("generation " << generation << ", tensor " << t);
    REQUIRE(wrong == 0);
  }
  return generation;
}

// The temporary files of `target` in `dir` ("<target>.tmp.<pid>.<n>").
int count_temporaries(const TempDir& dir, const std::string& target) {
  int count = 0;
  for (const std::string& name : dir.entries()) count += name.rfind(target + ".tmp.", 0) == 0;
  return count;
}

}  // namespace

TEST_CASE("saves killed at random moments 60 times always leave a complete checkpoint") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const auto start = std::chrono::steady_clock::now();
  save_generation(path, 0);
  const double save_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::mt19937 random(2024);
  // Kills land anywhere in a child's first two saves or so, before, during or after each.
  // Every other kill waits first until the child reports a save complete: timed from the
  // start alone, on a loaded machine (saves slower than the one timed above) no kill might
  // come after a complete save.
  std::uniform_real_distribution<double> delay(0.0, 2.0 * save_seconds);
  constexpr int kKills = 60;
  int64_t generation = 0;
  int previous_kept = 0, newer = 0, left_temporary = 0, most_temporaries = 0;
  for (int kill = 0; kill < kKills; ++kill) {
    int saved[2];  // the child writes a byte to saved[1] after each complete save
    REQUIRE(::pipe(saved) == 0);
    std::fflush(nullptr);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a parent that failed
      ::close(saved[0]);
      try {
        for (int64_t next = generation + 1; next <= generation + 1000; ++next) {
          save_generation(path, next);
          const char done = 1;
          if (::write(saved[1], &done, 1) != 1) ::_exit(5);
        }
      } catch (...) {
        ::_exit(4);  // never unwind into Catch in the child
      }
      ::_exit(3);  // not killed in time
    }
    ::close(saved[1]);
    if (kill % 2 == 1) {
      char done = 0;
      REQUIRE(::read(saved[0], &done, 1) == 1);
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(delay(random)));
    REQUIRE(::kill(child, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(killed_by_sigkill(status));
    ::close(saved[0]);

    const int temporaries = count_temporaries(dir, "model.safetensors");
    left_temporary += temporaries > 0;
    most_temporaries = std::max(most_temporaries, temporaries);
    // At most this child's and the previous child's (when killed before its first save
    // removed it): each save removes the temporaries of writers that are gone.
    CHECK(temporaries <= 2);

    const int64_t loaded = loaded_generation(path);
    REQUIRE(loaded >= generation);  // the previous complete save, or a newer complete one
    (loaded == generation ? previous_kept : newer) += 1;
    generation = loaded;
  }
  save_generation(path, generation + 1);
  const int after_next_save = count_temporaries(dir, "model.safetensors");
  std::printf(
      "SIGKILL mid-save: %d kills of a 4 MiB save (one save: %.1f ms); after each, the "
      "checkpoint was the previous complete save %d times and a newer complete save %d times; "
      "%d kills left a temporary file (at most %d at once); temporaries after the next save: "
      "%d\n",
      kKills, 1e3 * save_seconds, previous_kept, newer, left_temporary, most_temporaries,
      after_next_save);
  CHECK(after_next_save == 0);
  CHECK(loaded_generation(path) == generation + 1);
  // The kills did interrupt saves, and saves did complete between them.
  CHECK(left_temporary > 0);
  CHECK(newer > 0);
}

TEST_CASE("a save removes its target's temporaries whose writer is gone, and only those") {
  TempDir dir;
  // A pid that was just in use and is now gone: a child that exited and was reaped.
  const ChildResult gone = run_in_child([] { return std::to_string(::getpid()); });
  REQUIRE(exited_cleanly(gone));
  const std::string dead = gone.text;
  REQUIRE(::kill(std::stoi(dead), 0) == -1);
  const std::string alive = std::to_string(::getpid());
  const std::vector<std::string> stale = {"model.safetensors.tmp." + dead + ".0",
                                          "model.safetensors.tmp." + dead + ".17"};
  const std::vector<std::string> kept = {
      "model.safetensors.tmp." + alive + ".3",  // a live writer (a concurrent save)
      "model.safetensors.tmp.1.0",  // init: alive (under another user: EPERM, still alive)
      "other.safetensors.tmp." + dead + ".0",  // another target's
      "model.safetensors.tmp." + dead + ".x",  // not a name a save makes
      "model.safetensors.tmp." + dead,         // no counter
      "model.safetensors.tmp.0.1",             // pid 0 would mean a process group
      "model.safetensors.tmp.-1.1",            // so would a negative one
      "model.safetensors.tmp.99999999999.1",   // beyond any pid
      "model.safetensors.tmp." + dead + ".0.bak"};
  for (const auto& names : {stale, kept}) {
    for (const std::string& name : names) std::ofstream(dir.file(name)) << "partial";
  }
  save_safetensors(dir.file("model.safetensors"), {{"w", ones({2})}});
  std::vector<std::string> expected = kept;
  expected.push_back("model.safetensors");
  std::vector<std::string> left = dir.entries();
  std::sort(left.begin(), left.end());
  std::sort(expected.begin(), expected.end());
  CHECK(left == expected);
}

TEST_CASE("a save that runs out of disk space throws and keeps the previous checkpoint") {
  // RLIMIT_FSIZE makes write() fail with EFBIG past 1 MiB, as a full disk fails with ENOSPC,
  // without filling a disk; SIGXFSZ, which would kill the writer instead, is ignored.
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  save_safetensors(path, {{"w", ones({4})}}, {{"step", "1"}});
  const std::string before = read_bytes(path);
  const ChildResult child = run_in_child([&]() -> std::string {
    const rlimit limit{1 << 20, 1 << 20};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return "cannot set RLIMIT_FSIZE";
    std::signal(SIGXFSZ, SIG_IGN);
    try {
      save_safetensors(path, {{"w", zeros({1 << 20})}});  // 4 MiB
    } catch (const Error& error) {
      return error.what();
    }
    return "saved";
  });
  REQUIRE(exited_cleanly(child));
  CHECK_THAT(child.text,
             StartsWith("save_safetensors: '" + path + "': cannot write '" + path + ".tmp.") &&
                 Contains(std::strerror(EFBIG)));
  CHECK(read_bytes(path) == before);
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("a save into a read-only folder throws and keeps the previous checkpoint") {
  // Root writes into any folder whatever its mode, so as root the child first becomes the
  // unprivileged user nobody (65534); where it cannot, the test says so and checks nothing.
  TempDir dir;
  const std::string folder = dir.file("readonly");
  fs::create_directory(folder);
  const std::string path = folder + "/model.safetensors";
  save_safetensors(path, {{"w", ones({4})}}, {{"step", "1"}});
  const std::string before = read_bytes(path);
  fs::permissions(dir.file(""), fs::perms(0755));  // nobody must reach the folder
  fs::permissions(folder, fs::perms(0555));
  const ChildResult child = run_in_child([&]() -> std::string {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) {
      return "skipped: running as root and cannot become the user nobody";
    }
    try {
      save_safetensors(path, {{"w", zeros({4})}});
    } catch (const Error& error) {
      return error.what();
    }
    return "saved";
  });
  fs::permissions(folder, fs::perms(0755));
  REQUIRE(exited_cleanly(child));
  if (child.text.rfind("skipped", 0) == 0) {
    WARN(child.text);
    return;
  }
  CHECK_THAT(child.text,
             StartsWith("save_safetensors: '" + path + "': cannot create '" + path + ".tmp.") &&
                 Contains(std::strerror(EACCES)));
  CHECK(read_bytes(path) == before);
  CHECK(fs::directory_iterator(folder)->path().filename() == "model.safetensors");
  CHECK(std::distance(fs::directory_iterator(folder), fs::directory_iterator()) == 1);
}

namespace {

// Kills its own process, as the kernel would: no destructor, no flush, no handler runs.
struct KillAt : train::Callback {
  int64_t step = -1, epoch = -1;  // on_step_end of global step `step`, or after epoch `epoch`
  void on_step_end(const train::StepResult& result) override {
    if (result.step == step) ::kill(::getpid(), SIGKILL);
  }
  void on_epoch_end(const train::EpochResult& result) override {
    if (result.epoch == epoch) ::kill(::getpid(), SIGKILL);
  }
};

constexpr int64_t kEpochs = 6, kStepsPerEpoch = 9;  // 60 rows in batches of 7

struct TrainingRun {
  std::vector<double> losses;
  std::vector<std::vector<float>> weights;
  int64_t resumed_epochs = 0;
};

// Six epochs of Adam with a step schedule, dropout and shuffling, checkpointed every epoch.
TrainingRun train_run(const data::TensorDataset& data, const std::string& checkpoint_dir,
                      bool resume, uint64_t init_seed, std::shared_ptr<train::Callback> extra) {
  manual_seed(init_seed);
  Net model;
  optim::Adam adam(model.parameters(), {.lr = 0.01});
  optim::StepLR schedule(adam, 2, 0.5);
  train::Trainer trainer(model, {models::regression("value"), models::multiclass("band", 3)}, adam,
                         {.epochs = kEpochs,
                          .batch_size = 7,
                          .restore_best = false,
                          .checkpoint_dir = checkpoint_dir});
  trainer.set_scheduler(&schedule);
  TrainingRun run;
  if (resume) {
    trainer.resume();
    run.resumed_epochs = trainer.epochs_done();
  }
  auto log = std::make_shared<StepLog>();
  trainer.add_callback(log);
  if (extra) trainer.add_callback(extra);
  trainer.fit(data);
  run.losses = log->losses;
  for (const auto& [name, tensor] : model.state_dict()) run.weights.push_back(tensor.to_vector());
  return run;
}

}  // namespace

TEST_CASE("a training run killed with SIGKILL and resumed equals the run never killed") {
  manual_seed(5);
  const data::TensorDataset data = two_task_data(60);
  TempDir dir;
  const TrainingRun whole = train_run(data, dir.file("whole"), false, 11, nullptr);
  REQUIRE(whole.losses.size() == size_t(kEpochs * kStepsPerEpoch));

  struct Kill {
    std::string what;
    int64_t step, epoch, resumed_epochs;
  };
  const std::vector<Kill> kills = {
      {"mid-epoch, at step 13", 13, -1, 1},
      {"at the last step of epoch 2, before its checkpoint", 18, -1, 1},
      {"at the first step of epoch 3", 19, -1, 2},
      {"just after the checkpoint of epoch 4", -1, 3, 4}};
  for (const Kill& kill : kills) {
    INFO("killed " << kill.what);
    const std::string checkpoint = dir.file("killed_" + std::to_string(kill.step + kill.epoch));
    const ChildResult child = run_in_child([&]() -> std::string {
      auto killer = std::make_shared<KillAt>();
      killer->step = kill.step;
      killer->epoch = kill.epoch;
      train_run(data, checkpoint, false, 11, killer);
      return "not killed";
    });
    REQUIRE(killed_by_sigkill(child.status));
    // Another seed before building: every weight and the generator must come from disk.
    const TrainingRun resumed = train_run(data, checkpoint, true, 12345, nullptr);
    CHECK(resumed.resumed_epochs == kill.resumed_epochs);
    const std::vector<double> rest(whole.losses.begin() + resumed.resumed_epochs * kStepsPerEpoch,
                                   whole.losses.end());
    CHECK(resumed.losses == rest);
    CHECK(resumed.weights == whole.weights);
  }
}

TEST_CASE("a training run killed at random moments resumes equal to the run never killed") {
  // Most of a run's time goes to its checkpoints' fsyncs, so random kills land inside them too:
  // in a save of one of the files, or between the renames that swap the folder in.
  manual_seed(5);
  const data::TensorDataset data = two_task_data(60);
  TempDir dir;
  const auto start = std::chrono::steady_clock::now();
  const TrainingRun whole = train_run(data, dir.file("whole"), false, 11, nullptr);
  const double run_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::mt19937 random(7);
  std::uniform_real_distribution<double> delay(0.0, run_seconds);
  constexpr int kKills = 10;
  int killed = 0, mid_checkpoint = 0, from_scratch = 0;
  for (int kill = 0; kill < kKills; ++kill) {
    const std::string checkpoint = dir.file("killed_" + std::to_string(kill));
    std::fflush(nullptr);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      try {
        train_run(data, checkpoint, false, 11, nullptr);
      } catch (...) {
        ::_exit(4);  // never unwind into Catch in the child
      }
      ::_exit(0);
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(delay(random)));
    ::kill(child, SIGKILL);  // fails harmlessly if the child has finished
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    // Killed, or finished before the kill came; not failed.
    CHECK((killed_by_sigkill(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0)));
    killed += killed_by_sigkill(status);
    mid_checkpoint += fs::exists(checkpoint + ".tmp") || fs::exists(checkpoint + ".old");
    // Killed before its first checkpoint, a run starts again from scratch.
    const bool resumable = fs::exists(checkpoint + "/trainer.safetensors") ||
                           fs::exists(checkpoint + ".old/trainer.safetensors");
    from_scratch += !resumable;
    INFO("kill " << kill << (resumable ? ", resumed" : ", from scratch"));
    const TrainingRun resumed =
        train_run(data, checkpoint, resumable, resumable ? 12345 : 11, nullptr);
    const std::vector<double> rest(whole.losses.begin() + resumed.resumed_epochs * kStepsPerEpoch,
                                   whole.losses.end());
    CHECK(resumed.losses == rest);
    CHECK(resumed.weights == whole.weights);
  }
  std::printf(
      "SIGKILL during training: %d of %d children killed (run: %.1f ms), %d while a checkpoint "
      "was being written, %d before the first checkpoint\n",
      killed, kKills, 1e3 * run_seconds, mid_checkpoint, from_scratch);
}
