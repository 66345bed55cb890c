#include <ember/core/autograd.h>
#include <ember/core/io/safetensors.h>
#include <ember/core/ops.h>
#include <ember/core/random.h>
#include <ember/error.h>
#include <ember/nn/normalization.h>
#include <ember/optim/checkpoint.h>
#include <ember/optim/clip_grad.h>
#include <ember/train/metrics.h>
#include <ember/train/trainer.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <type_traits>

namespace ember::train {

namespace fs = std::filesystem;

namespace {

const char* kCheckpointFormat = "ember trainer state 1";

// Set by SIGINT while some fit() runs; each running fit() polls it after every batch. A
// lock-free atomic is what a signal handler may write while other threads read it.
std::atomic<bool> interrupt_received{false};
static_assert(std::atomic<bool>::is_always_lock_free);
extern "C" void on_interrupt(int) { interrupt_received.store(true, std::memory_order_relaxed); }

// Trainers may run at once on several threads, so the handler is process-wide state shared by
// their guards: the first guard to start clears the flag and installs the handler, the last
// to end restores the handler that was there before.
std::mutex interrupt_mutex;
int running_guards = 0;
void (*handler_before)(int) = SIG_DFL;

// Routes SIGINT to on_interrupt for its lifetime (when enabled).
class InterruptGuard {
 public:
  explicit InterruptGuard(bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
    const std::lock_guard<std::mutex> lock(interrupt_mutex);
    if (running_guards++ == 0) {
      interrupt_received.store(false, std::memory_order_relaxed);
      handler_before = std::signal(SIGINT, on_interrupt);
    }
  }
  ~InterruptGuard() {
    if (!enabled_) return;
    const std::lock_guard<std::mutex> lock(interrupt_mutex);
    if (--running_guards == 0) std::signal(SIGINT, handler_before);
  }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  /// Whether SIGINT arrived while guards were running (never when not enabled).
  bool received() const { return enabled_ && interrupt_received.load(std::memory_order_relaxed); }

 private:
  bool enabled_;
};

// Losses, errors and calibration get better as they fall; everything else as it rises.
bool lower_is_better(const std::string& metric) {
  for (const char* word : {"loss", "rmse", "mae", "nll", "brier", "ece"}) {
    const std::string suffix = std::string("/") + word;
    if (metric.size() >= suffix.size() &&
        metric.compare(metric.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return true;
    }
  }
  return false;
}

std::string join_names(const std::vector<Task>& tasks) {
  std::string names;
  for (const Task& task : tasks) names += (names.empty() ? "" : ",") + task.name;
  return names;
}

nn::NamedTensors copy_of(const nn::NamedTensors& state) {
  nn::NamedTensors copy;
  for (const auto& [name, tensor] : state) copy.emplace_back(name, clone(tensor.detach()));
  return copy;
}

// Each task's outputs for all rows of `x`, computed in batches (the caller turns the graph off).
std::vector<Tensor> outputs_over(const Forward& forward, const Tensor& x, size_t num_tasks,
                                 int64_t batch_size) {
  std::vector<std::vector<Tensor>> pieces(num_tasks);
  data::DataLoader loader(data::TensorDataset({x}), batch_size);
  for (const std::vector<Tensor>& batch : loader) {
    std::vector<Tensor> outputs = forward(batch[0]);
    if (outputs.size() != num_tasks) {
      throw Error("train: the model gave " + std::to_string(outputs.size()) + " outputs for " +
                  std::to_string(num_tasks) + " tasks");
    }
    for (size_t t = 0; t < num_tasks; ++t) pieces[t].push_back(outputs[t]);
  }
  std::vector<Tensor> outputs;
  for (const auto& task_pieces : pieces) outputs.push_back(cat(task_pieces, 0));
  return outputs;
}

double parse_number(const std::string& path, const std::string& key, const std::string& text) {
  double value = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || result.ec != std::errc() || result.ptr != text.data() + text.size()) {
    throw Error("Trainer::resume: " + path + ": metadata \"" + key + "\" is not a number: \"" +
                text + "\"");
  }
  return value;
}

// Bytes for ProcessGroup messages: fixed-size values as they lie in memory (every process of
// a group runs the same build on the same kind of machine), strings and lists length first.
class ByteWriter {
 public:
  template <class T>
  requires std::is_trivially_copyable_v<T>
  void write(const T& value) {
    const auto* first = reinterpret_cast<const std::byte*>(&value);
    bytes_.insert(bytes_.end(), first, first + sizeof(T));
  }
  void write(const std::string& text) {
    write(static_cast<uint64_t>(text.size()));
    const auto* first = reinterpret_cast<const std::byte*>(text.data());
    bytes_.insert(bytes_.end(), first, first + text.size());
  }
  void write(const std::map<std::string, double>& values) {
    write(static_cast<uint64_t>(values.size()));
    for (const auto& [name, value] : values) {
      write(name);
      write(value);
    }
  }
  std::vector<std::byte>& bytes() { return bytes_; }

 private:
  std::vector<std::byte> bytes_;
};

class ByteReader {
 public:
  explicit ByteReader(std::span<const std::byte> bytes) : bytes_(bytes) {}
  template <class T>
  requires std::is_trivially_copyable_v<T> T read() {
    T value;
    std::memcpy(&value, take(sizeof(T)), sizeof(T));
    return value;
  }
  std::string read_string() {
    const auto length = read<uint64_t>();
    const std::byte* first = take(length);
    return std::string(reinterpret_cast<const char*>(first), length);
  }
  std::map<std::string, double> read_metrics() {
    std::map<std::string, double> values;
    for (auto count = read<uint64_t>(); count > 0; --count) {
      std::string name = read_string();
      values[name] = read<double>();
    }
    return values;
  }
  bool done() const { return offset_ == bytes_.size(); }

 private:
  const std::byte* take(uint64_t length) {
    if (length > bytes_.size() - offset_) {
      throw Error("history_from_bytes: the bytes end early (" + std::to_string(bytes_.size()) +
                  " bytes, reading " + std::to_string(length) + " at offset " +
                  std::to_string(offset_) + ")");
    }
    const std::byte* first = bytes_.data() + offset_;
    offset_ += length;
    return first;
  }
  std::span<const std::byte> bytes_;
  size_t offset_ = 0;
};

// The name of the first BatchNorm1d in `module` (searched depth first), or "" if none.
std::string batch_norm_in(const nn::Module& module, const std::string& name) {
  if (dynamic_cast<const nn::BatchNorm1d*>(&module)) return name.empty() ? "(the model)" : name;
  for (const auto& [child_name, child] : module.named_children()) {
    const std::string found =
        batch_norm_in(*child, name.empty() ? child_name : name + "." + child_name);
    if (!found.empty()) return found;
  }
  return "";
}

// Rank 0's values of `tensors` on every process of `group`.
void broadcast_tensors(ProcessGroup& group, const std::vector<Tensor>& tensors) {
  size_t values = 0;
  for (const Tensor& tensor : tensors) values += static_cast<size_t>(tensor.numel());
  std::vector<std::byte> bytes;
  if (group.rank() == 0) {
    bytes.reserve(values * sizeof(float));
    for (const Tensor& tensor : tensors) {
      const auto* first = reinterpret_cast<const std::byte*>(tensor.data());
      bytes.insert(bytes.end(), first, first + tensor.numel() * sizeof(float));
    }
  }
  group.broadcast(bytes);
  if (bytes.size() != values * sizeof(float)) {
    throw Error("Trainer::fit: rank 0's model has " + std::to_string(bytes.size() / sizeof(float)) +
                " values, rank " + std::to_string(group.rank()) + "'s " + std::to_string(values) +
                "; every process must build the same model");
  }
  const NoGradGuard no_grad;
  const std::byte* next = bytes.data();
  for (const Tensor& tensor : tensors) {
    Tensor target = tensor;
    const size_t length = static_cast<size_t>(tensor.numel()) * sizeof(float);
    std::memcpy(target.mutable_data(), next, length);
    next += length;
  }
}

uint64_t broadcast_seed(ProcessGroup& group, uint64_t seed) {
  std::vector<std::byte> bytes(sizeof seed);
  std::memcpy(bytes.data(), &seed, sizeof seed);
  group.broadcast(bytes);
  std::memcpy(&seed, bytes.data(), sizeof seed);
  return seed;
}

std::map<std::string, double> broadcast_metrics(ProcessGroup& group,
                                                const std::map<std::string, double>& metrics) {
  ByteWriter writer;
  if (group.rank() == 0) writer.write(metrics);
  group.broadcast(writer.bytes());
  return ByteReader(writer.bytes()).read_metrics();
}

// Whether any process of `group` has `flag` set.
bool any_process(ProcessGroup& group, bool flag) {
  double count = flag ? 1.0 : 0.0;
  group.all_reduce_sum(std::span<double>(&count, 1));
  return count > 0;
}

data::TensorDataset rows_of(const data::TensorDataset& dataset, const std::vector<int64_t>& rows) {
  const Tensor index =
      tensor(std::vector<float>(rows.begin(), rows.end()), {static_cast<int64_t>(rows.size())});
  std::vector<Tensor> selected;
  for (const Tensor& tensor : dataset.tensors()) selected.push_back(index_select(tensor, 0, index));
  return data::TensorDataset(selected);
}

}  // namespace

std::vector<std::byte> to_bytes(const History& history) {
  ByteWriter writer;
  writer.write(static_cast<uint64_t>(history.epochs.size()));
  for (const EpochResult& epoch : history.epochs) {
    writer.write(epoch.epoch);
    writer.write(epoch.metrics);
    writer.write(static_cast<uint8_t>(epoch.improved));
    writer.write(epoch.seconds);
  }
  writer.write(history.best_epoch);
  writer.write(history.best_value);
  writer.write(static_cast<uint8_t>(history.stopped_early));
  writer.write(static_cast<uint8_t>(history.interrupted));
  return std::move(writer.bytes());
}

History history_from_bytes(std::span<const std::byte> bytes) {
  ByteReader reader(bytes);
  History history;
  for (auto count = reader.read<uint64_t>(); count > 0; --count) {
    EpochResult epoch;
    epoch.epoch = reader.read<int64_t>();
    epoch.metrics = reader.read_metrics();
    epoch.improved = reader.read<uint8_t>() != 0;
    epoch.seconds = reader.read<double>();
    history.epochs.push_back(std::move(epoch));
  }
  history.best_epoch = reader.read<int64_t>();
  history.best_value = reader.read<double>();
  history.stopped_early = reader.read<uint8_t>() != 0;
  history.interrupted = reader.read<uint8_t>() != 0;
  if (!reader.done()) {
    throw Error("history_from_bytes: " + std::to_string(bytes.size()) +
                " bytes hold more than one History");
  }
  return history;
}

Trainer::Trainer(nn::Module& model, Forward forward, std::vector<Task> tasks,
                 optim::Optimizer& optimizer, TrainerOptions options)
    : model_(model),
      forward_(std::move(forward)),
      tasks_(std::move(tasks)),
      optimizer_(optimizer),
      options_(std::move(options)) {
  if (tasks_.empty()) throw Error("Trainer: no tasks given");
  if (!forward_) throw Error("Trainer: no forward function given");
  if (options_.epochs < 0) {
    throw Error("Trainer: epochs must be >= 0, got " + std::to_string(options_.epochs));
  }
  if (options_.batch_size < 1) {
    throw Error("Trainer: batch_size must be >= 1, got " + std::to_string(options_.batch_size));
  }
  if (options_.patience < 0) {
    throw Error("Trainer: patience must be >= 0, got " + std::to_string(options_.patience));
  }
  if (!(options_.min_delta >= 0) || !(options_.clip_grad_norm >= 0)) {
    throw Error("Trainer: min_delta and clip_grad_norm must be >= 0");
  }
}

void Trainer::add_callback(std::shared_ptr<Callback> callback) {
  if (!callback) throw Error("Trainer::add_callback: null callback");
  callbacks_.push_back(std::move(callback));
}

void Trainer::check_dataset(const data::TensorDataset& dataset, const char* which) const {
  const auto& tensors = dataset.tensors();
  if (tensors.size() != tasks_.size() + 1) {
    throw Error(std::string("Trainer::fit: the ") + which + " data holds " +
                std::to_string(tensors.size()) + " tensors; expected the inputs and one target " +
                "per task (" + std::to_string(tasks_.size() + 1) + ")");
  }
  if (dataset.size() == 0)
    throw Error(std::string("Trainer::fit: the ") + which + " data is empty");
}

std::vector<Tensor> Trainer::batch_losses(const std::vector<Tensor>& batch) const {
  if (batch_loss_) {
    std::vector<Tensor> losses =
        batch_loss_(batch[0], std::vector<Tensor>(batch.begin() + 1, batch.end()));
    if (losses.size() != tasks_.size()) {
      throw Error("Trainer::fit: the batch loss gave " + std::to_string(losses.size()) +
                  " losses for " + std::to_string(tasks_.size()) + " tasks");
    }
    return losses;
  }
  const std::vector<Tensor> outputs = forward_(batch[0]);
  if (outputs.size() != tasks_.size()) {
    throw Error("Trainer::fit: the model gave " + std::to_string(outputs.size()) + " outputs for " +
                std::to_string(tasks_.size()) + " tasks");
  }
  std::vector<Tensor> losses;
  for (size_t t = 0; t < tasks_.size(); ++t)
    losses.push_back(models::task_loss(tasks_[t], outputs[t], batch[t + 1]));
  return losses;
}

// With a process group, `batch` is this process's shard of the batch (empty when the batch
// has fewer rows than there are processes) and `share` its fraction of the batch's rows.
// Task losses are means over rows, so the batch's loss and gradient are the shares' weighted
// sums: L = Σ_r share_r · L_r, and likewise ∇L.
StepResult Trainer::train_step(const std::vector<Tensor>& batch, int64_t epoch, double share) {
  const std::vector<Tensor> losses = batch.empty() ? std::vector<Tensor>{} : batch_losses(batch);
  StepResult result{epoch, step_ + 1, 0.0, {}};
  for (size_t t = 0; t < tasks_.size(); ++t)
    result.task_losses.push_back(losses.empty() ? 0.0 : losses[t].item() * share);
  if (group_) group_->all_reduce_sum(result.task_losses);
  for (size_t t = 0; t < tasks_.size(); ++t) {
    const double value = result.task_losses[t];
    if (!std::isfinite(value)) {
      throw Error("Trainer::fit: the loss of task '" + tasks_[t].name + "' is " +
                  (std::isnan(value) ? "NaN" : "infinite") + " at epoch " +
                  std::to_string(epoch + 1) + ", step " + std::to_string(result.step) +
                  "; training stopped, the last checkpoint (epoch " + std::to_string(epoch_) +
                  ") is kept");
    }
    result.loss += value;
  }
  optimizer_.zero_grad();
  if (balancer_ && !losses.empty()) {
    balancer_->backward(losses);
  } else if (!losses.empty()) {
    Tensor total = losses[0];
    for (size_t t = 1; t < losses.size(); ++t) total = total + losses[t];
    total.backward();
  }
  if (group_) {
    std::vector<Tensor> parameters;
    for (size_t g = 0; g < optimizer_.num_param_groups(); ++g) {
      const std::vector<Tensor>& group = optimizer_.params(g);
      parameters.insert(parameters.end(), group.begin(), group.end());
    }
    group_->reduce_gradients(parameters, share);
  }
  if (options_.clip_grad_norm > 0)
    optim::clip_grad_norm_(model_.parameters(), options_.clip_grad_norm);
  optimizer_.step();
  if (balancer_ && balancer_->needs_losses_after_step()) {
    const GradModeGuard no_grad(false);
    const std::vector<Tensor> after = forward_(batch[0]);
    std::vector<double> values;
    for (size_t t = 0; t < tasks_.size(); ++t)
      values.push_back(models::task_loss(tasks_[t], after[t], batch[t + 1]).item());
    balancer_->after_step(values);
  }
  ++step_;
  return result;
}

void Trainer::check_data_parallel() const {
  const std::string processes = std::to_string(group_->size()) + " processes";
  if (balancer_ && !balancer_->linear_in_task_gradients()) {
    throw Error("Trainer::fit: data-parallel training over " + processes +
                " sums the processes' gradients, which gives the whole batch's update only for "
                "balancers linear in the task losses (equal, uncertainty, dwa); '" +
                balancer_->name() + "' is not");
  }
  if (const std::string name = batch_norm_in(model_, ""); !name.empty()) {
    throw Error("Trainer::fit: data-parallel training over " + processes +
                " cannot train BatchNorm1d layers ('" + name +
                "'): each process would normalise its shard by the shard's own statistics, "
                "not the batch's");
  }
}

bool Trainer::improves(double value) const {
  if (history_.best_epoch < 0) return true;
  const double gain =
      lower_is_better(options_.monitor) ? history_.best_value - value : value - history_.best_value;
  return gain > options_.min_delta;
}

History Trainer::fit(const data::TensorDataset& train, const data::TensorDataset* validation) {
  check_dataset(train, "training");
  if (validation) check_dataset(*validation, "validation");
  if (!validation && options_.monitor.rfind("val/", 0) == 0) {
    if (options_.monitor != "val/loss") {
      throw Error("Trainer::fit: monitor \"" + options_.monitor + "\" needs validation data");
    }
    options_.monitor = "train/loss";
  }
  const InterruptGuard interrupt_guard(options_.stop_on_interrupt);
  history_.epochs.clear();
  history_.stopped_early = history_.interrupted = false;
  stop_requested_ = false;

  if (group_ && group_->size() > 1) check_data_parallel();
  if (group_) {
    std::vector<Tensor> state;
    for (const auto& [name, tensor] : model_.state_dict()) state.push_back(tensor);
    if (balancer_) {
      for (const auto& [name, tensor] : balancer_->state_dict()) state.push_back(tensor);
    }
    broadcast_tensors(*group_, state);
  }

  while (epoch_ < options_.epochs) {
    if (options_.patience > 0 && bad_epochs_ >= options_.patience) {
      history_.stopped_early = true;  // a resumed run that had already stopped
      break;
    }
    const auto start = std::chrono::steady_clock::now();
    model_.train();
    std::vector<double> loss_sums(tasks_.size(), 0.0);
    int64_t batches = 0;
    bool stopped = false;
    // After each step: sums the losses, calls back, and says whether to go on (a stop asked
    // for on any process stops every process after the same step).
    const auto end_step = [&](const StepResult& step) {
      for (size_t t = 0; t < tasks_.size(); ++t) loss_sums[t] += step.task_losses[t];
      ++batches;
      for (const auto& callback : callbacks_) callback->on_step_end(step);
      const bool stop = stop_requested_ || interrupt_guard.received();
      stopped = group_ ? any_process(*group_, stop) : stop;
      return !stopped;
    };
    uint64_t seed = options_.shuffle ? next_seed() : 0;
    if (group_) {
      // Rank 0's seed: dropout may have drawn different numbers of values on each process.
      seed = broadcast_seed(*group_, seed);
      for (const BatchShard& shard :
           group_->epoch(train.size(), options_.batch_size, options_.shuffle, seed)) {
        const double share =
            static_cast<double>(shard.rows.size()) / static_cast<double>(shard.batch_rows);
        const std::vector<Tensor> batch =
            shard.rows.empty() ? std::vector<Tensor>{} : rows_of(train, shard.rows).tensors();
        if (!end_step(train_step(batch, epoch_, share))) break;
      }
    } else {
      data::DataLoader loader(train, options_.batch_size, options_.shuffle, /*drop_last=*/false,
                              seed);
      for (const std::vector<Tensor>& batch : loader) {
        if (!end_step(train_step(batch, epoch_, 1.0))) break;
      }
    }
    if (stopped) {
      history_.interrupted = true;  // a partial epoch is neither scored nor checkpointed
      break;
    }

    EpochResult result;
    result.epoch = epoch_;
    double total = 0;
    for (size_t t = 0; t < tasks_.size(); ++t) {
      const double mean = loss_sums[t] / static_cast<double>(batches);
      result.metrics["train/" + tasks_[t].name + "/loss"] = mean;
      total += mean;
    }
    result.metrics["train/loss"] = total;
    if (balancer_) {
      std::vector<double> means;
      for (size_t t = 0; t < tasks_.size(); ++t) means.push_back(loss_sums[t] / batches);
      balancer_->on_epoch_end(means);
      const std::vector<double>& weights = balancer_->last_weights();
      for (size_t t = 0; t < weights.size() && weights.size() == tasks_.size(); ++t)
        result.metrics["train/" + tasks_[t].name + "/weight"] = weights[t];
    }
    if (validation) {
      // Every process holds the same weights: rank 0 scores them, the others take its metrics.
      std::map<std::string, double> scores;
      if (on_rank_zero()) scores = evaluate(*validation, "val");
      result.metrics.merge(group_ ? broadcast_metrics(*group_, scores) : scores);
    }
    result.metrics["lr"] = optimizer_.lr(0);

    const auto monitored = result.metrics.find(options_.monitor);
    if (monitored == result.metrics.end()) {
      std::string known;
      for (const auto& [name, value] : result.metrics) known += (known.empty() ? "" : ", ") + name;
      throw Error("Trainer::fit: no metric \"" + options_.monitor +
                  "\" to monitor (metrics: " + known + ")");
    }
    result.improved = improves(monitored->second);
    if (result.improved) {
      history_.best_epoch = epoch_;
      history_.best_value = monitored->second;
      bad_epochs_ = 0;
      if (options_.restore_best) best_state_ = copy_of(model_.state_dict());
    } else {
      ++bad_epochs_;
    }
    if (auto* plateau = dynamic_cast<optim::ReduceLROnPlateau*>(scheduler_)) {
      plateau->step(monitored->second);
    } else if (auto* lr_scheduler = dynamic_cast<optim::LRScheduler*>(scheduler_)) {
      lr_scheduler->step();
    }
    ++epoch_;
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    history_.epochs.push_back(result);
    if (!options_.checkpoint_dir.empty() && on_rank_zero()) save_checkpoint();
    for (const auto& callback : callbacks_) callback->on_epoch_end(result);
    if (options_.patience > 0 && bad_epochs_ >= options_.patience) {
      history_.stopped_early = true;
      break;
    }
  }
  if (options_.restore_best && !best_state_.empty()) model_.load_state_dict(best_state_);
  return history_;
}

std::vector<Tensor> Trainer::predict(const Tensor& x) {
  const bool was_training = model_.is_training();
  model_.eval();
  NoGradGuard no_grad;
  std::vector<Tensor> outputs = outputs_over(forward_, x, tasks_.size(), options_.batch_size);
  model_.train(was_training);
  return outputs;
}

std::map<std::string, double> Trainer::evaluate(const data::TensorDataset& dataset,
                                                const std::string& prefix) {
  check_dataset(dataset, "evaluation");
  const std::vector<Tensor> outputs = predict(dataset.tensors()[0]);
  std::map<std::string, double> metrics;
  double total = 0;
  NoGradGuard no_grad;
  for (size_t t = 0; t < tasks_.size(); ++t) {
    const Task& task = tasks_[t];
    const Tensor& target = dataset.tensors()[t + 1];
    // Mean-reduced losses over the whole set: the mean over every sample.
    const double loss = models::task_loss(task, outputs[t], target).item();
    const std::string name = prefix + "/" + task.name;
    metrics[name + "/loss"] = loss;
    total += loss;
    if (task.type == TaskType::regression) {
      metrics[name + "/rmse"] = std::sqrt(loss);
    } else if (task.type == TaskType::gaussian) {
      const Tensor mean = models::gaussian_mean_variance(outputs[t]).mean;
      metrics[name + "/rmse"] = std::sqrt(mse_loss(mean, target.reshape({-1})).item());
    } else {
      // A logit above 0 is a probability above 0.5; otherwise the largest logit wins.
      const Tensor predicted = task.type == TaskType::binary ? outputs[t].reshape({-1}) > 0.f
                                                             : max(outputs[t], 1).indices;
      metrics[name + "/accuracy"] = accuracy(target, predicted);
    }
  }
  metrics[prefix + "/loss"] = total;
  return metrics;
}

// A checkpoint is a folder: model.safetensors, optimizer.safetensors and trainer.safetensors
// (epoch, step, early-stopping state, best weights, random state). It is written whole into
// "<dir>.tmp" and then swapped in by two renames, so a crash never leaves a mix of epochs:
// resume() falls back to "<dir>.old" if it struck between the renames.
void Trainer::save_checkpoint() const {
  const fs::path dir(options_.checkpoint_dir);
  const fs::path staging = dir.string() + ".tmp", old = dir.string() + ".old";
  std::error_code error;
  fs::remove_all(staging, error);
  fs::create_directories(staging, error);
  if (error) {
    throw Error("Trainer: cannot create checkpoint folder " + staging.string() + ": " +
                error.message());
  }
  model_.save((staging / "model.safetensors").string());
  optim::save_state((staging / "optimizer.safetensors").string(), optimizer_, scheduler_);
  nn::NamedTensors best;
  for (const auto& [name, tensor] : best_state_) best.emplace_back("best." + name, tensor);
  if (balancer_) {
    for (const auto& [name, tensor] : balancer_->state_dict())
      best.emplace_back("balancer." + name, tensor);
  }
  save_safetensors((staging / "trainer.safetensors").string(), best,
                   {{"format", kCheckpointFormat},
                    {"tasks", join_names(tasks_)},
                    {"epoch", std::to_string(epoch_)},
                    {"step", std::to_string(step_)},
                    {"bad_epochs", std::to_string(bad_epochs_)},
                    {"best_epoch", std::to_string(history_.best_epoch)},
                    {"best_value", optim::detail::format_number(history_.best_value)},
                    {"monitor", options_.monitor},
                    {"random_state", random_state()}});
  fs::remove_all(old, error);
  if (fs::exists(dir)) fs::rename(dir, old, error);
  if (!error) fs::rename(staging, dir, error);
  if (error) {
    throw Error("Trainer: cannot move checkpoint " + staging.string() + " to " + dir.string() +
                ": " + error.message());
  }
  fs::remove_all(old, error);
}

void Trainer::resume() {
  if (options_.checkpoint_dir.empty()) throw Error("Trainer::resume: no checkpoint_dir set");
  fs::path dir(options_.checkpoint_dir);
  if (!fs::exists(dir / "trainer.safetensors") && fs::exists(dir.string() + ".old")) {
    dir = dir.string() + ".old";  // the run stopped between the two renames of a save
  }
  const std::string state_path = (dir / "trainer.safetensors").string();
  if (!fs::exists(state_path)) {
    throw Error("Trainer::resume: no checkpoint in " + options_.checkpoint_dir);
  }
  const SafetensorsFile state = load_safetensors(state_path);
  const auto value = [&](const std::string& key) -> const std::string& {
    const auto found = state.metadata.find(key);
    if (found == state.metadata.end()) {
      throw Error("Trainer::resume: " + state_path + ": metadata \"" + key + "\" is missing");
    }
    return found->second;
  };
  if (value("format") != kCheckpointFormat) {
    throw Error("Trainer::resume: " + state_path + " is not an ember trainer checkpoint");
  }
  if (value("tasks") != join_names(tasks_)) {
    throw Error("Trainer::resume: the checkpoint's tasks (" + value("tasks") +
                ") differ from this trainer's (" + join_names(tasks_) + ")");
  }
  const auto count = [&](const std::string& key) {
    return static_cast<int64_t>(parse_number(state_path, key, value(key)));
  };
  nn::NamedTensors best, balancer;
  for (const auto& [name, tensor] : state.tensors) {
    if (name.rfind("best.", 0) == 0) {
      best.emplace_back(name.substr(5), tensor);
    } else if (balancer_ && name.rfind("balancer.", 0) == 0) {
      balancer.emplace_back(name.substr(9), tensor);
    } else {
      throw Error("Trainer::resume: " + state_path + ": unexpected tensor \"" + name + "\"");
    }
  }
  const int64_t epoch = count("epoch"), step = count("step"), bad_epochs = count("bad_epochs"),
                best_epoch = count("best_epoch");
  const double best_value = parse_number(state_path, "best_value", value("best_value"));
  const std::string& random = value("random_state");

  // All or nothing: if a later part does not fit, the earlier ones are put back.
  const nn::NamedTensors previous_model = copy_of(model_.state_dict());
  const nn::NamedTensors previous_balancer =
      balancer_ ? copy_of(balancer_->state_dict()) : nn::NamedTensors{};
  const std::string previous_random = random_state();
  set_random_state(random);
  try {
    model_.load((dir / "model.safetensors").string());
    if (balancer_) balancer_->load_state_dict(balancer);
    optim::load_state((dir / "optimizer.safetensors").string(), optimizer_, scheduler_);
  } catch (...) {
    model_.load_state_dict(previous_model);
    if (balancer_) balancer_->load_state_dict(previous_balancer);
    set_random_state(previous_random);
    throw;
  }
  epoch_ = epoch;
  step_ = step;
  bad_epochs_ = bad_epochs;
  history_ = History{};
  history_.best_epoch = best_epoch;
  history_.best_value = best_value;
  options_.monitor = value("monitor");
  best_state_ = std::move(best);
}

}  // namespace ember::train
