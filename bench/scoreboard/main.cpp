// bench_scoreboard: ember against its peers, every peer measured in the same run, the ratio in
// every row. Peers: ember itself (the fused nn::mse_loss, the loss written out), a hand-written
// Eigen floor, libtorch (when this build found it), PyTorch from Python (when it imports), and
// the machine's limits (FMA peak, the best GEMM library). Sections:
//
//   correctness  ember's outputs, gradients and 10-step trajectories against libtorch (else
//                PyTorch), for every model timed below
//   steps        a training step and an inference of the multitask and ensemble models of
//                bench/scoreboard/cases.h at (batch; in-hidden-feature) (10; 10-50-10),
//                (256; 256-1024-256), (1024; 1024-4096-1024)
//   ensembles    K = 1 ... 32 members 10 -> 50 -> 1, batch 64: looped and batched ember, the
//                batched form by hand (Eigen floor), looped libtorch and PyTorch
//   runs         whole training runs: the seed MultiTaskModel for 1,000 steps; 5 members
//                10 -> 50 -> 1 trained 40 epochs each on 500 rows in batches of 100; on the
//                digits (data/digits.csv.gz), 30 epochs in batches of 32 of a 64 -> 64 -> 64
//                trunk with three heads, and of 5 members 64 -> 64 -> 64 -> 10
//   gemm         GFLOP/s of ember's matmul, plain Eigen, OpenBLAS, libxsmm, against the peak
//   memory       peak resident memory of a training run at the largest size, each peer in a
//                process of its own
//   targets      the targets, each as measured: met or missed
//
// Method: a warm-up, then rounds in which every peer takes one sample in turn (ember, peer,
// ember, peer, ...); each cell is the median of its samples, ± half their interquartile range
// as a percentage of the median; ratios are ratios of medians. Thread counts are set equal for
// every peer (ember::set_num_threads, torch::set_num_threads, OpenMP's and OpenBLAS's), and
// idle worker threads sleep rather than spin (sleep_idle_threads below).
//
//   bench_scoreboard [--smoke] [--out DIR] [--sections correctness,steps,...] [--threads 1,2]
//
// --smoke (or EMBER_BENCH_SMOKE=1): the smallest sizes, one sample each, seconds in all (CI).
// Markdown tables go to stdout; DIR/results.json gets every sample (bench/plot_scoreboard.py
// draws charts from it). EMBER_BENCH_PYTHON names the Python to run (default /usr/bin/python3).

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>

#include <ember/ember.h>

#include "cases.h"
#include "eigen_floor.h"
#include "ember_peer.h"
#include "harness.h"
#include "machine.h"
#include "torch_peer.h"

using namespace scoreboard;
using json = nlohmann::json;

namespace {

struct Settings {
  bool smoke = false;
  std::string out = ".";
  std::vector<std::string> sections = {"correctness", "steps",  "ensembles", "runs",
                                       "gemm",        "memory", "targets"};
  std::vector<int> threads = {1, 2};
  std::string python = "/usr/bin/python3";
  std::string script = EMBER_BENCH_SOURCE_DIR "/torch_peer.py";
  std::string self;  // this executable, for the memory section's child processes

  bool wants(const std::string& section) const {
    return std::find(sections.begin(), sections.end(), section) != sections.end();
  }
  TimingOptions timing() const {
    if (smoke) return {.sample_seconds = 0, .warmup_seconds = 0, .max_rounds = 1, .min_rounds = 1};
    return {};
  }
};

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> parts;
  std::stringstream in(list);
  for (std::string part; std::getline(in, part, ',');)
    if (!part.empty()) parts.push_back(part);
  return parts;
}

// (batch, inputs, hidden, features) of the steps section.
struct Size {
  int64_t batch, inputs, hidden, features;
};
std::vector<Size> step_sizes(const Settings& s) {
  if (s.smoke) return {{10, 10, 50, 10}};
  return {{10, 10, 50, 10}, {256, 256, 1024, 256}, {1024, 1024, 4096, 1024}};
}
std::vector<int64_t> ensemble_sizes(const Settings& s) {
  if (s.smoke) return {1, 8};
  return {1, 2, 4, 8, 16, 32};
}

Case make_case(const std::string& model, const std::string& mode, const Size& size) {
  return {.model = model,
          .mode = mode,
          .batch = size.batch,
          .inputs = size.inputs,
          .hidden = size.hidden,
          .features = model == "multitask" ? size.features : 1,
          .members = model == "ensemble" ? 3 : 1};
}
Case ensembles_case(const std::string& mode, int64_t members) {
  return {.model = "ensembles_k",
          .mode = mode,
          .batch = 64,
          .inputs = 10,
          .hidden = 50,
          .features = 1,
          .members = members};
}

// The peers, with the reason for each one that is missing.
struct Peers {
  std::unique_ptr<Peer> ember_fused = make_ember_peer("fused");
  std::unique_ptr<Peer> ember_written = make_ember_peer("written");
  std::unique_ptr<Peer> ember_looped = make_ember_peer("looped");
  std::unique_ptr<Peer> ember_batched = make_ember_peer("batched");
  std::unique_ptr<Peer> floor = make_eigen_floor_peer();
  std::unique_ptr<ReferencePeer> libtorch, python;
  std::string libtorch_missing, python_missing;

  // What ember's results are checked against: libtorch, else PyTorch.
  ReferencePeer* reference() const { return libtorch ? libtorch.get() : python.get(); }
  std::vector<Peer*> all() const {
    return {ember_fused.get(), ember_written.get(), ember_looped.get(), ember_batched.get(),
            floor.get(),       libtorch.get(),      python.get()};
  }
  void set_threads(int threads) const {
    for (Peer* p : all())
      if (p) p->set_threads(threads);
  }
};

// Times one case with the given peers, interleaved; a missing peer, or one that does not run
// the case, gets an empty Stats.
std::vector<Stats> time_case(const Case& c, const std::vector<Peer*>& peers,
                             const TimingOptions& timing) {
  std::vector<Runner> runners;
  for (Peer* p : peers) {
    if (p && p->prepare(c)) {
      runners.push_back([p](int64_t calls) { return p->time(calls); });
    } else {
      runners.push_back(nullptr);
    }
  }
  return interleave(runners, timing);
}

// ---- correctness ---------------------------------------------------------------------------

// The largest |mine - reference| over the arrays whose names start with one of `prefixes`, and
// the largest such difference relative to its array's largest |reference| value.
struct Difference {
  double abs = 0, rel = 0;
};
Difference compare(const Arrays& mine, const Arrays& reference,
                   const std::vector<std::string>& prefixes) {
  Difference d;
  for (const auto& entry : reference) {
    const std::string& name = entry.first;
    const Array& expected = entry.second;
    if (std::none_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return name.rfind(p, 0) == 0; }))
      continue;
    const Array& actual = find(mine, name);
    if (actual.values.size() != expected.values.size())
      throw std::runtime_error(name + ": " + std::to_string(actual.values.size()) + " values vs " +
                               std::to_string(expected.values.size()) + " in the reference");
    double largest = 0, worst = 0;
    for (size_t i = 0; i < expected.values.size(); ++i) {
      largest = std::max(largest, double(std::abs(expected.values[i])));
      worst = std::max(worst, double(std::abs(actual.values[i] - expected.values[i])));
    }
    d.abs = std::max(d.abs, worst);
    d.rel = std::max(d.rel, largest > 0 ? worst / largest : worst);
  }
  return d;
}

std::string format_difference(const Difference& d) { return format("%.1e / %.1e", d.abs, d.rel); }

// The worst relative difference per (model, size, variant), for the other tables' error column.
using Errors = std::map<std::string, double>;
std::string error_key(const Case& c, const std::string& variant) {
  return c.model + " " + c.size_label() + " K" + std::to_string(c.members) + " " + variant;
}
std::string error_cell(const Errors& errors, const Case& c, const std::string& variant) {
  const auto it = errors.find(error_key(c, variant));
  return it == errors.end() ? "—" : format("%.0e", it->second);
}

json correctness_section(const Settings& s, const Peers& peers, Errors& errors) {
  ReferencePeer* reference = peers.reference();
  std::printf("## Correctness against %s\n\n",
              reference ? reference->description().c_str() : "nothing");
  json rows = json::array();
  if (!reference) {
    std::printf("No reference peer: libtorch: %s; PyTorch: %s.\n\n", peers.libtorch_missing.c_str(),
                peers.python_missing.c_str());
    return rows;
  }
  std::printf(
      "Each cell: max |ember - reference| / that over the array's largest |reference|, the worst "
      "array of its group. Outputs: the forward on the case's input. Gradients: of one backward "
      "of the loss. Trajectory: the losses of 10 training steps and the parameters after them. "
      "Same parameters, input and targets on both sides (ember's init).\n\n");
  Table table({"model", "size", "ember variant", "outputs", "gradients", "10-step trajectory"});
  std::vector<std::pair<Case, std::vector<std::string>>> cases;
  for (const Size& size : step_sizes(s)) {
    cases.push_back({make_case("multitask", "train", size), {"fused", "written", "Eigen floor"}});
    cases.push_back({make_case("ensemble", "train", size), {"fused"}});
  }
  for (int64_t k : ensemble_sizes(s))
    cases.push_back({ensembles_case("train", k), {"looped", "batched", "Eigen floor"}});
  for (const auto& [c, variants] : cases) {
    const Arrays input = ember_input(c, 0);
    const Arrays expected = reference->reference(c, input);
    for (const std::string& variant : variants) {
      const Arrays mine =
          variant == "Eigen floor" ? eigen_floor_results(c, input) : ember_results(c, variant, 0);
      const Difference out = compare(mine, expected, {"output."});
      const Difference grad = compare(mine, expected, {"grad."});
      const Difference trajectory = compare(mine, expected, {"losses", "step10."});
      errors[error_key(c, variant)] = std::max({out.rel, grad.rel, trajectory.rel});
      const std::string size = c.model == "ensembles_k"
                                   ? "K = " + std::to_string(c.members) + ", (64; 10-50-1)"
                                   : c.size_label();
      table.add({c.model, size, variant, format_difference(out), format_difference(grad),
                 format_difference(trajectory)});
      rows.push_back({{"case", c.to_json()},
                      {"variant", variant},
                      {"reference", reference->name()},
                      {"outputs", {{"abs", out.abs}, {"rel", out.rel}}},
                      {"gradients", {{"abs", grad.abs}, {"rel", grad.rel}}},
                      {"trajectory", {{"abs", trajectory.abs}, {"rel", trajectory.rel}}}});
    }
  }
  table.print();
  return rows;
}

// ---- timings ---------------------------------------------------------------------------------

json stats_json(const std::vector<std::string>& names, const std::vector<Stats>& stats) {
  json peers = json::object();
  for (size_t i = 0; i < names.size(); ++i)
    if (stats[i].valid()) peers[names[i]] = stats[i].to_json();
  return peers;
}

json steps_section(const Settings& s, const Peers& peers, const Errors& errors) {
  std::printf("## Training step and inference\n\n");
  std::printf(
      "multitask: the seed MultiTaskModel at (batch; in-hidden-feature), three heads, SGD; "
      "`written`: the loss as `(out - y).pow(2.f).mean()` summed over tasks, `fused`: "
      "nn::mse_loss. ensemble: the seed EnsembleModel's shape (3 members in -> hidden -> 1, "
      "their mean), SGD. Ratios: the peer's median over ember fused's. err: the worst relative "
      "difference of the correctness table.\n\n");
  const std::vector<std::string> names = {"ember fused", "ember written", "Eigen floor", "libtorch",
                                          "PyTorch"};
  const std::vector<Peer*> order = {peers.ember_fused.get(), peers.ember_written.get(),
                                    peers.floor.get(), peers.libtorch.get(), peers.python.get()};
  Table table({"model", "size", "mode", "threads", "ember fused", "ember written", "Eigen floor",
               "libtorch", "PyTorch", "libtorch / ember", "PyTorch / ember", "ember / floor",
               "written / floor", "err"});
  json rows = json::array();
  for (int threads : s.threads) {
    peers.set_threads(threads);
    for (const std::string model : {"multitask", "ensemble"}) {
      for (const Size& size : step_sizes(s)) {
        for (const std::string mode : {"train", "infer"}) {
          const Case c = make_case(model, mode, size);
          const std::vector<Stats> st = time_case(c, order, s.timing());
          const double ember = st[0].median;
          table.add({model, c.size_label(), mode, std::to_string(threads), format_stats(st[0]),
                     format_stats(st[1]), format_stats(st[2]), format_stats(st[3]),
                     format_stats(st[4]), format_ratio(st[3].median, ember),
                     format_ratio(st[4].median, ember), format_ratio(ember, st[2].median),
                     format_ratio(st[1].median, st[2].median),
                     error_cell(errors, make_case(model, "train", size), "fused")});
          rows.push_back(
              {{"case", c.to_json()}, {"threads", threads}, {"peers", stats_json(names, st)}});
        }
      }
    }
  }
  table.print();
  return rows;
}

json ensembles_section(const Settings& s, const Peers& peers, const Errors& errors) {
  std::printf("## Ensembles: looped and batched\n\n");
  std::printf(
      "K members 10 -> 50 -> 1 (ReLU), batch 64, Adam; loss: the mean over members of their MSE. "
      "looped: models::Ensemble, one forward per member; batched: models::BatchedMLP, one "
      "batched GEMM per layer; Eigen floor: the batched form by hand (eigen_floor.h), no "
      "autograd. libtorch and PyTorch loop over members.\n\n");
  const std::vector<std::string> names = {"ember looped", "ember batched", "Eigen floor",
                                          "libtorch looped", "PyTorch looped"};
  const std::vector<Peer*> order = {peers.ember_looped.get(), peers.ember_batched.get(),
                                    peers.floor.get(), peers.libtorch.get(), peers.python.get()};
  Table table({"K", "mode", "threads", "ember looped", "ember batched", "Eigen floor",
               "libtorch looped", "PyTorch looped", "looped / batched", "batched / floor",
               "looped / floor", "libtorch / batched", "PyTorch / batched", "err looped",
               "err batched"});
  json rows = json::array();
  for (int threads : s.threads) {
    peers.set_threads(threads);
    for (int64_t k : ensemble_sizes(s)) {
      for (const std::string mode : {"train", "infer"}) {
        const Case c = ensembles_case(mode, k);
        const std::vector<Stats> st = time_case(c, order, s.timing());
        const double batched = st[1].median;
        const Case train = ensembles_case("train", k);
        table.add({std::to_string(k), mode, std::to_string(threads), format_stats(st[0]),
                   format_stats(st[1]), format_stats(st[2]), format_stats(st[3]),
                   format_stats(st[4]), format_ratio(st[0].median, batched),
                   format_ratio(batched, st[2].median), format_ratio(st[0].median, st[2].median),
                   format_ratio(st[3].median, batched), format_ratio(st[4].median, batched),
                   error_cell(errors, train, "looped"), error_cell(errors, train, "batched")});
        rows.push_back(
            {{"case", c.to_json()}, {"threads", threads}, {"peers", stats_json(names, st)}});
      }
    }
  }
  table.print();
  return rows;
}

json runs_section(const Settings& s, const Peers& peers) {
  std::printf("## Whole training runs\n\n");
  const int steps = s.smoke ? 20 : 1000, epochs = s.smoke ? 2 : 40,
            digits_epochs = s.smoke ? 2 : 30;
  std::printf(
      "seed: the seed MultiTaskModel, %d SGD steps on one batch of 10. deep ensemble: 5 members "
      "10 -> 50 -> 1 trained one after another, %d epochs each on 500 rows, batches of 100 "
      "reshuffled every epoch (randperm, index_select), Adam. digits multi-task: scikit-learn's "
      "digits (1,797 rows, inputs standardised), a trunk 64 -> 64 -> 64 with heads for the digit "
      "(cross entropy), odd and high (binary cross entropy with logits), the three losses "
      "summed, %d epochs in batches of 32 reshuffled every epoch, Adam. digits ensemble x5: 5 "
      "members 64 -> 64 -> 64 -> 10 on the digit alone, trained one after another the same "
      "way. Wall time inside each process (PyTorch's excludes starting Python and importing "
      "torch; the digits are read before the clock starts).\n\n",
      steps, epochs, digits_epochs);
  const std::vector<std::pair<std::string, json>> runs = {
      {"seed_steps", {{"steps", steps}}},
      {"deep_ensemble", {{"members", 5}, {"epochs", epochs}, {"rows", 500}, {"batch", 100}}},
      {"digits_multitask", {{"epochs", digits_epochs}, {"batch", 32}}},
      {"digits_ensemble", {{"members", 5}, {"epochs", digits_epochs}, {"batch", 32}}}};
  const std::map<std::string, std::string> labels = {{"seed_steps", "seed"},
                                                     {"deep_ensemble", "deep ensemble"},
                                                     {"digits_multitask", "digits multi-task"},
                                                     {"digits_ensemble", "digits ensemble x5"}};
  Table table(
      {"run", "threads", "ember", "libtorch", "PyTorch", "libtorch / ember", "PyTorch / ember"});
  json rows = json::array();
  TimingOptions timing = s.timing();
  timing.sample_seconds = 0;  // one run per sample
  timing.min_rounds = std::min(timing.max_rounds, 5);
  for (int threads : s.threads) {
    peers.set_threads(threads);
    for (const auto& run : runs) {
      const std::string& name = run.first;
      const json& arguments = run.second;
      std::vector<Runner> runners = {[&](int64_t calls) {
                                       double total = 0;
                                       for (int64_t i = 0; i < calls; ++i)
                                         total += ember_whole_run(name, arguments);
                                       return total;
                                     },
                                     nullptr, nullptr};
      ReferencePeer* others[] = {peers.libtorch.get(), peers.python.get()};
      for (int i = 0; i < 2; ++i) {
        if (!others[i]) continue;
        ReferencePeer* p = others[i];
        runners[size_t(i) + 1] = [&, p](int64_t calls) {
          double total = 0;
          for (int64_t c = 0; c < calls; ++c) total += p->whole_run(name, arguments);
          return total;
        };
      }
      const std::vector<Stats> st = interleave(runners, timing);
      table.add({labels.at(name), std::to_string(threads), format_stats(st[0]), format_stats(st[1]),
                 format_stats(st[2]), format_ratio(st[1].median, st[0].median),
                 format_ratio(st[2].median, st[0].median)});
      rows.push_back({{"run", name},
                      {"arguments", arguments},
                      {"threads", threads},
                      {"peers", stats_json({"ember", "libtorch", "PyTorch"}, st)}});
    }
  }
  table.print();
  return rows;
}

// ---- memory --------------------------------------------------------------------------------

long max_rss_kb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

// Runs `command` and parses the last line it prints as JSON; null when it fails.
json run_child(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return nullptr;
  std::string output, last;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
  if (pclose(pipe) != 0) return nullptr;
  std::stringstream lines(output);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) last = line;
  try {
    return json::parse(last);
  } catch (const json::exception&) {
    return nullptr;
  }
}

json memory_section(const Settings& s, const Peers& peers) {
  const Size size = s.smoke ? Size{10, 10, 50, 10} : Size{1024, 1024, 4096, 1024};
  const int steps = s.smoke ? 2 : 3;
  const Case c = make_case("multitask", "train", size);
  std::printf("## Peak memory\n\n");
  std::printf(
      "The multitask model at %s trained %d SGD steps, each peer in a process of its own (one "
      "thread). getrusage's ru_maxrss: at the start (the program and its libraries loaded, the "
      "ember and libtorch children are the same executable) and at the end; `model` is the "
      "difference.\n\n",
      c.size_label().c_str(), steps);
  const std::string arguments = " " + std::to_string(size.batch) + " " +
                                std::to_string(size.inputs) + " " + std::to_string(size.hidden) +
                                " " + std::to_string(size.features) + " " + std::to_string(steps);
  std::vector<std::pair<std::string, std::string>> children = {
      {"ember", s.self + " --memory-child ember" + arguments}};
  if (peers.libtorch)
    children.push_back({"libtorch", s.self + " --memory-child libtorch" + arguments});
  if (peers.python)
    children.push_back({"PyTorch", s.python + " " + s.script + " --memory" + arguments});
  Table table({"peer", "at start", "peak", "model (peak - start)", "model / ember's"});
  json rows = json::array();
  double ember_model = 0;
  for (const auto& [name, command] : children) {
    const json result = run_child(command);
    if (result.is_null()) {
      table.add({name, "failed: " + command});
      continue;
    }
    const double start = result.at("start_kb"), peak = result.at("peak_kb");
    if (name == "ember") ember_model = peak - start;
    table.add({name, format("%.0f MiB", start / 1024), format("%.0f MiB", peak / 1024),
               format("%.0f MiB", (peak - start) / 1024), format_ratio(peak - start, ember_model)});
    rows.push_back({{"peer", name},
                    {"case", c.to_json()},
                    {"steps", steps},
                    {"start_kb", start},
                    {"peak_kb", peak}});
  }
  table.print();
  return rows;
}

// Libraries keep their worker threads spinning for a while after a parallel call: libgomp's
// (Eigen, libtorch) for GOMP_SPINCOUNT iterations, OpenBLAS's for 2^28 cycles (about 0.1 s).
// Interleaved, the next peer then runs while the last one's workers still hold the cores: on
// the 2-core machine of docs/09-performance.md, plain Eigen at 2 threads fell from 117 to 12
// GFLOP/s on 256x1024x256 when it ran right after OpenBLAS. So every peer's idle workers are
// asked to sleep at once (OMP_WAIT_POLICY=PASSIVE, OPENBLAS_THREAD_TIMEOUT=4), the Python
// child's too. The libraries read both when they load, hence the re-exec; a value already in
// the environment is kept.
void sleep_idle_threads(char** argv) {
  bool changed = false;
  for (const auto& [name, value] :
       {std::pair{"OMP_WAIT_POLICY", "PASSIVE"}, std::pair{"OPENBLAS_THREAD_TIMEOUT", "4"}}) {
    if (std::getenv(name)) continue;
    setenv(name, value, 1);
    changed = true;
  }
  if (changed) {
    // The executable's own path, so that ps and top still show its name.
    const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
    execv(self.c_str(), argv);
    std::perror("bench_scoreboard: re-exec with idle threads asleep failed; going on without");
  }
}

std::string getenv_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value ? value : fallback;
}

int memory_child(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: %s --memory-child ember|libtorch BATCH IN HIDDEN FEATURES STEPS\n",
                 argv[0]);
    return 2;
  }
  const std::string peer = argv[2];
  const Case c = make_case(
      "multitask", "train",
      {std::atoll(argv[3]), std::atoll(argv[4]), std::atoll(argv[5]), std::atoll(argv[6])});
  const int steps = std::atoi(argv[7]);
  ember::set_num_threads(1);
  const long start = max_rss_kb();
  if (peer == "ember") {
    ember_train_steps(c, steps);
  } else if (peer == "libtorch") {
    std::string why_missing;
    const std::unique_ptr<ReferencePeer> libtorch = make_libtorch_peer(why_missing);
    if (!libtorch) {
      std::fprintf(stderr, "libtorch is missing: %s\n", why_missing.c_str());
      return 1;
    }
    libtorch->set_threads(1);
    libtorch_train_steps(c, steps);
  } else {
    std::fprintf(stderr, "unknown peer '%s'\n", peer.c_str());
    return 2;
  }
  std::printf("{\"start_kb\": %ld, \"peak_kb\": %ld}\n", start, max_rss_kb());
  return 0;
}

// ---- targets -------------------------------------------------------------------------------

// The median of `peer` in the row of `rows` whose fields match `where`; 0 when absent.
double median_of(const json& rows, const json& where, const std::string& peer) {
  for (const json& row : rows) {
    bool match = true;
    for (const auto& [key, value] : where.items()) {
      const json& field = row.contains(key) ? row.at(key) : row.at("case").value(key, json());
      if (field != value) match = false;
    }
    if (match && row.at("peers").contains(peer)) return row.at("peers").at(peer).at("median_s");
  }
  return 0;
}

json targets_section(const json& results) {
  std::printf("## Targets (issue 12)\n\n");
  Table table({"target", "measured", "verdict"});
  json rows = json::array();
  const auto add = [&](const std::string& target, double value, const std::string& shown,
                       bool met) {
    const std::string verdict = value > 0 ? (met ? "met" : "missed") : "not measured";
    table.add({target, value > 0 ? shown : "—", verdict});
    rows.push_back({{"target", target}, {"value", value}, {"verdict", verdict}});
  };
  const json& steps = results.value("steps", json::array());
  const json seed = {{"model", "multitask"}, {"mode", "train"}, {"batch", 10}, {"threads", 1}};
  for (const std::string variant : {"fused", "written"}) {
    const double ember = median_of(steps, seed, "ember " + variant);
    const double libtorch = median_of(steps, seed, "libtorch"),
                 floor = median_of(steps, seed, "Eigen floor");
    const double speedup = ember > 0 && libtorch > 0 ? libtorch / ember : 0;
    add("seed step (" + variant + ") >= 50x faster than libtorch, 1 thread", speedup,
        format("%.1fx", speedup), speedup >= 50);
    const double over_floor = ember > 0 && floor > 0 ? ember / floor : 0;
    add("seed step (" + variant + ") within 2x of the Eigen floor, 1 thread", over_floor,
        format("%.2fx the floor", over_floor), over_floor <= 2);
  }
  for (int threads : {1, 2}) {
    const json largest = {
        {"model", "multitask"}, {"mode", "train"}, {"batch", 1024}, {"threads", threads}};
    const double ember = median_of(steps, largest, "ember fused"),
                 libtorch = median_of(steps, largest, "libtorch");
    const double ratio = ember > 0 && libtorch > 0 ? ember / libtorch : 0;
    add("largest step <= 1.05x libtorch's, " + std::to_string(threads) + " thread(s)", ratio,
        format("%.3fx libtorch's", ratio), ratio <= 1.05);
  }
  const json& gemm = results.value("gemm", json::array());
  for (const json& row : gemm) {
    if (row.at("M").get<int64_t>() * row.at("N").get<int64_t>() * row.at("K").get<int64_t>() <
        int64_t(1) << 30)
      continue;
    double best = 0;
    for (const std::string lib : {"eigen", "openblas", "libxsmm"})
      if (row.at("peers").contains(lib))
        best = std::max(best, row.at("peers").at(lib).at("gflops").get<double>());
    const double ember = row.at("peers").at("ember_matmul").at("gflops");
    const double fraction = best > 0 ? ember / best : 0;
    add(format("GEMM %lldx%lldx%lld >= 90%% of the best library, %d thread(s)",
               (long long)row.at("M").get<int64_t>(), (long long)row.at("N").get<int64_t>(),
               (long long)row.at("K").get<int64_t>(), row.at("threads").get<int>()),
        fraction, format("%.0f%%", 100 * fraction), fraction >= 0.9);
  }
  const json& ensembles = results.value("ensembles", json::array());
  const json k8 = {{"model", "ensembles_k"}, {"mode", "train"}, {"members", 8}, {"threads", 1}};
  const double batched = median_of(ensembles, k8, "ember batched"),
               floor = median_of(ensembles, k8, "Eigen floor");
  for (const std::string peer : {"ember looped", "libtorch looped"}) {
    const double other = median_of(ensembles, k8, peer);
    const double speedup = batched > 0 && other > 0 ? other / batched : 0;
    // What the batched form by hand, with no framework at all, would give.
    const std::string by_hand =
        floor > 0 && other > 0 ? format(" (Eigen floor: %.2fx)", other / floor) : "";
    add("batched K = 8 >= 3x faster than " + peer + ", 1 thread", speedup,
        format("%.2fx", speedup) + by_hand, speedup >= 3);
  }
  double ember_model = 0, libtorch_model = 0;
  for (const json& row : results.value("memory", json::array())) {
    const double model = row.at("peak_kb").get<double>() - row.at("start_kb").get<double>();
    if (row.at("peer") == "ember") ember_model = model;
    if (row.at("peer") == "libtorch") libtorch_model = model;
  }
  const double memory = ember_model > 0 && libtorch_model > 0 ? ember_model / libtorch_model : 0;
  add("peak memory at the largest size <= libtorch's", memory, format("%.2fx libtorch's", memory),
      memory <= 1);
  table.print();
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--memory-child") return memory_child(argc, argv);
  sleep_idle_threads(argv);
  std::signal(SIGPIPE, SIG_IGN);  // a Python peer that dies shows up as a failed read instead
  Settings s;
  s.self = std::filesystem::read_symlink("/proc/self/exe").string();
  if (const char* smoke = std::getenv("EMBER_BENCH_SMOKE"); smoke && std::string(smoke) == "1")
    s.smoke = true;
  if (const char* python = std::getenv("EMBER_BENCH_PYTHON")) s.python = python;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--smoke") {
      s.smoke = true;
    } else if (arg == "--out" && has_value) {
      s.out = argv[++i];
    } else if (arg == "--sections" && has_value) {
      s.sections = split(argv[++i]);
    } else if (arg == "--threads" && has_value) {
      s.threads.clear();
      for (const std::string& t : split(argv[++i])) s.threads.push_back(std::stoi(t));
    } else {
      std::fprintf(stderr,
                   "usage: %s [--smoke] [--out DIR] [--sections correctness,steps,ensembles,runs,"
                   "gemm,memory,targets] [--threads 1,2]\n",
                   argv[0]);
      return 2;
    }
  }
  if (s.smoke) s.threads = {1};
  const auto started = std::chrono::steady_clock::now();

  Peers peers;
  peers.libtorch = make_libtorch_peer(peers.libtorch_missing);
  peers.python = make_python_peer(s.python, s.script, peers.python_missing);

  json results;
  results["smoke"] = s.smoke;
  results["machine"] = describe_machine();
  results["load_at_start"] = load_average();
  results["threads"] = s.threads;
  std::vector<double> peak;
  for (int t : s.threads) peak.push_back(peak_gflops(t, s.smoke));
  results["peak_gflops"] = peak;
  const json& m = results["machine"];
  std::printf("# ember scoreboard%s\n\n",
              s.smoke ? " (smoke run: smallest sizes, one sample each)" : "");
  Table machine({"", ""});
  machine.add({"CPU", m["cpu"].get<std::string>() +
                          format(", %d logical CPUs", m["logical_cpus"].get<int>())});
  const std::vector<double> load = load_average();
  if (!load.empty())
    machine.add({"load average at start", format("%.2f %.2f %.2f", load[0], load[1], load[2])});
  for (size_t i = 0; i < s.threads.size(); ++i)
    machine.add(
        {format("peak, %d thread(s)", s.threads[i]), format("%.1f GFLOP/s (FMA loop)", peak[i])});
  machine.add({"compiler", m["compiler"]});
  machine.add(
      {"ember's flags", m["library_flags"].get<std::string>() + "; GEMM at " +
                            m["ember_gemm_level"].get<std::string>() +
                            (m["ember_blas"].get<bool>() ? ", large products through OpenBLAS"
                                                         : ", Eigen for every product")});
  machine.add({"benchmark's flags", m["bench_flags"]});
  const std::string idle =
      "OMP_WAIT_POLICY=" + getenv_or("OMP_WAIT_POLICY", "(unset)") +
      ", OPENBLAS_THREAD_TIMEOUT=" + getenv_or("OPENBLAS_THREAD_TIMEOUT", "(unset)");
  results["idle_threads"] = idle;
  machine.add({"idle worker threads", idle});
  machine.add({"Eigen", m["eigen"]});
  machine.add({"OpenBLAS", m["openblas"].is_null() ? "missing (CMake found no OpenBLAS)"
                                                   : m["openblas"].get<std::string>()});
  machine.add({"libxsmm", m["libxsmm"].is_null() ? "missing (pkg-config found no libxsmm)"
                                                 : m["libxsmm"].get<std::string>()});
  machine.add({"libtorch", peers.libtorch ? peers.libtorch->description()
                                          : "missing: " + peers.libtorch_missing});
  machine.add(
      {"PyTorch", peers.python ? peers.python->description() : "missing: " + peers.python_missing});
  machine.print();
  results["peers"] = {
      {"libtorch", peers.libtorch ? json(peers.libtorch->description()) : json(nullptr)},
      {"libtorch_missing", peers.libtorch_missing},
      {"pytorch", peers.python ? json(peers.python->description()) : json(nullptr)},
      {"pytorch_missing", peers.python_missing}};

  Errors errors;
  if (s.wants("correctness")) results["correctness"] = correctness_section(s, peers, errors);
  if (s.wants("steps")) results["steps"] = steps_section(s, peers, errors);
  if (s.wants("ensembles")) results["ensembles"] = ensembles_section(s, peers, errors);
  if (s.wants("runs")) results["runs"] = runs_section(s, peers);
  if (s.wants("gemm")) {
    std::printf(
        "## GEMM, GFLOP/s\n\nC = A·B, row-major float32, [M, K]·[K, N]. ember matmul: the "
        "Tensor op (allocates C); ember gemm kernel: kernels::cpu::gemm on raw buffers; "
        "plain Eigen: its own GEMM, -march=native -mtune=generic; OpenBLAS: cblas_sgemm; libxsmm: "
        "its "
        "JIT kernel, dispatched once, up to 64³. Peak: the FMA loop above.\n\n");
    std::vector<std::vector<int64_t>> shapes;
    for (int64_t n : s.smoke ? std::vector<int64_t>{8, 64}
                             : std::vector<int64_t>{8, 16, 32, 64, 128, 256, 512, 1024, 2048})
      shapes.push_back({n, n, n});
    for (const auto& shape :
         std::vector<std::vector<int64_t>>{{10, 50, 10}, {10, 10, 50}, {50, 10, 10}, {64, 50, 10}})
      shapes.push_back(shape);
    if (!s.smoke) {
      for (const auto& shape : std::vector<std::vector<int64_t>>{
               {256, 1024, 256}, {1024, 4096, 1024}, {1024, 1024, 4096}})
        shapes.push_back(shape);
    }
    results["gemm"] = gemm_section(shapes, s.threads, peak, s.timing());
    results["seed_gemms"] = seed_gemms_section(s.timing());
  }
  if (s.wants("memory")) results["memory"] = memory_section(s, peers);
  if (s.wants("targets") && !s.smoke) results["targets"] = targets_section(results);
  results["load_at_end"] = load_average();
  results["seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::filesystem::create_directories(s.out);
  const std::filesystem::path path = std::filesystem::path(s.out) / "results.json";
  std::ofstream(path) << results.dump(1) << "\n";
  const std::vector<double> end_load = load_average();
  std::printf("Load average at the end: %s. %.0f s in all. Raw results: %s\n",
              end_load.empty()
                  ? "unknown"
                  : format("%.2f %.2f %.2f", end_load[0], end_load[1], end_load[2]).c_str(),
              results["seconds"].get<double>(), path.c_str());
  return 0;
}
