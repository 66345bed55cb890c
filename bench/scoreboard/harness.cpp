#include "harness.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>

namespace scoreboard {

nlohmann::json Stats::to_json() const {
  return {{"median_s", median},
          {"p25_s", p25},
          {"p75_s", p75},
          {"calls", calls},
          {"samples_s", samples}};
}

Stats summarize(std::vector<double> samples, int64_t calls) {
  Stats stats;
  if (samples.empty()) return stats;
  stats.samples = samples;
  stats.calls = calls;
  std::sort(samples.begin(), samples.end());
  // Linear interpolation between order statistics, as numpy.percentile does by default.
  const auto quantile = [&](double q) {
    const double at = q * double(samples.size() - 1);
    const auto below = static_cast<size_t>(std::floor(at));
    const size_t above = std::min(below + 1, samples.size() - 1);
    return samples[below] + (at - double(below)) * (samples[above] - samples[below]);
  };
  stats.median = quantile(0.5);
  stats.p25 = quantile(0.25);
  stats.p75 = quantile(0.75);
  return stats;
}

std::vector<Stats> interleave(const std::vector<Runner>& runners, const TimingOptions& options) {
  using Clock = std::chrono::steady_clock;
  const size_t n = runners.size();
  std::vector<int64_t> calls(n, 0);
  double round_seconds = 0;  // the expected length of one round
  for (size_t i = 0; i < n; ++i) {
    if (!runners[i]) continue;
    // Warm-up (caches, allocator pools, lazily built kernels), keeping the fastest call as
    // the estimate of one call's time.
    double fastest = runners[i](1), spent = fastest;
    while (spent < options.warmup_seconds) {
      const double t = runners[i](1);
      fastest = std::min(fastest, t);
      spent += t;
    }
    calls[i] = std::max<int64_t>(1, std::llround(options.sample_seconds / std::max(fastest, 1e-9)));
    round_seconds += double(calls[i]) * fastest;
  }
  const int rounds =
      std::clamp(static_cast<int>(options.budget_seconds / std::max(round_seconds, 1e-9)),
                 std::min(options.min_rounds, options.max_rounds), options.max_rounds);
  std::vector<std::vector<double>> samples(n);
  const auto start = Clock::now();
  for (int round = 0; round < rounds; ++round) {
    for (size_t i = 0; i < n; ++i) {
      if (runners[i]) samples[i].push_back(runners[i](calls[i]) / double(calls[i]));
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (round + 1 >= options.min_rounds && elapsed > 2 * options.budget_seconds) break;
  }
  std::vector<Stats> stats;
  for (size_t i = 0; i < n; ++i) stats.push_back(summarize(samples[i], calls[i]));
  return stats;
}

void Table::print() const {
  // Width in characters, counting a UTF-8 sequence (µ, ×, —) as one.
  const auto width = [](const std::string& s) {
    size_t w = 0;
    for (unsigned char c : s) w += (c & 0xC0) != 0x80;
    return w;
  };
  std::vector<size_t> widths(header_.size(), 3);
  for (size_t c = 0; c < header_.size(); ++c) widths[c] = std::max(widths[c], width(header_[c]));
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size() && c < widths.size(); ++c)
      widths[c] = std::max(widths[c], width(row[c]));
  }
  const auto print_row = [&](const std::vector<std::string>& row) {
    std::string line = "|";
    for (size_t c = 0; c < widths.size(); ++c) {
      const std::string cell = c < row.size() ? row[c] : "";
      line += " " + cell + std::string(widths[c] - width(cell), ' ') + " |";
    }
    std::puts(line.c_str());
  };
  print_row(header_);
  std::string rule = "|";
  for (size_t w : widths) rule += " " + std::string(w, '-') + " |";
  std::puts(rule.c_str());
  for (const auto& row : rows_) print_row(row);
  std::puts("");
  std::fflush(stdout);
}

std::string format(const char* pattern, ...) {
  char buffer[512];
  va_list args;
  va_start(args, pattern);
  std::vsnprintf(buffer, sizeof buffer, pattern, args);
  va_end(args);
  return buffer;
}

std::string format_time(double seconds) {
  if (seconds < 1e-6) return format("%.0f ns", seconds * 1e9);
  if (seconds < 1e-3) return format(seconds < 1e-4 ? "%.2f µs" : "%.1f µs", seconds * 1e6);
  if (seconds < 1) return format(seconds < 1e-1 ? "%.2f ms" : "%.1f ms", seconds * 1e3);
  return format("%.2f s", seconds);
}

std::string format_stats(const Stats& stats) {
  if (!stats.valid()) return "—";
  if (stats.samples.size() < 3) return format_time(stats.median);
  return format_time(stats.median) + format(" ±%.0f%%", 50 * stats.spread());
}

std::string format_ratio(double other, double ember) {
  if (!(other > 0) || !(ember > 0)) return "—";
  const double ratio = other / ember;
  return format(ratio < 10 ? "%.2fx" : "%.1fx", ratio);
}

}  // namespace scoreboard
