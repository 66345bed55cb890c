#include <ember/train/run_logger.h>

#include <utility>
#include <vector>

namespace ember::train {

RunLogger::RunLogger(const std::string& run_dir)
    : csv_(run_dir + "/metrics.csv"), events_(run_dir + "/tensorboard") {}

RunLogger::RunLogger(const std::string& run_dir, int64_t last_epoch)
    : csv_(run_dir + "/metrics.csv", last_epoch), events_(run_dir + "/tensorboard") {}

void RunLogger::on_epoch_end(const EpochResult& epoch) {
  std::vector<std::pair<std::string, double>> row(epoch.metrics.begin(), epoch.metrics.end());
  row.emplace_back("seconds", epoch.seconds);
  csv_.log(epoch.epoch + 1, row);
  for (const auto& [name, value] : row) events_.add_scalar(name, value, epoch.epoch + 1);
  events_.flush();
}

}  // namespace ember::train
