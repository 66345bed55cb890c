#include <ember/core/io/safetensors.h>
#include <ember/optim/checkpoint.h>

#include <charconv>
#include <optional>

namespace ember::optim {

namespace {
const char* kFormat = "ember optimizer state 1";

std::string count_text(size_t n) { return std::to_string(n); }

// Reads back what save_state wrote, naming the file and the key on any problem.
class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path) {}

  [[noreturn]] void fail(const std::string& message) const {
    throw Error("load_state: " + path_ + ": " + message);
  }

  double number(const std::string& key, const std::string& text) const {
    double value = 0;
    const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || result.ec != std::errc() || result.ptr != text.data() + text.size()) {
      fail("metadata \"" + key + "\" is not a number: \"" + text + "\"");
    }
    return value;
  }

  int64_t count(const std::string& key, const std::string& text) const {
    int64_t value = 0;
    const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || result.ec != std::errc() || result.ptr != text.data() + text.size() ||
        value < 0) {
      fail("metadata \"" + key + "\" is not a count: \"" + text + "\"");
    }
    return value;
  }

  const std::string& required(const std::map<std::string, std::string>& metadata,
                              const std::string& key) const {
    const auto found = metadata.find(key);
    if (found == metadata.end()) fail("metadata \"" + key + "\" is missing");
    return found->second;
  }

  // "param.12.exp_avg" with prefix "param." -> {12, "exp_avg"} when 12 < limit.
  std::pair<size_t, std::string> indexed(const std::string& key, const std::string& prefix,
                                         size_t limit) const {
    const size_t dot = key.find('.', prefix.size());
    if (dot == std::string::npos || dot + 1 == key.size()) fail("unexpected entry \"" + key + "\"");
    const int64_t index = count(key, key.substr(prefix.size(), dot - prefix.size()));
    if (static_cast<size_t>(index) >= limit) {
      fail("entry \"" + key + "\" is out of range (there are " + count_text(limit) + ")");
    }
    return {static_cast<size_t>(index), key.substr(dot + 1)};
  }

 private:
  std::string path_;
};

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}
}  // namespace

void save_state(const std::string& path, const Optimizer& optimizer, const Scheduler* scheduler) {
  const OptimizerState state = optimizer.state_dict();
  std::map<std::string, std::string> metadata{{"format", kFormat},
                                              {"optimizer", state.optimizer},
                                              {"groups", count_text(state.groups.size())},
                                              {"params", count_text(state.params.size())}};
  for (size_t g = 0; g < state.groups.size(); ++g) {
    const std::string prefix = "group." + count_text(g) + ".";
    metadata[prefix + "params"] = std::to_string(state.groups[g].num_params);
    for (const auto& [name, value] : state.groups[g].options) {
      metadata[prefix + name] = detail::format_number(value);
    }
  }
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (size_t i = 0; i < state.params.size(); ++i) {
    const std::string prefix = "param." + count_text(i) + ".";
    metadata[prefix + "step"] = std::to_string(state.params[i].step);
    for (const auto& [name, buffer] : state.params[i].buffers) {
      tensors.emplace_back(prefix + name, buffer);
    }
  }
  if (scheduler) {
    const SchedulerState scheduler_state = scheduler->state_dict();
    metadata["scheduler"] = scheduler_state.scheduler;
    for (const auto& [name, value] : scheduler_state.values) {
      metadata["scheduler." + name] = detail::format_number(value);
    }
  }
  save_safetensors(path, tensors, metadata);
}

void load_state(const std::string& path, Optimizer& optimizer, Scheduler* scheduler) {
  const SafetensorsFile file = load_safetensors(path);
  const Reader reader(path);
  const auto& metadata = file.metadata;
  if (!metadata.count("format") || metadata.at("format") != kFormat) {
    reader.fail("not an ember optimizer state (no metadata \"format\" = \"" + std::string(kFormat) +
                "\")");
  }

  OptimizerState state;
  state.optimizer = reader.required(metadata, "optimizer");
  state.groups.resize(reader.count("groups", reader.required(metadata, "groups")));
  state.params.resize(reader.count("params", reader.required(metadata, "params")));
  std::vector<bool> group_sized(state.groups.size()), step_read(state.params.size());
  std::optional<SchedulerState> scheduler_state;
  for (const auto& [key, text] : metadata) {
    if (key == "format" || key == "optimizer" || key == "groups" || key == "params") continue;
    if (key == "scheduler") {
      if (!scheduler_state) scheduler_state.emplace();
      scheduler_state->scheduler = text;
    } else if (starts_with(key, "scheduler.")) {
      if (!scheduler_state) scheduler_state.emplace();
      scheduler_state->values[key.substr(10)] = reader.number(key, text);
    } else if (starts_with(key, "group.")) {
      const auto [g, name] = reader.indexed(key, "group.", state.groups.size());
      if (name == "params") {
        state.groups[g].num_params = reader.count(key, text);
        group_sized[g] = true;
      } else {
        state.groups[g].options[name] = reader.number(key, text);
      }
    } else if (starts_with(key, "param.")) {
      const auto [i, name] = reader.indexed(key, "param.", state.params.size());
      if (name != "step") reader.fail("unexpected metadata \"" + key + "\"");
      state.params[i].step = reader.count(key, text);
      step_read[i] = true;
    } else {
      reader.fail("unexpected metadata \"" + key + "\"");
    }
  }
  for (size_t g = 0; g < group_sized.size(); ++g) {
    if (!group_sized[g]) reader.fail("metadata \"group." + count_text(g) + ".params\" is missing");
  }
  for (size_t i = 0; i < step_read.size(); ++i) {
    if (!step_read[i]) reader.fail("metadata \"param." + count_text(i) + ".step\" is missing");
  }
  for (const auto& [name, tensor] : file.tensors) {
    if (!starts_with(name, "param.")) reader.fail("unexpected tensor \"" + name + "\"");
    const auto [i, buffer] = reader.indexed(name, "param.", state.params.size());
    state.params[i].buffers[buffer] = tensor;
  }
  if (scheduler && !scheduler_state) {
    reader.fail("holds no scheduler state, but a " + scheduler->name() + " was given");
  }
  if (scheduler_state && scheduler_state->scheduler.empty()) {
    reader.fail("metadata \"scheduler\" is missing");
  }

  // All or nothing: if the scheduler refuses its state, put the optimizer back.
  const OptimizerState previous = optimizer.state_dict();
  optimizer.load_state_dict(state);
  if (scheduler) {
    try {
      scheduler->load_state_dict(*scheduler_state);
    } catch (...) {
      optimizer.load_state_dict(previous);
      throw;
    }
  }
}

}  // namespace ember::optim
