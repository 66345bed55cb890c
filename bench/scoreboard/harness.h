#pragma once
// Timing, statistics and output for bench_scoreboard: interleaved repetitions of several
// runners, their medians and spreads, markdown tables.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace scoreboard {

/// Seconds per call of one runner: the median of its samples (one sample = `calls` calls
/// back to back), the quartiles, and every sample.
struct Stats {
  double median = 0, p25 = 0, p75 = 0;
  int64_t calls = 0;
  std::vector<double> samples;
  bool valid() const { return !samples.empty(); }
  /// (p75 - p25) / median: the interquartile spread, as a fraction of the median.
  double spread() const { return median > 0 ? (p75 - p25) / median : 0; }
  nlohmann::json to_json() const;
};

Stats summarize(std::vector<double> samples, int64_t calls);

/// Runs `calls` repetitions of something and returns the seconds they took.
using Runner = std::function<double(int64_t calls)>;

struct TimingOptions {
  double sample_seconds = 0.02;  // each sample lasts about this long (at least one call)
  double warmup_seconds = 0.05;  // per runner, before calibration (at least one call)
  int max_rounds = 15;
  int min_rounds = 3;
  double budget_seconds = 6;  // rounds stop at max_rounds or after this much time
};

/// Warms up every runner, picks each one's calls per sample, then takes samples in rounds:
/// runner 0, runner 1, ..., runner 0, runner 1, ... so that load from elsewhere on the machine
/// falls on all of them alike. A null runner gets an empty Stats.
std::vector<Stats> interleave(const std::vector<Runner>& runners, const TimingOptions& options);

/// A markdown table, columns padded to their widest cell.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

/// printf into a std::string.
std::string format(const char* pattern, ...) __attribute__((format(printf, 1, 2)));
/// A time in the unit that suits it: "812 ns", "13.2 µs", "4.41 ms", "1.73 s".
std::string format_time(double seconds);
/// A median with its spread: "13.2 µs ±3%".
std::string format_stats(const Stats& stats);
/// other / ember as "15.2x" (how many times longer `other` takes), or "—" when either is missing.
std::string format_ratio(double other, double ember);

}  // namespace scoreboard
