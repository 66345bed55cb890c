#include <ember/error.h>
#include <ember/train/progress.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace ember::train {

std::string format_duration(double seconds) {
  const auto total = static_cast<int64_t>(std::max(0.0, std::round(seconds)));
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof(text), "%lld:%02lld:%02lld", static_cast<long long>(total / 3600),
                  static_cast<long long>(total / 60 % 60), static_cast<long long>(total % 60));
  } else {
    std::snprintf(text, sizeof(text), "%lld:%02lld", static_cast<long long>(total / 60),
                  static_cast<long long>(total % 60));
  }
  return text;
}

ProgressBar::ProgressBar(int64_t epochs, int64_t batches_per_epoch, std::FILE* stream)
    : epochs_(epochs),
      batches_(batches_per_epoch),
      stream_(stream),
      enabled_(stream != nullptr && isatty(fileno(stream))) {
  if (epochs < 0 || batches_per_epoch < 1) {
    throw Error("ProgressBar: needs epochs >= 0 and batches_per_epoch >= 1, got " +
                std::to_string(epochs) + " and " + std::to_string(batches_per_epoch));
  }
}

void ProgressBar::on_step_end(const StepResult& step) {
  ++batch_in_epoch_;
  ++steps_;
  loss_sum_ += step.loss;
  if (!enabled_) return;
  const Clock::time_point now = Clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100) && batch_in_epoch_ < batches_) return;
  last_draw_ = now;

  constexpr int kWidth = 20;
  const int filled = static_cast<int>(kWidth * std::min(batch_in_epoch_, batches_) / batches_);
  const std::string bar = std::string(filled, '#') + std::string(kWidth - filled, '.');
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(steps_) / elapsed : 0.0;
  const double steps_left =
      static_cast<double>((epochs_ - step.epoch) * batches_ - batch_in_epoch_);
  const std::string eta = rate > 0 ? format_duration(std::max(0.0, steps_left) / rate) : "?";
  std::fprintf(stream_, "\r\033[Kepoch %3lld/%lld [%s] %4lld/%lld  loss %.4g  %.0f it/s  eta %s",
               static_cast<long long>(step.epoch + 1), static_cast<long long>(epochs_), bar.c_str(),
               static_cast<long long>(batch_in_epoch_), static_cast<long long>(batches_),
               loss_sum_ / static_cast<double>(batch_in_epoch_), rate, eta.c_str());
  std::fflush(stream_);
}

void ProgressBar::on_epoch_end(const EpochResult& epoch) {
  batch_in_epoch_ = 0;
  loss_sum_ = 0;
  if (!enabled_) return;
  std::string summary;
  for (const char* name : {"train/loss", "val/loss"}) {
    const auto found = epoch.metrics.find(name);
    if (found == epoch.metrics.end()) continue;
    char value[64];
    std::snprintf(value, sizeof(value), "  %s %.4g", name, found->second);
    summary += value;
  }
  std::fprintf(stream_, "\r\033[Kepoch %3lld/%lld%s  %.2f s\n",
               static_cast<long long>(epoch.epoch + 1), static_cast<long long>(epochs_),
               summary.c_str(), epoch.seconds);
  std::fflush(stream_);
}

}  // namespace ember::train
