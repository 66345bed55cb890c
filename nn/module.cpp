#include <ember/core/autograd.h>
#include <ember/core/io/safetensors.h>
#include <ember/error.h>
#include <ember/nn/module.h>

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <ostream>
#include <set>
#include <typeinfo>

namespace ember::nn {

namespace {
const char* kVersion = "0.1.0";

// Appends `prefix`-qualified entries of `module` and, if `recurse`, of its children.
template <class Select>
void collect(const Module& module, const std::string& prefix, bool recurse, Select select,
             NamedTensors& out) {
  for (const auto& [name, tensor] : select(module)) out.emplace_back(prefix + name, tensor);
  if (!recurse) return;
  for (const auto& [name, child] : module.named_children()) {
    collect(*child, prefix + name + ".", true, select, out);
  }
}
}  // namespace

void Module::check_new_name(const std::string& name, const char* what) const {
  if (name.empty() || name.find('.') != std::string::npos) {
    throw Error(std::string(what) + ": invalid name \"" + name +
                "\" (names must be non-empty and contain no '.')");
  }
  auto taken = [&](const auto& entries) {
    for (const auto& entry : entries) {
      if (entry.first == name) return true;
    }
    return false;
  };
  if (taken(parameters_) || taken(buffers_) || taken(children_)) {
    throw Error(std::string(what) + ": \"" + name + "\" is already registered in " + type_name());
  }
}

Tensor Module::register_parameter(const std::string& name, Tensor parameter, bool requires_grad) {
  check_new_name(name, "register_parameter");
  if (!parameter.defined()) throw Error("register_parameter: \"" + name + "\" is undefined");
  if (!parameter.is_leaf()) {
    throw Error("register_parameter: \"" + name + "\" has a grad_fn (" +
                parameter.grad_fn()->name() + "); register a leaf, e.g. its detach()");
  }
  parameter.requires_grad_(requires_grad);
  parameters_.emplace_back(name, parameter);
  return parameter;
}

Tensor Module::register_buffer(const std::string& name, Tensor buffer) {
  check_new_name(name, "register_buffer");
  if (!buffer.defined()) throw Error("register_buffer: \"" + name + "\" is undefined");
  buffers_.emplace_back(name, buffer);
  return buffer;
}

void Module::add_child(const std::string& name, std::unique_ptr<Module> child) {
  check_new_name(name, "register_module");
  child->train(training_);
  children_.emplace_back(name, std::move(child));
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect(
      *this, "", recurse, [](const Module& m) -> const NamedTensors& { return m.parameters_; },
      out);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (const auto& entry : named_parameters(recurse)) out.push_back(entry.second);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect(
      *this, "", recurse, [](const Module& m) -> const NamedTensors& { return m.buffers_; }, out);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_children() const {
  std::vector<std::pair<std::string, Module*>> out;
  for (const auto& [name, child] : children_) out.emplace_back(name, child.get());
  return out;
}

int64_t Module::num_parameters() const {
  int64_t total = 0;
  for (const Tensor& p : parameters()) total += p.numel();
  return total;
}

NamedTensors Module::state_dict() const {
  // PyTorch's order: each module's parameters, then its buffers, then its children.
  NamedTensors out;
  collect(
      *this, "", true,
      [](const Module& m) {
        NamedTensors own = m.parameters_;
        own.insert(own.end(), m.buffers_.begin(), m.buffers_.end());
        return own;
      },
      out);
  return out;
}

void Module::load_state_dict(const NamedTensors& dict, bool strict) {
  const NamedTensors own = state_dict();
  std::map<std::string, Tensor> incoming;
  for (const auto& [name, value] : dict) incoming[name] = value;
  // Check everything first, so that a failure leaves the module untouched.
  std::vector<std::string> missing, unexpected, mismatched;
  std::set<std::string> known;
  for (const auto& [name, target] : own) {
    known.insert(name);
    auto found = incoming.find(name);
    if (found == incoming.end()) {
      missing.push_back(name);
    } else if (found->second.shape() != target.shape()) {
      mismatched.push_back(name + " (expected " + ember::to_string(target.shape()) + ", got " +
                           ember::to_string(found->second.shape()) + ")");
    }
  }
  for (const auto& [name, value] : dict) {
    if (!known.count(name)) unexpected.push_back(name);
  }
  // The first 10 names, each cut to 200 bytes (between UTF-8 characters): names can come from
  // a file, and a file with many or huge names must not make a message of any size.
  auto list = [](const std::vector<std::string>& names) {
    constexpr size_t kShown = 10, kMaxBytes = 200;
    std::string s;
    for (size_t i = 0; i < names.size() && i < kShown; ++i) {
      size_t cut = std::min(names[i].size(), kMaxBytes);
      while (cut > 0 && cut < names[i].size() &&
             (static_cast<unsigned char>(names[i][cut]) & 0xc0) == 0x80) {
        --cut;
      }
      s += (s.empty() ? "" : ", ") + names[i].substr(0, cut) + (cut < names[i].size() ? "..." : "");
    }
    if (names.size() > kShown) s += ", ... (" + std::to_string(names.size()) + " in all)";
    return s;
  };
  std::string problems;
  if (strict && !missing.empty()) problems += "\n  missing keys: " + list(missing);
  if (strict && !unexpected.empty()) problems += "\n  unexpected keys: " + list(unexpected);
  if (!mismatched.empty()) problems += "\n  shape mismatches: " + list(mismatched);
  if (!problems.empty()) {
    throw Error("load_state_dict: cannot load into " + type_name() + ":" + problems);
  }
  NoGradGuard no_grad;
  for (const auto& [name, target] : own) {
    auto found = incoming.find(name);
    if (found != incoming.end()) Tensor(target).copy_(found->second);
  }
}

void Module::save(const std::string& path) const {
  save_safetensors(path, state_dict(), {{"ember_version", kVersion}, {"module", type_name()}});
}

void Module::load(const std::string& path, bool strict) {
  // load_safetensors's errors name the file; load_state_dict's do not, so they get the path here.
  const SafetensorsFile file = load_safetensors(path);
  try {
    load_state_dict(file.tensors, strict);
  } catch (const Error& error) {
    throw Error("Module::load: '" + path + "': " + error.what());
  }
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (const Tensor& p : parameters()) p.set_grad({});
}

Tensor Module::call(const Tensor& /*x*/) {
  throw Error(type_name() +
              ": has no single-tensor forward (it is not an nn::Layer), so it cannot be called "
              "as module(x); use its own forward, e.g. through a container's at<" +
              type_name() + ">(...)");
}

std::string Module::type_name() const { return type_name_of(typeid(*this)); }

std::string type_name_of(const std::type_info& type) {
  const char* mangled = type.name();
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = status == 0 ? demangled : mangled;
  std::free(demangled);
  // "ember::nn::Linear" -> "Linear"; templates keep their arguments.
  const size_t template_start = name.find('<');
  const size_t last_colon = name.rfind("::", template_start);
  return last_colon == std::string::npos ? name : name.substr(last_colon + 2);
}

std::string Module::to_string() const {
  std::string out = type_name() + "(" + extra_repr();
  if (children_.empty()) return out + ")";
  for (const auto& [name, child] : children_) {
    // Indent every line of the child's repr by two spaces, as PyTorch does.
    std::string child_text = child->to_string();
    std::string indented;
    for (char c : child_text) {
      indented += c;
      if (c == '\n') indented += "  ";
    }
    out += "\n  (" + name + "): " + indented;
  }
  return out + "\n)";
}

std::ostream& operator<<(std::ostream& os, const Module& module) {
  return os << module.to_string();
}

}  // namespace ember::nn
