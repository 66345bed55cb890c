#pragma once
// What bench_scoreboard measures, in terms every peer understands: a Case (model, size, train
// or infer), the peers that time it, and named float arrays for the correctness check.
//
// Models (PyTorch's default init, the seed's step definitions):
//   multitask    the seed MultiTaskModel at any size: trunk I -> H -> F (ReLU between), three
//                F -> 1 heads; loss = sum over tasks of MSE; SGD, lr 0.01
//   ensemble     the seed EnsembleModel at any size: K members I -> H -> 1 (ReLU between), the
//                prediction their mean; loss = MSE of the mean; SGD, lr 0.01
//   ensembles_k  K members I -> H -> 1 each fit to the target; loss = the mean over members of
//                their MSE; Adam, lr 1e-3
// A train call is one step (zero_grad, forward, loss, backward, optimizer step); an infer call
// is a forward without autograd. Parameters travel in the models' parameters() order: per
// layer weight [out, in] then bias [out]; trunk before heads; member after member.
//
// The whole runs (main.cpp's runs section) also train on scikit-learn's digits, as every peer
// reads them from digits_table().

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace scoreboard {

struct Case {
  std::string model;  // multitask, ensemble or ensembles_k
  std::string mode;   // train or infer
  int64_t batch = 10, inputs = 10, hidden = 50, features = 1, members = 1;

  nlohmann::json to_json() const;
  /// "(256; 256-1024-256)": batch; the widths.
  std::string size_label() const;
};

/// A float array with its shape, row-major.
struct Array {
  std::vector<int64_t> shape;
  std::vector<float> values;
};
using Arrays = std::vector<std::pair<std::string, Array>>;

/// The array called `name`; throws std::runtime_error when there is none.
const Array& find(const Arrays& arrays, const std::string& name);

/// scikit-learn's digits as the repository ships them (data/digits.csv.gz, read by ember's
/// read_csv): [1797, 67], per row the 64 pixels (0 ... 16), then digit, odd (digit % 2) and
/// high (digit >= 5). Throws ember::Error when the file cannot be read, std::runtime_error
/// when its columns are not these.
Array digits_table();

/// A participant in the timings. prepare() builds a case's model, data and optimizer (false:
/// this peer does not run such a case); time() runs it `calls` times and returns the seconds.
class Peer {
 public:
  virtual ~Peer() = default;
  virtual std::string name() const = 0;
  virtual void set_threads(int threads) = 0;
  virtual bool prepare(const Case& c) = 0;
  virtual double time(int64_t calls) = 0;
};

/// A peer that is a reference implementation too (libtorch, PyTorch): it computes what
/// ember's results are checked against, and times whole training runs.
class ReferencePeer : public Peer {
 public:
  /// From `input` ("param.<name>" in parameters() order, "x", "target.<t>"): "output.<t>",
  /// "grad.<name>" of one backward of the loss, "losses" [10] of ten training steps from the
  /// same start, and "step10.<name>", the parameters after them.
  virtual Arrays reference(const Case& c, const Arrays& input) = 0;
  /// Wall seconds of a whole run (bench/scoreboard/main.cpp describes them).
  virtual double whole_run(const std::string& name, const nlohmann::json& arguments) = 0;
  /// Versions and settings, for the machine table.
  virtual std::string description() const = 0;
};

}  // namespace scoreboard
