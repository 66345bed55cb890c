// `ember demo`: the two comparisons the project exists for, on scikit-learn's digits (a real
// data set shipped in data/), each run an ordinary `ember train` run (train_run) with a
// fixed seed and a stratified split:
//   1. one network with three heads (digit class, parity, digit >= 5) under every
//      multi-task balancing method: each task's test accuracy and the time per epoch;
//   2. a single MLP against 5-member ensembles under each method: accuracy, NLL, Brier, ECE.
// Then it draws the learning curves and the reliability diagram with apps/plot_demo.py.

#include "demo.h"

#include <ember/error.h>
#include <ember/models/multitask/balancer.h>
#include <ember/train/metrics.h>
#include <ember/train/run.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace ember::apps {

namespace {

train::RunOptions base_options(const DemoOptions& demo, const std::string& out) {
  train::RunOptions run;
  run.data_path = demo.data_path;
  run.hidden = {64, 64};
  run.epochs = demo.epochs;
  run.patience = 5;
  run.seed = 0;
  run.out_dir = (fs::path(demo.out_dir) / out).string();
  run.progress = false;
  return run;
}

// The reliability diagram's bins of one run's digit predictions, as CSV rows.
void write_reliability(std::ofstream& file, const std::string& model,
                       const train::RunReport& report) {
  const train::Calibration calibration =
      train::calibration(report.test_targets[0], report.test_predictions[0].value);
  for (const train::CalibrationBin& bin : calibration.bins) {
    file << model << ',' << bin.lower << ',' << bin.upper << ',' << bin.count << ','
         << bin.mean_confidence << ',' << bin.accuracy << '\n';
  }
}

}  // namespace

int run_demo(const DemoOptions& demo) {
  const auto start = std::chrono::steady_clock::now();
  if (!fs::exists(demo.data_path)) throw Error("demo: no data file " + demo.data_path);
  fs::create_directories(demo.out_dir);

  std::printf("ember demo: scikit-learn's digits (1,797 8x8 images), seed 0, stratified split\n");
  std::printf("\n1. One network 64-64, three heads, under each balancing method (test split)\n\n");
  std::printf("| method      | digit acc | odd acc | high acc | ms/epoch | epochs |\n");
  std::printf("|-------------|-----------|---------|----------|----------|--------|\n");
  for (const std::string& method : models::mtl::balancer_names()) {
    train::RunOptions run = base_options(demo, "multitask/" + method);
    run.targets = {train::parse_target("digit:classes"), train::parse_target("odd:binary"),
                   train::parse_target("high:binary")};
    run.weighting = method;
    const train::RunReport report = train::train_run(run);
    std::printf("| %-11s | %9.4f | %7.4f | %8.4f | %8.1f | %6lld |\n", method.c_str(),
                report.test_metrics.at("digit").at("accuracy"),
                report.test_metrics.at("odd").at("accuracy"),
                report.test_metrics.at("high").at("accuracy"), 1000 * report.seconds_per_epoch,
                static_cast<long long>(report.epochs));
  }

  std::printf(
      "\n2. The digit class: one MLP 64-64 against 5-member ensembles (test split; val: validation "
      "split)\n\n");
  std::printf(
      "| model            | accuracy |    NLL |  Brier |    ECE | val acc | val NLL | seconds |\n");
  std::printf(
      "|------------------|----------|--------|--------|--------|---------|---------|---------|\n");
  struct Entry {
    std::string name, method;
    int64_t members;
    bool adversarial = false;
  };
  const std::vector<Entry> entries = {{"single MLP", "", 1},
                                      {"voting", "voting", 5},
                                      {"bagging", "bagging", 5},
                                      {"fusion", "fusion", 5},
                                      {"snapshot", "snapshot", 5},
                                      {"deep ens. AT", "deep_ensemble", 5, true},
                                      {"MC dropout", "mc_dropout", 20},
                                      {"BatchEnsemble", "batch_ensemble", 5}};
  std::ofstream reliability(fs::path(demo.out_dir) / "reliability.csv");
  reliability << "model,lower,upper,count,confidence,accuracy\n";
  train::RunReport single, best;
  std::string best_name;
  for (const Entry& entry : entries) {
    train::RunOptions run =
        base_options(demo, "ensemble/" + (entry.method.empty() ? "single" : entry.method));
    run.targets = {train::parse_target("digit:classes")};
    run.ensemble = entry.members;
    run.method = entry.method;
    run.adversarial = entry.adversarial;
    if (entry.method == "mc_dropout") run.dropout = 0.2f;
    if (entry.method == "snapshot") {
      run.patience = 0;                                                // cycles run to their end
      run.epochs = train::snapshot_epochs(run.epochs, entry.members);  // one cycle per member
    }
    const auto run_start = std::chrono::steady_clock::now();
    const train::RunReport report = train::train_run(run);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
    const auto& metrics = report.test_metrics.at("digit");
    const auto& validation = report.validation_metrics.at("digit");
    std::printf(
        "| %-16s | %8.4f | %6.4f | %6.4f | %6.4f | %7.4f | %7.4f | %7.2f |\n",
        (entry.name + (entry.members > 1 && entry.method != "mc_dropout" ? " x5" : "")).c_str(),
        metrics.at("accuracy"), metrics.at("log_loss"), metrics.at("brier"), metrics.at("ece"),
        validation.at("accuracy"), validation.at("log_loss"), seconds);
    if (entry.method.empty()) {
      single = report;
      continue;
    }
    // Chosen on the validation split: choosing on the test split would make the best
    // ensemble's test figures an optimistic pick among several noisy ones.
    const auto better = [](const train::RunReport& a, const train::RunReport& b) {
      const auto &ma = a.validation_metrics.at("digit"), &mb = b.validation_metrics.at("digit");
      return ma.at("accuracy") > mb.at("accuracy") ||
             (ma.at("accuracy") == mb.at("accuracy") && ma.at("log_loss") < mb.at("log_loss"));
    };
    if (best_name.empty() || better(report, best)) {
      best = report;
      best_name = entry.name;
    }
  }
  write_reliability(reliability, "single MLP", single);
  write_reliability(reliability, best_name, best);
  reliability.close();
  const auto& s = single.test_metrics.at("digit");
  const auto& b = best.test_metrics.at("digit");
  const auto& v = best.validation_metrics.at("digit");
  std::printf(
      "\nbest ensemble on the validation split (accuracy %.4f, then NLL %.4f): %s\n"
      "on the test split: accuracy %.4f (single %.4f), NLL %.4f (single %.4f), ECE %.4f "
      "(single %.4f)\n",
      v.at("accuracy"), v.at("log_loss"), best_name.c_str(), b.at("accuracy"), s.at("accuracy"),
      b.at("log_loss"), s.at("log_loss"), b.at("ece"), s.at("ece"));

  // The pictures: learning curves of the equally weighted network, and the reliability
  // diagram of the single model against the best ensemble.
  const std::string command =
      "'" + demo.python + "' '" + demo.plot_script + "' '" + demo.out_dir + "'";
  std::fflush(stdout);  // the tables before the script's own output
  if (!fs::exists(demo.plot_script)) {
    std::printf("pictures skipped: no %s\n", demo.plot_script.c_str());
  } else if (std::system(command.c_str()) != 0) {
    std::printf(
        "pictures skipped: `%s` failed (is matplotlib installed for %s? Debian: "
        "python3-matplotlib, for /usr/bin/python3; --python picks the interpreter)\n",
        command.c_str(), demo.python.c_str());
  }
  std::printf("runs in %s; the whole demo took %.1f s\n", demo.out_dir.c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return 0;
}

}  // namespace ember::apps
