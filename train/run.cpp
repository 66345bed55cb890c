#include <ember/core/autograd.h>
#include <ember/core/io/safetensors.h>
#include <ember/core/ops.h>
#include <ember/core/random.h>
#include <ember/core/threads.h>
#include <ember/error.h>
#include <ember/models/ensemble/calibration.h>
#include <ember/models/ensemble/combine.h>
#include <ember/models/multitask/balancer.h>
#include <ember/models/multitask/mmoe.h>
#include <ember/models/multitask/ple.h>
#include <ember/models/multitask/weighting.h>
#include <ember/models/multitask_net.h>
#include <ember/nn/dataset.h>
#include <ember/optim/adam.h>
#include <ember/optim/sgd.h>
#include <ember/train/ensemble.h>
#include <ember/train/metrics.h>
#include <ember/train/progress.h>
#include <ember/train/run.h>
#include <ember/train/run_logger.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>

namespace ember::train {

namespace fs = std::filesystem;
using json = nlohmann::json;
using models::Task;
using models::TaskType;

namespace {

const char* kModelFormat = "ember model 2";

std::unique_ptr<optim::Optimizer> make_optimizer(const RunOptions& options,
                                                 std::vector<Tensor> params) {
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

bool is_classification(const Task& task) {
  return task.type == TaskType::binary || task.type == TaskType::multiclass;
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
  if (type == "gaussian") return models::gaussian(name);
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

// For --resume: throws Error unless `config` (this call's options, as config.json holds them)
// matches the run's own config.json in all but what a resumed run may change: more or fewer
// epochs (not for snapshot, whose cycles they set), --calibrate (fitted after training) and
// the data file's path (the same data may be reached by another path).
void check_resumable(const fs::path& path, const json& config) {
  std::ifstream file(path);
  const json before = json::parse(file, nullptr, /*allow_exceptions=*/false);
  if (!before.is_object())
    throw Error("--resume: " + path.string() + " is not a run's configuration");
  // config.json's names that differ from the command's flags.
  const std::map<std::string, std::string> flags = {{"targets", "--target"},
                                                    {"scale", "scaling (--no-scale)"},
                                                    {"validation_fraction", "--val-fraction"},
                                                    {"batch_size", "--batch-size"},
                                                    {"test_fraction", "--test-fraction"},
                                                    {"weight_decay", "--weight-decay"}};
  const bool snapshot = config.at("method") == "snapshot";
  for (const auto& [key, value] : config.items()) {
    if (key == "calibrate" || key == "data" || (key == "epochs" && !snapshot) ||
        !before.contains(key) || before.at(key) == value)
      continue;
    const auto flag = flags.find(key);
    throw Error("--resume: the run in " + path.parent_path().string() + " was started with " +
                (flag != flags.end() ? flag->second : "--" + key) + " " + before.at(key).dump() +
                ", and this command gives " + value.dump() +
                "; resume with the run's own options (" + path.string() + ")");
  }
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

models::Ensemble build_members(const ModelSpec& spec) {
  const auto network = [&](models::Ensemble& ensemble) {
    if (spec.architecture == "mlp") {
      ensemble.add(models::MultiTaskNet({.inputs = spec.inputs,
                                         .hidden = spec.hidden,
                                         .activation = spec.activation,
                                         .dropout = spec.dropout,
                                         .tasks = spec.tasks}));
    } else if (spec.architecture == "mmoe") {
      ensemble.add(models::MMoE({.inputs = spec.inputs,
                                 .experts = spec.experts,
                                 .expert_hidden = spec.hidden,
                                 .activation = spec.activation,
                                 .dropout = spec.dropout,
                                 .tasks = spec.tasks}));
    } else if (spec.architecture == "ple") {
      ensemble.add(models::PLE({.inputs = spec.inputs,
                                .shared_experts = spec.experts,
                                .expert_hidden = spec.hidden,
                                .activation = spec.activation,
                                .dropout = spec.dropout,
                                .tasks = spec.tasks}));
    } else {
      throw Error("unknown model \"" + spec.architecture + "\" (mlp, mmoe or ple)");
    }
  };
  if (spec.members < 1)
    throw Error("an ensemble needs at least 1 member, got " + std::to_string(spec.members));
  models::Ensemble ensemble;
  if (spec.method == "batch_ensemble") {
    if (spec.architecture != "mlp")
      throw Error("--method batch_ensemble builds MLPs (--model mlp), not " + spec.architecture);
    ensemble.add(models::BatchEnsembleNet(spec.members, {.inputs = spec.inputs,
                                                         .hidden = spec.hidden,
                                                         .activation = spec.activation,
                                                         .dropout = spec.dropout,
                                                         .tasks = spec.tasks}));
    return ensemble;
  }
  for (int64_t k = 0; k < spec.members; ++k) network(ensemble);
  return ensemble;
}

std::vector<Tensor> shared_parameters(const nn::Module& network) {
  if (const auto* mlp = dynamic_cast<const models::MultiTaskNet*>(&network))
    return mlp->shared_parameters();
  if (const auto* mmoe = dynamic_cast<const models::MMoE*>(&network))
    return mmoe->shared_parameters();
  if (const auto* ple = dynamic_cast<const models::PLE*>(&network)) return ple->shared_parameters();
  throw Error("shared_parameters: a " + network.type_name() + " is not a run's network");
}

// A metric these targets leave undefined (see task_metrics).
constexpr double kUndefined = std::numeric_limits<double>::quiet_NaN();

std::map<std::string, double> task_metrics(const Task& task, const Tensor& target,
                                           const TaskPrediction& prediction) {
  const Tensor& value = prediction.value;
  const int64_t rows = target.numel();
  if (task.type == TaskType::regression || task.type == TaskType::gaussian) {
    std::map<std::string, double> metrics{{"rmse", rmse(target, value)},
                                          {"mae", mae(target, value)},
                                          {"r2", rows >= 2 ? r2_score(target, value) : kUndefined}};
    if (prediction.std.defined()) {
      const Tensor variance = prediction.std * prediction.std;
      metrics["gaussian_nll"] = gaussian_nll(target, value, variance);
      metrics["coverage_95"] = interval_coverage_95(target, value, variance);
    }
    return metrics;
  }
  const Tensor predicted = task.type == TaskType::binary ? value > 0.5f : max(value, 1).indices;
  std::map<std::string, double> metrics{{"accuracy", accuracy(target, predicted)},
                                        {"log_loss", log_loss(target, value)},
                                        {"brier", brier_score(target, value)},
                                        {"ece", expected_calibration_error(target, value)}};
  if (task.type == TaskType::binary) {
    metrics["f1"] = precision_recall_f1(target, predicted, 2).f1[1];  // of the positive class
    const int64_t positives = rows == 0 ? 0 : int64_t(sum(target).item());
    metrics["roc_auc"] = positives > 0 && positives < rows ? roc_auc(target, value) : kUndefined;
  } else {
    metrics["f1_macro"] = f1_score(target, predicted, task.classes, Average::Macro);
    metrics["f1_micro"] = f1_score(target, predicted, task.classes, Average::Micro);
  }
  return metrics;
}

std::string to_json(const TaskMetrics& metrics) { return json(metrics).dump(2); }

namespace {

// Raw inputs x [N, F] in the model's units: standardised when the run scaled its inputs.
Tensor scaled_inputs(const SavedModel& model, const Tensor& x) {
  return model.input_scaler.is_fitted() ? model.input_scaler.transform(x) : x;
}

// Each member's raw outputs for the model's (scaled) inputs, stacked per task: [K, N, ...].
// MC dropout stacks its samples instead; a BatchEnsembleNet's outputs are stacked already.
std::vector<Tensor> stacked_outputs(SavedModel& model, const Tensor& inputs) {
  if (model.spec.method == "mc_dropout") {
    return mc_dropout_samples(model.members.member(0), models::Forward([&](const Tensor& x) {
                                return model.members.member_outputs(0, x);
                              }),
                              inputs, model.spec.samples);
  }
  if (model.spec.method == "batch_ensemble") return model.members.member_outputs(0, inputs);
  return model.members.stacked_outputs(inputs);
}

// Per task, the raw outputs [K, N, ...] that predict() combines, for the model's (scaled)
// inputs: the members' (MC dropout: the samples'), or one combined output [1, N, ...] where
// the method combines before predicting (gradient boosting, fusion).
std::vector<Tensor> outputs_to_combine(SavedModel& model, const Tensor& inputs) {
  NoGradGuard no_grad;
  model.members.eval();
  if (model.spec.method == "gradient_boosting") {
    std::vector<Tensor> stacked;
    for (const Tensor& sum : boosted_outputs(model.members, inputs, model.spec.shrinkage))
      stacked.push_back(unsqueeze(sum, 0));
    return stacked;
  }
  std::vector<Tensor> stacked = stacked_outputs(model, inputs);
  // Fused members were trained as one model whose output is their mean (logits too).
  if (model.spec.method == "fusion") {
    for (Tensor& members : stacked) members = unsqueeze(models::average(members), 0);
  }
  return stacked;
}

// One task's prediction from stacked raw outputs [K, N, ...] in the model's units, then in
// the target's. A classification task's probabilities are temperature-scaled unless T = 1.
TaskPrediction combined(const Task& task, const data::StandardScaler& scaler, const Tensor& stacked,
                        bool spread, double temperature = 1.0) {
  TaskPrediction prediction;
  const auto unscale = [&](const Tensor& value) {
    return (scaler.is_fitted() ? scaler.inverse_transform(value.reshape({-1, 1})) : value)
        .reshape({-1});
  };
  const auto unscale_std = [&](const Tensor& std) {
    return (scaler.is_fitted() ? std * scaler.scale().reshape({1}) : std).reshape({-1});
  };
  if (task.type == TaskType::gaussian) {
    const models::MeanVariance mixture = gaussian_mixture(stacked);
    prediction.value = unscale(mixture.mean);
    prediction.std = unscale_std(sqrt(mixture.variance));
  } else if (task.type == TaskType::regression) {
    prediction.value = unscale(models::average(stacked));
    if (spread) prediction.std = unscale_std(sqrt(models::member_variance(stacked)));
  } else {
    if (temperature == 1.0) {
      prediction.value = models::soft_vote(stacked);
    } else {
      const Tensor logits = models::soft_vote_logits(stacked) / static_cast<float>(temperature);
      prediction.value = task.type == TaskType::binary ? sigmoid(logits) : softmax(logits, -1);
    }
    if (task.type == TaskType::binary) prediction.value = prediction.value.reshape({-1});
    if (spread) {
      prediction.entropy = models::predictive_entropy(stacked);
      prediction.mutual_information = models::mutual_information(stacked);
    }
  }
  return prediction;
}

}  // namespace

std::vector<TaskPrediction> predict(SavedModel& model, const Tensor& x) {
  NoGradGuard no_grad;
  const Tensor inputs = scaled_inputs(model, x);
  const std::vector<Task>& tasks = model.spec.tasks;
  const std::vector<Tensor> stacked = outputs_to_combine(model, inputs);
  const bool spread = stacked.front().size(0) > 1;
  const std::vector<double>& temperatures = model.spec.temperatures;
  std::vector<TaskPrediction> predictions;
  for (size_t t = 0; t < tasks.size(); ++t) {
    predictions.push_back(combined(tasks[t], model.target_scalers[t], stacked[t], spread,
                                   temperatures.empty() ? 1.0 : temperatures[t]));
  }
  return predictions;
}

std::vector<std::vector<TaskPrediction>> predict_members(SavedModel& model, const Tensor& x) {
  if (model.spec.method == "gradient_boosting" || model.spec.method == "mc_dropout") return {};
  NoGradGuard no_grad;
  model.members.eval();
  const std::vector<Tensor> stacked =
      stacked_outputs(model, scaled_inputs(model, x));  // per task [K, N, ...]
  std::vector<std::vector<TaskPrediction>> members;
  for (int64_t k = 0; k < stacked.front().size(0); ++k) {
    std::vector<TaskPrediction> predictions;
    for (size_t t = 0; t < stacked.size(); ++t) {
      predictions.push_back(combined(model.spec.tasks[t], model.target_scalers[t],
                                     narrow(stacked[t], 0, k, 1), false));
    }
    members.push_back(std::move(predictions));
  }
  return members;
}

namespace {

json spec_json(const ModelSpec& spec) {
  json tasks = json::array();
  for (const Task& task : spec.tasks) tasks.push_back(task_json(task));
  return {{"architecture", spec.architecture},
          {"inputs", spec.inputs},
          {"hidden", spec.hidden},
          {"experts", spec.experts},
          {"activation", spec.activation},
          {"dropout", spec.dropout},
          {"tasks", tasks},
          {"members", spec.members},
          {"method", spec.method},
          {"samples", spec.samples},
          {"shrinkage", spec.shrinkage},
          {"temperatures", spec.temperatures}};
}

ModelSpec spec_from_json(const json& description) {
  ModelSpec spec;
  spec.architecture = description.at("architecture").get<std::string>();
  spec.inputs = description.at("inputs").get<int64_t>();
  spec.hidden = description.at("hidden").get<std::vector<int64_t>>();
  spec.experts = description.at("experts").get<int64_t>();
  spec.activation = description.at("activation").get<std::string>();
  spec.dropout = description.at("dropout").get<float>();
  for (const json& task : description.at("tasks")) spec.tasks.push_back(task_from_json(task));
  spec.members = description.at("members").get<int64_t>();
  spec.method = description.at("method").get<std::string>();
  spec.samples = description.at("samples").get<int64_t>();
  spec.shrinkage = description.at("shrinkage").get<double>();
  // Files written before calibration existed have no temperatures.
  spec.temperatures = description.value("temperatures", std::vector<double>{});
  if (!spec.temperatures.empty() && spec.temperatures.size() != spec.tasks.size()) {
    throw Error(std::to_string(spec.temperatures.size()) + " temperatures for " +
                std::to_string(spec.tasks.size()) + " tasks");
  }
  for (const double temperature : spec.temperatures) {
    if (!(temperature > 0)) throw Error("a temperature of " + std::to_string(temperature));
  }
  return spec;
}

}  // namespace

void save_model(const std::string& path, const SavedModel& model) {
  json description = spec_json(model.spec);
  description["format"] = kModelFormat;
  description["features"] = model.feature_names;
  nn::NamedTensors tensors = model.members.state_dict();
  const auto add_scaler = [&](const std::string& name, const data::StandardScaler& scaler) {
    if (!scaler.is_fitted()) return;
    tensors.emplace_back("scaler." + name + ".mean", scaler.mean());
    tensors.emplace_back("scaler." + name + ".scale", scaler.scale());
  };
  add_scaler("input", model.input_scaler);
  for (size_t t = 0; t < model.spec.tasks.size(); ++t)
    add_scaler("task." + model.spec.tasks[t].name, model.target_scalers[t]);
  save_safetensors(path, tensors, {{"ember_model", description.dump()}});
}

SavedModel load_model(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    // A run's folder stands for the model it saved.
    const std::filesystem::path model = std::filesystem::path(path) / "model.safetensors";
    if (!std::filesystem::exists(model, error)) {
      throw Error(path + ": a folder with no model.safetensors in it (give a run's folder or " +
                  "its model.safetensors)");
    }
    return load_model(model.string());
  }
  SafetensorsFile file;
  try {
    file = load_safetensors(path);
  } catch (const Error& unreadable) {
    // A file that cannot be opened says why as it is; one that opens but does not parse is the
    // wrong file (a run's config.json, a CSV), which the reason alone does not say.
    if (!std::ifstream(path)) throw;
    throw Error(path + ": not a model saved by ember (" + unreadable.what() + ")");
  }
  const auto found = file.metadata.find("ember_model");
  if (found == file.metadata.end()) {
    throw Error(path + ": not an ember model (no \"ember_model\" metadata)");
  }
  ModelSpec spec;
  std::vector<std::string> features;
  try {
    const json description = json::parse(found->second);
    if (description.at("format") != kModelFormat) {
      throw Error("format \"" + description.at("format").get<std::string>() + "\", not \"" +
                  kModelFormat + "\"");
    }
    spec = spec_from_json(description);
    features = description.at("features").get<std::vector<std::string>>();
  } catch (const std::exception& error) {
    throw Error(path + ": the \"ember_model\" metadata is not a model description (" +
                error.what() + ")");
  }
  SavedModel model{spec, build_members(spec), features, data::StandardScaler(), {}};
  nn::NamedTensors weights;
  const auto scaler_of = [&](const std::string& name) {
    const std::string mean = "scaler." + name + ".mean", scale = "scaler." + name + ".scale";
    if (!file.contains(mean)) return data::StandardScaler();
    return data::StandardScaler(file.at(mean), file.at(scale));
  };
  for (const auto& [name, tensor] : file.tensors) {
    if (name.rfind("scaler.", 0) != 0) weights.emplace_back(name, tensor);
  }
  model.members.load_state_dict(weights);
  model.input_scaler = scaler_of("input");
  for (const Task& task : spec.tasks)
    model.target_scalers.push_back(scaler_of("task." + task.name));
  return model;
}

int64_t snapshot_epochs(int64_t epochs, int64_t members) {
  return std::max(members, epochs / members * members);
}

bool RunReport::interrupted() const {
  return std::any_of(runs.begin(), runs.end(), [](const History& run) { return run.interrupted; });
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
  const int64_t test_rows = data::rows_of_fraction(options.test_fraction, rows);
  const int64_t validation_rows =
      data::rows_of_fraction(options.validation_fraction, rows - test_rows);
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

  ModelSpec spec{.architecture = options.model,
                 .inputs = table.x.size(1),
                 .hidden = options.hidden,
                 .experts = options.experts,
                 .activation = options.activation,
                 .dropout = options.dropout,
                 .tasks = table.tasks,
                 .members = options.ensemble,
                 .method = options.method};
  if (spec.members > 1 && spec.method.empty()) spec.method = "voting";
  if (spec.method == "deep_ensemble") {
    for (Task& task : spec.tasks)
      if (task.type == TaskType::regression) task = models::gaussian(task.name);
  }
  if (spec.method == "mc_dropout") {
    if (options.dropout <= 0.f) throw Error("--method mc_dropout needs --dropout above 0");
    spec.samples = spec.members;
    spec.members = 1;
  } else if (!spec.method.empty() && spec.method != "batch_ensemble") {
    try {
      ensemble_method(spec.method);
    } catch (const Error&) {
      throw Error("unknown --method \"" + spec.method +
                  "\" (voting, bagging, fusion, snapshot, gradient_boosting, deep_ensemble, "
                  "mc_dropout or batch_ensemble)");
    }
  }
  // Members trained by fit_ensemble; MC dropout and BatchEnsemble train one network.
  const bool batch_ensemble = spec.method == "batch_ensemble";
  const bool ensemble = !spec.method.empty() && spec.method != "mc_dropout" && !batch_ensemble;
  const bool snapshot = spec.method == "snapshot";
  if (snapshot) {
    // One cosine cycle of equal length per member, each run to its end (fit_ensemble).
    const int64_t cycles = spec.members;
    if (options.epochs < cycles || options.epochs % cycles != 0) {
      const int64_t below = options.epochs / cycles * cycles;
      throw Error("--method snapshot trains one cycle of equal length per member: --epochs " +
                  std::to_string(options.epochs) + " is not a positive multiple of --ensemble " +
                  std::to_string(cycles) + " (try " +
                  (below >= cycles ? std::to_string(below) + " or " + std::to_string(below + cycles)
                                   : std::to_string(cycles)) +
                  ")");
    }
    if (options.patience > 0) {
      throw Error("--method snapshot runs every cycle to its end: early stopping (--patience " +
                  std::to_string(options.patience) + ") would cut one short; pass --patience 0");
    }
  }
  if (options.adversarial && spec.method != "deep_ensemble")
    throw Error("--adversarial goes with --method deep_ensemble");
  if (options.calibrate && std::none_of(spec.tasks.begin(), spec.tasks.end(), is_classification))
    throw Error("--calibrate fits a temperature per classification target, and there is none");
  if ((ensemble || batch_ensemble) && options.weighting != "equal") {
    throw Error("--weighting " + options.weighting +
                " balances the tasks of one network; ensemble members train with equal weighting");
  }
  SavedModel model{spec, build_members(spec), table.feature_names, data::StandardScaler(),
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
    return dataset_of(scaled_inputs(model, part[0]), targets);
  };
  const data::TensorDataset train_set = scaled(train_part),
                            validation_set = scaled(validation_part);

  const bool rank_zero = !options.group || options.group->rank() == 0;
  std::error_code folder_error;  // another process may be creating it at the same time
  fs::create_directories(options.out_dir, folder_error);
  if (!fs::is_directory(options.out_dir))
    throw Error("cannot create the run folder " + options.out_dir + ": " + folder_error.message());
  // Written before training, so that a run stopped at any point can be resumed only with the
  // options it was started with.
  json targets = json::array();
  for (const Task& task : table.tasks) targets.push_back(task_json(task));
  const json config = {{"data", options.data_path},
                       {"targets", targets},
                       {"features", table.feature_names},
                       {"model", options.model},
                       {"hidden", options.hidden},
                       {"experts", options.experts},
                       {"activation", options.activation},
                       {"dropout", options.dropout},
                       {"weighting", options.weighting},
                       {"ensemble", options.ensemble},
                       {"method", spec.method},
                       {"adversarial", options.adversarial},
                       {"calibrate", options.calibrate},
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
  const fs::path config_path = fs::path(options.out_dir) / "config.json";
  if (options.resume && fs::exists(config_path)) check_resumable(config_path, config);
  if (rank_zero) {
    // Replaced in one rename: the other processes of a --resume may be reading it.
    const fs::path written = config_path.string() + ".new";
    write_text(written, config.dump(2));
    fs::rename(written, config_path);
  }
  const TrainerOptions trainer_options{
      .epochs = options.epochs,
      .batch_size = options.batch_size,
      .patience = options.patience,
      .checkpoint_dir = (fs::path(options.out_dir) / "checkpoint").string()};
  const int64_t batches = (train_set.size() + options.batch_size - 1) / options.batch_size;
  // Logs (and resumes) one Trainer's run into `dir`. A data-parallel run is logged by rank
  // 0; an ensemble-parallel member's by the rank that trains it.
  const auto prepare = [&](Trainer& trainer, const fs::path& dir) {
    const fs::path checkpoint = trainer.options().checkpoint_dir;
    const bool resume =
        options.resume && (fs::exists(checkpoint) || fs::exists(checkpoint.string() + ".old"));
    if (resume) trainer.resume();
    if (trainer.process_group() && trainer.process_group()->rank() != 0) return;
    trainer.add_callback(resume ? std::make_shared<RunLogger>(dir.string(), trainer.epochs_done())
                                : std::make_shared<RunLogger>(dir.string()));
    if (options.progress && rank_zero)
      trainer.add_callback(std::make_shared<ProgressBar>(options.epochs, batches));
  };

  RunReport report;
  report.train_rows = train_set.size();
  report.validation_rows = validation_set.size();
  report.test_rows = test[0].size(0);
  std::vector<History> runs;
  std::unique_ptr<models::mtl::Balancer> balancer;
  if (ensemble) {
    EnsembleOptions ensemble_options{
        .method = ensemble_method(spec.method),
        .trainer = trainer_options,
        .optimizer = [&](std::vector<Tensor> params) { return make_optimizer(options, params); },
        .adversarial = options.adversarial,
        .prepare_run = [&](const std::string& run,
                           Trainer& trainer) { prepare(trainer, fs::path(options.out_dir) / run); },
        .group = options.group};
    const EnsembleHistory history =
        fit_ensemble(model.members, spec.tasks, ensemble_options, train_set, &validation_set);
    runs = history.runs;
  } else {
    nn::Module& network = model.members.member(0);
    std::vector<Tensor> parameters = network.parameters();
    if (!batch_ensemble) {
      balancer =
          models::mtl::make_balancer(options.weighting, shared_parameters(network), spec.tasks);
      for (const Tensor& p : balancer->parameters()) parameters.push_back(p);
    }
    const std::unique_ptr<optim::Optimizer> optimizer = make_optimizer(options, parameters);
    auto* batch_net = dynamic_cast<models::BatchEnsembleNet*>(&network);
    Trainer trainer(
        network,
        batch_ensemble ? batch_ensemble_forward(*batch_net) : Forward([&](const Tensor& x) {
          return model.members.member_outputs(0, x);
        }),
        spec.tasks, *optimizer, trainer_options);
    if (batch_ensemble) trainer.set_batch_loss(batch_ensemble_loss(*batch_net));
    trainer.set_balancer(balancer.get());
    trainer.set_process_group(options.group);
    prepare(trainer, options.out_dir);
    runs.push_back(trainer.fit(train_set, &validation_set));
    report.epochs = trainer.epochs_done();
  }
  report.runs = runs;
  double seconds = 0;
  int64_t epochs = 0;
  for (const History& run : runs) {
    for (const EpochResult& epoch : run.epochs) seconds += epoch.seconds;
    epochs += static_cast<int64_t>(run.epochs.size());
  }
  if (ensemble) report.epochs = epochs;
  report.seconds_per_epoch = epochs > 0 ? seconds / static_cast<double>(epochs) : 0;
  // Runs are named as their folders are: member_<k>, or cycle_<m> for snapshot.
  const auto run_name = [&](size_t k) {
    return (snapshot ? "cycle_" : "member_") + std::to_string(k);
  };
  const auto stopped =
      std::find_if(runs.begin(), runs.end(), [](const History& run) { return run.interrupted; });
  if (stopped != runs.end()) {
    const auto k = static_cast<size_t>(stopped - runs.begin());
    const bool run_by_run = ensemble && spec.method != "fusion";
    const std::string where =
        run_by_run
            ? "in " + run_name(k) + " of " + std::to_string(spec.members) +
                  (k + 1 < static_cast<size_t>(spec.members) ? ", before the runs after it" : "")
            : "after epoch " + std::to_string(report.epochs) + " of " +
                  std::to_string(options.epochs);
    report.notes.push_back("training was interrupted (Ctrl-C) " + where +
                           "; what was trained is scored and saved, and --resume with the same "
                           "options continues the run");
  }
  if (!rank_zero) return report;  // rank 0 holds the whole model and writes the results

  if (options.calibrate) {
    const auto shortest = [](double value) {
      std::ostringstream text;
      text << value;
      return text.str();
    };
    const std::vector<Tensor> stacked =
        outputs_to_combine(model, scaled_inputs(model, validation_part[0]));
    for (size_t t = 0; t < spec.tasks.size(); ++t) {
      double temperature = 1.0;
      if (is_classification(spec.tasks[t])) {
        const models::TemperatureFitOptions bounds;
        temperature = models::fit_temperature(models::soft_vote_logits(stacked[t]),
                                              validation_part[t + 1], bounds);
        // At the lower bound, the validation NLL kept falling as T fell (every row right with
        // a margin, as a small split of an easy task can be): no T is supported by the data,
        // and T -> 0 would make every later mistake cost without limit, so the head stays as
        // trained. (At the upper bound, near-uniform probabilities fit the split better than
        // any sharper ones: what the data asks for, at a bounded cost.)
        if (temperature <= bounds.min_temperature) {
          report.notes.push_back("--calibrate: task '" + spec.tasks[t].name +
                                 "': the validation NLL (" +
                                 std::to_string(report.validation_rows) +
                                 " rows) keeps falling as T falls to its bound " +
                                 shortest(bounds.min_temperature) + "; its temperature stays 1");
          temperature = 1.0;
        }
      }
      model.spec.temperatures.push_back(temperature);
    }
  }

  const std::vector<TaskPrediction> predictions = predict(model, test[0]);
  const std::vector<TaskPrediction> validation = predict(model, validation_part[0]);
  for (size_t t = 0; t < table.tasks.size(); ++t) {
    const Task& task = spec.tasks[t];
    report.test_metrics[task.name] = task_metrics(task, test[t + 1], predictions[t]);
    report.validation_metrics[task.name] =
        task_metrics(task, validation_part[t + 1], validation[t]);
  }
  report.test_targets.assign(test.begin() + 1, test.end());
  report.test_predictions = predictions;
  for (const std::vector<TaskPrediction>& member : predict_members(model, test[0])) {
    TaskMetrics metrics;
    for (size_t t = 0; t < table.tasks.size(); ++t)
      metrics[spec.tasks[t].name] = task_metrics(spec.tasks[t], test[t + 1], member[t]);
    report.member_metrics.push_back(std::move(metrics));
  }
  json metrics = {{"tasks", report.test_metrics}};
  if (report.member_metrics.size() > 1) metrics["members"] = report.member_metrics;
  if (balancer && !balancer->last_weights().empty()) {
    json weights;
    for (size_t t = 0; t < spec.tasks.size(); ++t)
      weights[spec.tasks[t].name] = balancer->last_weights()[t];
    metrics["task_weights"] = weights;
  }
  if (options.calibrate) {
    json temperatures;
    for (size_t t = 0; t < spec.tasks.size(); ++t) {
      if (is_classification(spec.tasks[t]))
        temperatures[spec.tasks[t].name] = model.spec.temperatures[t];
    }
    metrics["temperature"] = temperatures;
  }
  if (const auto* uncertainty =
          dynamic_cast<const models::mtl::UncertaintyWeighting*>(balancer.get())) {
    json sigma;
    const std::vector<double> values = uncertainty->sigma();
    for (size_t t = 0; t < spec.tasks.size(); ++t) sigma[spec.tasks[t].name] = values[t];
    metrics["sigma"] = sigma;
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics["epochs"] = report.epochs;
  if (runs.size() == 1) {
    metrics["best_epoch"] = runs[0].best_epoch + 1;
    metrics["stopped_early"] = runs[0].stopped_early;
  } else {
    // An ensemble trained run by run: each run's epochs, and the best of each (a snapshot is
    // its cycle's end, whatever epoch was best).
    json each = json::array();
    for (size_t k = 0; k < runs.size(); ++k) {
      json run = {{"name", run_name(k)}, {"epochs", runs[k].epochs.size()}};
      if (!snapshot) {
        run["best_epoch"] = runs[k].best_epoch + 1;
        run["stopped_early"] = runs[k].stopped_early;
      }
      each.push_back(run);
    }
    metrics["runs"] = each;
  }
  metrics["interrupted"] = report.interrupted();
  metrics["rows"] = {{"train", report.train_rows},
                     {"validation", report.validation_rows},
                     {"test", report.test_rows}};
  metrics["seconds"] = report.seconds;
  metrics["seconds_per_epoch"] = report.seconds_per_epoch;
  report.metrics_json = metrics.dump(2);

  save_model((fs::path(options.out_dir) / "model.safetensors").string(), model);
  write_text(fs::path(options.out_dir) / "metrics.json", report.metrics_json);
  return report;
}

}  // namespace ember::train
