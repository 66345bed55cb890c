#pragma once
// ProgressBar: a one-line progress display for Trainer::fit, redrawn in place on a terminal.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include <ember/train/trainer.h>

namespace ember::train {

/// Shows the epoch, a bar over its batches, the running loss, steps per second and the
/// time left, then one summary line per epoch:
///
///   epoch  3/20 [##########..........]  20/40  loss 0.2143  812 it/s  eta 0:14
///   epoch  3/20  train/loss 0.2087  val/loss 0.2311  0.05 s
///
/// Draws only when `stream` is a terminal (so a piped or logged run stays clean), at most
/// ten times a second.
class ProgressBar : public Callback {
 public:
  /// `epochs` and `batches_per_epoch` size the bar and the estimate of the time left.
  ProgressBar(int64_t epochs, int64_t batches_per_epoch, std::FILE* stream = stderr);
  /// Whether anything is drawn (the stream is a terminal).
  bool enabled() const { return enabled_; }

  void on_step_end(const StepResult& step) override;
  void on_epoch_end(const EpochResult& epoch) override;

 private:
  using Clock = std::chrono::steady_clock;

  int64_t epochs_;
  int64_t batches_;
  std::FILE* stream_;
  bool enabled_;
  int64_t batch_in_epoch_ = 0;
  int64_t steps_ = 0;
  double loss_sum_ = 0;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_draw_{};
};

/// "m:ss" (or "h:mm:ss") for a duration in seconds.
std::string format_duration(double seconds);

}  // namespace ember::train
