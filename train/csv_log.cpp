#include <ember/train/csv_log.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <filesystem>
#include <fstream>

#include <ember/error.h>

namespace ember::train {
namespace {

// std::to_chars without a precision prints the shortest digits that parse back to the same
// double (and "nan", "inf", "-inf" for the non-finite values).
std::string format_shortest(double value) {
  std::array<char, 32> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return std::string(buffer.data(), result.ptr);
}

void check_metric_name(const std::string& name) {
  if (name.empty()) throw Error("CsvLogger::log: a metric name is empty");
  if (name == "epoch") throw Error("CsvLogger::log: 'epoch' is the first column, not a metric");
  if (name.find_first_of(",\"\r\n") != std::string::npos) {
    throw Error("CsvLogger::log: metric name '" + name +
                "' contains a comma, a double quote or a line break");
  }
}

}  // namespace

CsvLogger::CsvLogger(const std::string& path) : path_(path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error) {
      throw Error("CsvLogger: cannot create directory '" + parent.string() +
                  "': " + error.message());
    }
  }
  file_.open(path, std::ios::trunc);
  if (!file_) throw Error("CsvLogger: cannot open '" + path + "' for writing");
}

CsvLogger::CsvLogger(const std::string& path, int64_t last_epoch) : path_(path) {
  std::string kept;
  if (std::ifstream existing{path}) {
    std::string line;
    while (std::getline(existing, line)) {
      if (columns_.empty()) {
        for (size_t start = 0, comma = 0; comma != std::string::npos; start = comma + 1) {
          comma = line.find(',', start);
          columns_.push_back(line.substr(start, comma - start));
        }
        if (columns_.front() != "epoch") {
          throw Error("CsvLogger: '" + path + "' is not a metrics file (its first column is '" +
                      columns_.front() + "', not 'epoch')");
        }
      } else {
        int64_t epoch = 0;
        const auto parsed = std::from_chars(line.data(), line.data() + line.size(), epoch);
        if (parsed.ec != std::errc() || epoch > last_epoch) break;
      }
      kept += line + '\n';
    }
  }
  file_.open(path, std::ios::trunc);
  if (!file_ || !file_.write(kept.data(), static_cast<std::streamsize>(kept.size())) ||
      !file_.flush()) {
    throw Error("CsvLogger: cannot rewrite '" + path + "'");
  }
}

void CsvLogger::log(int64_t epoch, const std::vector<std::pair<std::string, double>>& metrics) {
  for (size_t i = 0; i < metrics.size(); ++i) {
    check_metric_name(metrics[i].first);
    for (size_t j = 0; j < i; ++j) {
      if (metrics[j].first == metrics[i].first) {
        throw Error("CsvLogger::log: metric '" + metrics[i].first + "' is given twice");
      }
    }
  }
  std::string text;
  if (columns_.empty()) {
    columns_.push_back("epoch");
    text += "epoch";
    for (const auto& [name, value] : metrics) {
      columns_.push_back(name);
      text += "," + name;
    }
    text += '\n';
  } else {
    for (const auto& [name, value] : metrics) {
      if (std::find(columns_.begin(), columns_.end(), name) == columns_.end()) {
        throw Error("CsvLogger::log: metric '" + name +
                    "' is not a column of the header written at the first row");
      }
    }
  }
  text += std::to_string(epoch);
  for (size_t column = 1; column < columns_.size(); ++column) {
    text += ',';
    const auto metric = std::find_if(metrics.begin(), metrics.end(), [&](const auto& entry) {
      return entry.first == columns_[column];
    });
    if (metric != metrics.end()) text += format_shortest(metric->second);
  }
  text += '\n';
  if (!file_.write(text.data(), static_cast<std::streamsize>(text.size())) || !file_.flush()) {
    throw Error("CsvLogger: cannot write to '" + path_ + "'");
  }
}

}  // namespace ember::train
