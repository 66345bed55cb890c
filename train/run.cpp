#include <ember/core/autograd.h>
#include <ember/core/io/safetensors.h>
#include <ember/core/ops.h>
#include <ember/core/random.h>
#include <ember/core/threads.h>
#include <ember/error.h>
#include <ember/nn/dataset.h>
#include <ember/optim/adam.h>
#include <ember/optim/sgd.h>
#include <ember/train/metrics.h>
#include <ember/train/progress.h>
#include <ember/train/run.h>
#include <ember/train/run_logger.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>

namespace ember::train {

namespace fs = std::filesystem;
using json = nlohmann::json;
using models::Task;
using models::TaskType;

namespace {

const char* kModelFormat = "ember multitask model 1";

std::unique_ptr<optim::Optimizer> make_optimizer(const RunOptions& options,
                                                 const std::vector<Tensor>& params) {
  if (options.optimizer == "sgd") {
    return std::make_unique<optim::SGD>(
        params, optim::SGDOptions{.lr = options.lr, .weight_decay = options.weight_decay});
  }
  if (options.optimizer == "adam") {
    return std::make_unique<optim::Adam>(
        params, optim::AdamOptions{.lr = options.lr, .weight_decay = options.weight_decay});
  }
  if (options.optimizer == "adamw") {
    return std::make_unique<optim::AdamW>(
        params, optim::AdamWOptions{.lr = options.lr, .weight_decay = options.weight_decay});
  }
  throw Error("unknown optimizer \"" + options.optimizer + "\" (sgd, adam or adamw)");
}

json task_json(const Task& task) {
  return {{"name", task.name}, {"type", models::to_string(task.type)}, {"classes", task.classes}};
}

Task task_from_json(const json& value) {
  const std::string type = value.at("type").get<std::string>();
  const std::string name = value.at("name").get<std::string>();
  if (type == "regression") return models::regression(name);
  if (type == "binary") return models::binary(name);
  if (type == "multiclass") return models::multiclass(name, value.at("classes").get<int64_t>());
  throw Error("unknown task type \"" + type + "\"");
}

// The Trainer's layout: the inputs, then one target per task.
data::TensorDataset dataset_of(const Tensor& x, const std::vector<Tensor>& targets) {
  std::vector<Tensor> tensors{x};
  tensors.insert(tensors.end(), targets.begin(), targets.end());
  return data::TensorDataset(tensors);
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream file(path);
  file << text << '\n';
  if (!file.flush()) throw Error("cannot write " + path.string());
}

// The first classification target's labels, to stratify splits on; undefined if none.
Tensor stratify_labels(const std::vector<Task>& tasks, const std::vector<Tensor>& targets) {
  for (size_t t = 0; t < tasks.size(); ++t) {
    if (tasks[t].type != TaskType::regression) return targets[t];
  }
  return Tensor();
}

std::pair<std::vector<Tensor>, std::vector<Tensor>> split(const std::vector<Tensor>& tensors,
                                                          float fraction, const Tensor& labels) {
  return labels.defined() ? data::train_test_split(tensors, fraction, next_seed(), labels)
                          : data::train_test_split(tensors, fraction, next_seed());
}

}  // namespace

std::map<std::string, double> task_metrics(const Task& task, const Tensor& target,
                                           const Tensor& prediction) {
  if (task.type == TaskType::regression) {
    return {{"rmse", rmse(target, prediction)},
            {"mae", mae(target, prediction)},
            {"r2", r2_score(target, prediction)}};
  }
  const Tensor predicted =
      task.type == TaskType::binary ? prediction > 0.5f : max(prediction, 1).indices;
  std::map<std::string, double> metrics{{"accuracy", accuracy(target, predicted)},
                                        {"log_loss", log_loss(target, prediction)},
                                        {"brier", brier_score(target, prediction)},
                                        {"ece", expected_calibration_error(target, prediction)}};
  if (task.type == TaskType::binary) {
    metrics["f1"] = precision_recall_f1(target, predicted, 2).f1[1];  // of the positive class
    metrics["roc_auc"] = roc_auc(target, prediction);
  } else {
    metrics["f1_macro"] = f1_score(target, predicted, task.classes, Average::Macro);
    metrics["f1_micro"] = f1_score(target, predicted, task.classes, Average::Micro);
  }
  return metrics;
}

std::string to_json(const TaskMetrics& metrics) { return json(metrics).dump(2); }

std::vector<Tensor> predict(SavedModel& model, const Tensor& x) {
  NoGradGuard no_grad;
  model.net.eval();
  const Tensor inputs = model.input_scaler.is_fitted() ? model.input_scaler.transform(x) : x;
  const std::vector<Tensor> outputs = model.net.forward(inputs);
  std::vector<Tensor> predictions;
  for (size_t t = 0; t < outputs.size(); ++t) {
    const Task& task = model.net.config().tasks[t];
    const data::StandardScaler& scaler = model.target_scalers[t];
    if (task.type == TaskType::multiclass) {
      predictions.push_back(softmax(outputs[t], 1));
    } else if (task.type == TaskType::binary) {
      predictions.push_back(sigmoid(outputs[t]).reshape({-1}));
    } else {
      predictions.push_back(
          (scaler.is_fitted() ? scaler.inverse_transform(outputs[t]) : outputs[t]).reshape({-1}));
    }
  }
  return predictions;
}

void save_model(const std::string& path, const SavedModel& model) {
  const models::MultiTaskNetConfig& config = model.net.config();
  json tasks = json::array();
  for (const Task& task : config.tasks) tasks.push_back(task_json(task));
  const json description = {{"format", kModelFormat},         {"inputs", config.inputs},
                            {"hidden", config.hidden},        {"activation", config.activation},
                            {"dropout", config.dropout},      {"tasks", tasks},
                            {"features", model.feature_names}};
  nn::NamedTensors tensors = model.net.state_dict();
  const auto add_scaler = [&](const std::string& name, const data::StandardScaler& scaler) {
    if (!scaler.is_fitted()) return;
    tensors.emplace_back("scaler." + name + ".mean", scaler.mean());
    tensors.emplace_back("scaler." + name + ".scale", scaler.scale());
  };
  add_scaler("input", model.input_scaler);
  for (size_t t = 0; t < config.tasks.size(); ++t) {
    add_scaler("task." + config.tasks[t].name, model.target_scalers[t]);
  }
  save_safetensors(path, tensors, {{"ember_model", description.dump()}});
}

SavedModel load_model(const std::string& path) {
  const SafetensorsFile file = load_safetensors(path);
  const auto found = file.metadata.find("ember_model");
  if (found == file.metadata.end()) {
    throw Error(path + ": not an ember model (no \"ember_model\" metadata)");
  }
  models::MultiTaskNetConfig config;
  std::vector<std::string> features;
  try {
    const json description = json::parse(found->second);
    if (description.at("format") != kModelFormat) throw Error("unknown format");
    config.inputs = description.at("inputs").get<int64_t>();
    config.hidden = description.at("hidden").get<std::vector<int64_t>>();
    config.activation = description.at("activation").get<std::string>();
    config.dropout = description.at("dropout").get<float>();
    for (const json& task : description.at("tasks")) config.tasks.push_back(task_from_json(task));
    features = description.at("features").get<std::vector<std::string>>();
  } catch (const std::exception& error) {
    throw Error(path + ": the \"ember_model\" metadata is not a model description (" +
                error.what() + ")");
  }
  SavedModel model{models::MultiTaskNet(config), features, data::StandardScaler(), {}};
  nn::NamedTensors weights;
  const auto scaler_of = [&](const std::string& name) {
    const std::string mean = "scaler." + name + ".mean", scale = "scaler." + name + ".scale";
    if (!file.contains(mean)) return data::StandardScaler();
    return data::StandardScaler(file.at(mean), file.at(scale));
  };
  for (const auto& [name, tensor] : file.tensors) {
    if (name.rfind("scaler.", 0) != 0) weights.emplace_back(name, tensor);
  }
  model.net.load_state_dict(weights);
  model.input_scaler = scaler_of("input");
  for (const Task& task : config.tasks)
    model.target_scalers.push_back(scaler_of("task." + task.name));
  return model;
}

RunReport train_run(const RunOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (options.out_dir.empty()) throw Error("train_run: no output folder given");
  if (options.threads != 0) set_num_threads(options.threads);
  manual_seed(options.seed);
  const Table table =
      load_table(options.data_path, options.targets, options.features, options.skip_rows);

  // Held-out test rows first, then validation rows from the rest (counted as
  // train_test_split counts them), none of them empty.
  const int64_t rows = table.x.size(0);
  const auto share = [](float fraction, int64_t n) {
    return static_cast<int64_t>(std::ceil(fraction * static_cast<float>(n)));
  };
  const int64_t test_rows = share(options.test_fraction, rows);
  const int64_t validation_rows = share(options.validation_fraction, rows - test_rows);
  if (rows - test_rows - validation_rows < 1) {
    throw Error(options.data_path + ": " + std::to_string(rows) +
                " rows leave none for training after " + std::to_string(test_rows) + " test and " +
                std::to_string(validation_rows) + " validation rows (--test-fraction " +
                std::to_string(options.test_fraction) + ", --val-fraction " +
                std::to_string(options.validation_fraction) + ")");
  }
  std::vector<Tensor> all{table.x};
  all.insert(all.end(), table.targets.begin(), table.targets.end());
  auto [rest, test] =
      split(all, options.test_fraction, stratify_labels(table.tasks, table.targets));
  std::vector<Tensor> rest_targets(rest.begin() + 1, rest.end());
  auto [train_part, validation_part] =
      split(rest, options.validation_fraction, stratify_labels(table.tasks, rest_targets));

  SavedModel model{models::MultiTaskNet({.inputs = table.x.size(1),
                                         .hidden = options.hidden,
                                         .activation = options.activation,
                                         .dropout = options.dropout,
                                         .tasks = table.tasks}),
                   table.feature_names, data::StandardScaler(),
                   std::vector<data::StandardScaler>(table.tasks.size())};
  // Scalers see the training rows only, so nothing of the validation or test rows leaks.
  if (options.scale) {
    model.input_scaler.fit(train_part[0]);
    for (size_t t = 0; t < table.tasks.size(); ++t) {
      if (table.tasks[t].type != TaskType::regression) continue;
      model.target_scalers[t].fit(train_part[t + 1].reshape({-1, 1}));
    }
  }
  const auto scaled = [&](const std::vector<Tensor>& part) {
    std::vector<Tensor> targets;
    for (size_t t = 0; t < table.tasks.size(); ++t) {
      const data::StandardScaler& scaler = model.target_scalers[t];
      const Tensor& y = part[t + 1];
      targets.push_back(scaler.is_fitted() ? scaler.transform(y.reshape({-1, 1})).reshape({-1})
                                           : y);
    }
    const Tensor x =
        model.input_scaler.is_fitted() ? model.input_scaler.transform(part[0]) : part[0];
    return dataset_of(x, targets);
  };
  const data::TensorDataset train_set = scaled(train_part),
                            validation_set = scaled(validation_part);

  fs::create_directories(options.out_dir);
  const std::unique_ptr<optim::Optimizer> optimizer =
      make_optimizer(options, model.net.parameters());
  Trainer trainer(model.net, table.tasks, *optimizer,
                  {.epochs = options.epochs,
                   .batch_size = options.batch_size,
                   .patience = options.patience,
                   .checkpoint_dir = (fs::path(options.out_dir) / "checkpoint").string()});
  const fs::path checkpoint = fs::path(options.out_dir) / "checkpoint";
  if (options.resume && (fs::exists(checkpoint) || fs::exists(checkpoint.string() + ".old"))) {
    trainer.resume();
    trainer.add_callback(std::make_shared<RunLogger>(options.out_dir, trainer.epochs_done()));
  } else {
    trainer.add_callback(std::make_shared<RunLogger>(options.out_dir));
  }
  if (options.progress) {
    const int64_t batches = (train_set.size() + options.batch_size - 1) / options.batch_size;
    trainer.add_callback(std::make_shared<ProgressBar>(options.epochs, batches));
  }

  RunReport report;
  report.train_rows = train_set.size();
  report.validation_rows = validation_set.size();
  report.test_rows = test[0].size(0);
  report.history = trainer.fit(train_set, &validation_set);

  const std::vector<Tensor> predictions = predict(model, test[0]);
  for (size_t t = 0; t < table.tasks.size(); ++t) {
    const Task& task = table.tasks[t];
    report.test_metrics[task.name] = task_metrics(task, test[t + 1], predictions[t]);
  }
  json metrics = {{"tasks", report.test_metrics}};
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.epochs = trainer.epochs_done();
  metrics["epochs"] = report.epochs;
  metrics["best_epoch"] = report.history.best_epoch + 1;
  metrics["stopped_early"] = report.history.stopped_early;
  metrics["interrupted"] = report.history.interrupted;
  metrics["rows"] = {{"train", report.train_rows},
                     {"validation", report.validation_rows},
                     {"test", report.test_rows}};
  metrics["seconds"] = report.seconds;
  report.metrics_json = metrics.dump(2);

  json targets = json::array();
  for (const Task& task : table.tasks) targets.push_back(task_json(task));
  const json config = {{"data", options.data_path},
                       {"targets", targets},
                       {"features", table.feature_names},
                       {"hidden", options.hidden},
                       {"activation", options.activation},
                       {"dropout", options.dropout},
                       {"optimizer", options.optimizer},
                       {"lr", options.lr},
                       {"weight_decay", options.weight_decay},
                       {"epochs", options.epochs},
                       {"batch_size", options.batch_size},
                       {"patience", options.patience},
                       {"test_fraction", options.test_fraction},
                       {"validation_fraction", options.validation_fraction},
                       {"scale", options.scale},
                       {"seed", options.seed}};
  save_model((fs::path(options.out_dir) / "model.safetensors").string(), model);
  write_text(fs::path(options.out_dir) / "config.json", config.dump(2));
  write_text(fs::path(options.out_dir) / "metrics.json", report.metrics_json);
  return report;
}

}  // namespace ember::train
