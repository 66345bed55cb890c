// The `ember` command: train a multi-task network or an ensemble on a CSV file, then predict
// and evaluate with the saved model. A thin layer over ember::train (train/run.h): every command is
// a library call with parsed arguments.

#include <ember/core/ops.h>
#include <ember/error.h>
#include <ember/models/multitask/balancer.h>
#include <ember/nn/csv.h>
#include <ember/train/run.h>

#include "demo.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#ifdef EMBER_WITH_MPI
#include <ember/dist/communicator.h>
#endif

using namespace ember;

namespace {

std::string format_value(double value) {
  if (std::isnan(value)) return "undefined";  // train::task_metrics' undefined metrics
  char text[32];
  std::snprintf(text, sizeof(text), "%.4f", value);
  return text;
}

// One line per task: its test metrics, in name order.
void print_metrics(const train::TaskMetrics& metrics) {
  for (const auto& [task, values] : metrics) {
    std::cout << task << ":";
    for (const auto& [name, value] : values)
      std::cout << "  " << name << " " << format_value(value);
    std::cout << '\n';
  }
}

// What a run trained: "N epochs (best B)" for one network (or one fused ensemble); "K
// members, N epochs in all (best B1, ..., BK)" for an ensemble trained member by member; "K
// snapshot cycles, N epochs in all" (a snapshot is its cycle's end, whatever epoch was best).
std::string trained(const train::RunReport& report, const std::string& method) {
  const std::vector<train::History>& runs = report.runs;
  const std::string epochs = std::to_string(report.epochs) + " epochs";
  if (runs.size() == 1) return epochs + " (best " + std::to_string(runs[0].best_epoch + 1) + ")";
  const std::string count = std::to_string(runs.size());
  if (method == "snapshot") return count + " snapshot cycles, " + epochs + " in all";
  std::string best;  // "-" for a member an interrupt left untrained
  for (const train::History& run : runs) {
    best += best.empty() ? "" : ", ";
    best += run.epochs.empty() ? "-" : std::to_string(run.best_epoch + 1);
  }
  return count + " members, " + epochs + " in all (best " + best + ")";
}

// The columns of `table` named `names`, in that order, as [N, names.size()].
Tensor columns_of(const data::CsvTable& table, const std::vector<std::string>& names,
                  const std::string& path) {
  std::vector<float> picks;
  for (const std::string& name : names) {
    const auto found = std::find(table.columns.begin(), table.columns.end(), name);
    if (found == table.columns.end())
      throw Error(path + ": no column '" + name + "' the model reads");
    picks.push_back(static_cast<float>(found - table.columns.begin()));
  }
  return table.values.index_select(1, tensor(picks, {static_cast<int64_t>(picks.size())}));
}

// One row per input: per task its prediction (the class for classification, then each
// class's probability), and where the model has one its spread (std for regression; entropy
// and mutual information for classification).
void write_predictions(std::ostream& out, const train::SavedModel& model,
                       const std::vector<train::TaskPrediction>& predictions) {
  struct Column {
    std::string name;
    std::vector<float> values;
    int64_t stride = 1, offset = 0;
    const char* format = "%.6f";
  };
  std::vector<Column> columns;
  for (size_t t = 0; t < model.spec.tasks.size(); ++t) {
    const models::Task& task = model.spec.tasks[t];
    const train::TaskPrediction& p = predictions[t];
    if (task.type == models::TaskType::multiclass) {
      columns.push_back({task.name, max(p.value, 1).indices.to_vector(), 1, 0, "%.0f"});
      for (int64_t c = 0; c < task.classes; ++c) {
        columns.push_back(
            {task.name + "_p" + std::to_string(c), p.value.to_vector(), task.classes, c});
      }
    } else if (task.type == models::TaskType::binary) {
      columns.push_back({task.name, (p.value > 0.5f).to_vector(), 1, 0, "%.0f"});
      columns.push_back({task.name + "_p1", p.value.to_vector()});
    } else {
      columns.push_back({task.name, p.value.to_vector(), 1, 0, "%.7g"});
    }
    if (p.std.defined()) columns.push_back({task.name + "_std", p.std.to_vector(), 1, 0, "%.7g"});
    if (p.entropy.defined()) {
      columns.push_back({task.name + "_entropy", p.entropy.to_vector()});
      columns.push_back({task.name + "_mutual_information", p.mutual_information.to_vector()});
    }
  }
  for (size_t c = 0; c < columns.size(); ++c) out << (c ? "," : "") << columns[c].name;
  out << '\n';
  const int64_t rows = predictions.front().value.size(0);
  char text[32];
  for (int64_t i = 0; i < rows; ++i) {
    for (size_t c = 0; c < columns.size(); ++c) {
      const Column& column = columns[c];
      std::snprintf(text, sizeof(text), column.format,
                    static_cast<double>(column.values[i * column.stride + column.offset]));
      out << (c ? "," : "") << text;
    }
    out << '\n';
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Started by mpirun, every process runs this program: `train` spreads its work over them
  // (train/run.h), rank 0 alone writes and prints, and the other commands run on rank 0.
  train::ProcessGroup* processes = nullptr;
#ifdef EMBER_WITH_MPI
  std::optional<dist::Environment> mpi;
  if (dist::launched_by_mpirun()) {
    try {
      mpi.emplace(argc, argv);
    } catch (const std::exception& error) {
      std::cerr << "ember: " << error.what() << '\n';
      return 1;
    }
    processes = &mpi->world();
  }
#endif
  const bool rank_zero = !processes || processes->rank() == 0;

  CLI::App app{"ember: train multi-task networks on CSV files, then predict and evaluate"};
  app.require_subcommand(1);

  train::RunOptions run;
  std::vector<std::string> targets;
  bool no_scale = false, quiet = false, print_json = false;
  CLI::App* train_command = app.add_subcommand("train", "train a network on a CSV file");
  train_command->add_option("data", run.data_path, "CSV file (plain or gzipped), with a header")
      ->required();
  train_command
      ->add_option("--target", targets,
                   "target column, COL[:regression|binary|classes]; once per task")
      ->required();
  train_command->add_option("--features", run.features, "input columns (default: all others)")
      ->delimiter(',');
  train_command->add_option("--skip-rows", run.skip_rows, "lines to skip before the header");
  train_command->add_option("--model", run.model, "mlp (hard sharing), mmoe or ple")
      ->capture_default_str();
  train_command->add_option("--hidden", run.hidden, "trunk (mlp) or expert widths, e.g. 64,64")
      ->delimiter(',')
      ->capture_default_str();
  train_command->add_option("--experts", run.experts, "mmoe: experts; ple: shared experts")
      ->capture_default_str();
  train_command->add_option("--activation", run.activation, "relu, tanh, gelu, sigmoid, leaky_relu")
      ->capture_default_str();
  train_command->add_option("--dropout", run.dropout, "dropout after each trunk layer")
      ->capture_default_str();
  std::string weightings;
  for (const std::string& name : models::mtl::balancer_names())
    weightings += (weightings.empty() ? "" : ", ") + name;
  train_command->add_option("--weighting", run.weighting, "multi-task balancing: " + weightings)
      ->capture_default_str();
  train_command->add_option("--ensemble", run.ensemble, "members (mc_dropout: samples)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  train_command->add_option("--method", run.method,
                            "voting, bagging, fusion, snapshot, gradient_boosting, "
                            "deep_ensemble, mc_dropout or batch_ensemble (default with "
                            "--ensemble: voting)");
  train_command->add_flag("--adversarial", run.adversarial,
                          "deep_ensemble: also train on fast-gradient-sign adversarial examples");
  train_command->add_flag("--calibrate", run.calibrate,
                          "classification: fit a temperature on the validation split (Guo et al.)");
  train_command->add_option("--optimizer", run.optimizer, "sgd, adam or adamw")
      ->capture_default_str();
  train_command->add_option("--lr", run.lr, "learning rate")->capture_default_str();
  train_command->add_option("--weight-decay", run.weight_decay, "weight decay")
      ->capture_default_str();
  CLI::Option* epochs_option =
      train_command
          ->add_option(
              "--epochs", run.epochs,
              "most epochs (snapshot: the default rounded down to a multiple of --ensemble)")
          ->capture_default_str();
  train_command->add_option("--batch-size", run.batch_size, "rows per step")->capture_default_str();
  CLI::Option* patience_option =
      train_command
          ->add_option("--patience", run.patience,
                       "early-stopping patience (0: off; snapshot: off by default)")
          ->capture_default_str();
  train_command->add_option("--test-fraction", run.test_fraction, "held out for the metrics")
      ->capture_default_str();
  train_command
      ->add_option("--val-fraction", run.validation_fraction, "of the rest, for early stopping")
      ->capture_default_str();
  train_command->add_option("--seed", run.seed, "seeds the split, init, shuffling, dropout")
      ->capture_default_str();
  train_command->add_option("--threads", run.threads, "threads for large matrix products")
      ->check(CLI::Range(1, 1024));
  train_command->add_option("--out", run.out_dir, "run folder")->required();
  train_command->add_flag("--resume", run.resume,
                          "continue the run in --out from its last checkpoint");
  train_command->add_flag("--no-scale", no_scale, "do not standardise inputs and targets");
  train_command->add_flag("--quiet", quiet, "print nothing but errors");
  train_command->add_flag("--json", print_json, "print metrics.json to stdout");

  std::string model_path, data_path, output_path;
  int64_t skip_rows = 0;
  CLI::App* predict_command = app.add_subcommand("predict", "predict with a saved model");
  predict_command->add_option("model", model_path, "a run's model.safetensors, or its folder")
      ->required();
  predict_command->add_option("data", data_path, "CSV file with the model's input columns")
      ->required();
  predict_command->add_option("--output,-o", output_path, "CSV file to write (default: stdout)");
  predict_command->add_option("--skip-rows", skip_rows, "lines to skip before the header");

  apps::DemoOptions demo{.data_path = EMBER_SOURCE_DIR "/data/digits.csv.gz",
                         .out_dir = "runs/demo",
                         .plot_script = EMBER_SOURCE_DIR "/apps/plot_demo.py"};
  CLI::App* demo_command = app.add_subcommand(
      "demo", "multi-task methods and ensembles compared on the digits, with pictures");
  demo_command->add_option("--data", demo.data_path, "digits.csv.gz")->capture_default_str();
  demo_command->add_option("--out", demo.out_dir, "folder for the runs and pictures")
      ->capture_default_str();
  demo_command->add_option("--epochs", demo.epochs, "most epochs per run")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  demo_command->add_option("--python", demo.python, "the Python that draws the pictures")
      ->capture_default_str();

  CLI::App* evaluate_command = app.add_subcommand("evaluate", "metrics of a saved model");
  evaluate_command->add_option("model", model_path, "a run's model.safetensors, or its folder")
      ->required();
  evaluate_command->add_option("data", data_path, "CSV file with inputs and targets")->required();
  evaluate_command->add_option("--skip-rows", skip_rows, "lines to skip before the header");
  evaluate_command->add_flag("--json", print_json, "print the metrics as JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (!rank_zero) return error.get_exit_code() == 0 ? 0 : 2;
    if (error.get_exit_code() == 0) return app.exit(error);  // --help
    std::cerr << "ember: " << error.what() << " (see ember --help)\n";
    return 2;
  }

  try {
    if (!*train_command && !rank_zero) return 0;
    if (*demo_command) return apps::run_demo(demo);
    if (*train_command) {
      for (const std::string& target : targets) run.targets.push_back(train::parse_target(target));
      run.scale = !no_scale;
      run.progress = !quiet && !print_json;
      run.group = processes;
      if (run.method == "snapshot") {
        // Snapshot ensembles run one cycle of equal length per member to its end: where the
        // user left them, no early stopping and the epochs a multiple of the members.
        if (patience_option->count() == 0) run.patience = 0;
        if (epochs_option->count() == 0)
          run.epochs = train::snapshot_epochs(run.epochs, run.ensemble);
      }
      const train::RunReport report = train::train_run(run);
      for (const std::string& note : report.notes) std::cerr << "ember: note: " << note << '\n';
      if (!rank_zero) return 0;
      if (print_json) {
        std::cout << report.metrics_json << '\n';
      } else if (!quiet) {
        std::cout << "trained " << trained(report, run.method) << " on " << report.train_rows
                  << " rows in " << format_value(report.seconds) << " s; test metrics on "
                  << report.test_rows << " rows:\n";
        print_metrics(report.test_metrics);
        std::cout << "run folder: " << run.out_dir << '\n';
      }
      if (report.interrupted()) return 130;  // as a shell reports a Ctrl-C
    } else {
      train::SavedModel model = train::load_model(model_path);
      const data::CsvTable table = data::read_csv(data_path, {.skip_rows = skip_rows});
      const Tensor x = columns_of(table, model.feature_names, data_path);
      const std::vector<train::TaskPrediction> predictions = train::predict(model, x);
      if (*predict_command) {
        if (output_path.empty()) {
          write_predictions(std::cout, model, predictions);
        } else {
          std::ofstream file(output_path);
          write_predictions(file, model, predictions);
          if (!file.flush()) throw Error("cannot write " + output_path);
        }
      } else {
        train::TaskMetrics metrics;
        const auto& tasks = model.spec.tasks;
        for (size_t t = 0; t < tasks.size(); ++t) {
          const Tensor target = columns_of(table, {tasks[t].name}, data_path).reshape({-1});
          metrics[tasks[t].name] = train::task_metrics(tasks[t], target, predictions[t]);
        }
        if (print_json) {
          std::cout << train::to_json(metrics) << '\n';
        } else {
          print_metrics(metrics);
        }
      }
    }
  } catch (const std::exception& error) {
#ifdef EMBER_WITH_MPI
    // The other processes may be waiting for this one in a collective: end them all.
    if (mpi && mpi->world().size() > 1) mpi->world().abort_job(error.what());
#endif
    std::cerr << "ember: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
