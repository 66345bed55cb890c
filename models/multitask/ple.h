#pragma once
// PLE, Progressive Layered Extraction (Tang et al. 2020, "Progressive Layered Extraction
// (PLE): A Novel Multi-Task Learning (MTL) Model for Personalized Recommendations", RecSys,
// §4.2-4.3, eqs. 4-7): stacked extraction layers, each with experts of its own per task and
// shared experts. In layer j, with h_k the task-k input and h_s the shared input (both x in
// the first layer):
//
//   task k:  g_k = softmax(W_k h_k + b_k) over [task k's experts(h_k), shared experts(h_s)]
//            h_k' = Σ g_k,i · expert_i
//   shared:  g_s = softmax(W_s h_s + b_s) over [every task's experts, shared experts]
//            h_s' = Σ g_s,i · expert_i        (not in the last layer: nothing reads it)
//
// then y_k = tower_k(h_k) after the last layer. As in the paper, every gate reads its own
// branch's input (eq. 6: g^{k,j} is a function of g^{k,j-1}(x)); the gates have a bias, as
// LibMTL's nn.Linear gates do. The shared gate lists the experts task by task, then shared.

#include <cstdint>
#include <string>
#include <vector>

#include <ember/models/task.h>
#include <ember/nn/containers.h>
#include <ember/nn/linear.h>
#include <ember/nn/module.h>

namespace ember::models {

struct PLEConfig {
  int64_t inputs = 0;                       // features F
  int64_t layers = 1;                       // extraction layers L >= 1
  int64_t experts_per_task = 1;             // task-specific experts per task and layer, >= 1
  int64_t shared_experts = 1;               // shared experts per layer, >= 1
  std::vector<int64_t> expert_hidden = {};  // each expert's widths (>= 1 layer); W = back()
  std::vector<int64_t> tower_hidden = {};   // each tower's hidden widths before its output
  std::string activation = "relu";          // relu, tanh, gelu, sigmoid or leaky_relu
  float dropout = 0.f;                      // after every expert and tower activation
  std::vector<Task> tasks{};
};

/// One extraction layer of PLE (see the file comment). Parameters: "task_experts.<task>.<i>
/// .<layer>.weight", "shared_experts.<i>...", "task_gates.<task>.weight", and, unless it is
/// the last layer, "shared_gate.weight".
class ExtractionLayer : public nn::Module {
 public:
  struct Output {
    std::vector<Tensor> tasks;  // h_k' per task [B, W]
    Tensor shared;              // h_s' [B, W]; undefined in the last layer
    std::vector<Tensor> gates;  // each task's gate [B, m_t + m_s], then the shared gate
                                // [B, T m_t + m_s] unless last; rows sum to 1
  };

  /// Experts read `inputs` features; `last` drops the shared gate.
  ExtractionLayer(const PLEConfig& config, int64_t inputs, bool last);
  /// task_inputs: T tensors [B, inputs]; shared_input [B, inputs].
  Output forward(const std::vector<Tensor>& task_inputs, const Tensor& shared_input);
  /// The shared experts' and the shared gate's parameters.
  std::vector<Tensor> shared_parameters() const;

  nn::ModuleDict& task_experts;       // per task: a ModuleList of experts_per_task Sequentials
  nn::ModuleList& shared_experts;     // shared_experts Sequentials
  nn::ModuleDict& task_gates;         // per task: Linear(inputs, m_t + m_s)
  nn::Linear* shared_gate = nullptr;  // Linear(inputs, T m_t + m_s); null in the last layer
};

/// x [B, F] -> one output per task ([B, 1] regression/binary, [B, C] multiclass).
/// Parameters: "layers.<j>.<as ExtractionLayer>", "towers.<task>.<layer>.weight". Throws
/// Error for inputs, layers or expert counts < 1, no expert layers, a width < 1, an unknown
/// activation, dropout outside [0, 1), no tasks or two tasks with one name.
class PLE : public nn::Module {
 public:
  explicit PLE(PLEConfig config);
  std::vector<Tensor> forward(const Tensor& x);
  /// Per extraction layer, its gates' weights for `x` (ExtractionLayer::Output::gates).
  std::vector<std::vector<Tensor>> gate_weights(const Tensor& x);
  /// The shared experts and shared gates of every layer: the parameters the paper shares
  /// between tasks, what a JacobianBalancer takes as `shared`. (A task's own experts below
  /// the last layer also reach the other tasks, through the shared gate; they are not
  /// included, as in the paper's split into task-specific and shared parts.)
  std::vector<Tensor> shared_parameters() const;
  const PLEConfig& config() const { return config_; }

  nn::ModuleList& layers;  // L ExtractionLayers
  nn::ModuleDict& towers;  // Sequential per task

 private:
  // Runs the extraction layers on x; the last layer's output.
  ExtractionLayer::Output extract(const Tensor& x, std::vector<std::vector<Tensor>>* gates);

  PLEConfig config_;
};

}  // namespace ember::models
