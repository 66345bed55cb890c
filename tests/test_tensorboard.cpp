// Run logs: TensorBoard event files (CRC-32C, TFRecord framing, the Event protobuf bytes,
// file naming, errors) and the metrics.csv logger. tests/reference/read_tensorboard.py reads
// the file that "writes the event file read_tensorboard.py checks" leaves with TensorBoard.

#include <catch2/catch.hpp>

#include "temp_dir.h"

#include <unistd.h>

#include <bit>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include <ember/nn/csv.h>
#include <ember/train/csv_log.h>
#include <ember/train/tensorboard.h>

namespace fs = std::filesystem;
using namespace ember;
using Catch::Contains;

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

uint64_t read_little_endian(const std::string& bytes, size_t offset, int count) {
  uint64_t value = 0;
  for (int i = 0; i < count; ++i) {
    value |= uint64_t{static_cast<uint8_t>(bytes.at(offset + i))} << (8 * i);
  }
  return value;
}

// The TFRecord mask, written here from its definition in TensorFlow's crc32c.h.
uint32_t mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

// Splits a TFRecord file into its records' data, checking every length and CRC on the way
// and that the last record ends exactly at the end of the file.
std::vector<std::string> read_records(const std::string& path) {
  const std::string bytes = read_bytes(path);
  std::vector<std::string> records;
  size_t offset = 0;
  while (offset < bytes.size()) {
    REQUIRE(offset + 12 <= bytes.size());
    const std::string length_bytes = bytes.substr(offset, 8);
    const uint64_t length = read_little_endian(bytes, offset, 8);
    REQUIRE(read_little_endian(bytes, offset + 8, 4) == mask(train::crc32c(length_bytes)));
    REQUIRE(offset + 12 + length + 4 <= bytes.size());
    const std::string data = bytes.substr(offset + 12, length);
    REQUIRE(read_little_endian(bytes, offset + 12 + length, 4) == mask(train::crc32c(data)));
    records.push_back(data);
    offset += 12 + length + 4;
  }
  REQUIRE(offset == bytes.size());
  return records;
}

std::string bytes_of(std::initializer_list<int> values) {
  std::string bytes;
  for (const int value : values) bytes.push_back(static_cast<char>(value));
  return bytes;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::vector<std::string> event_files(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

}  // namespace

TEST_CASE("crc32c matches the check value and the RFC 3720 B.4 vectors") {
  CHECK(train::crc32c("") == 0x00000000u);
  CHECK(train::crc32c("123456789") == 0xE3069283u);
  CHECK(train::crc32c(std::string(32, '\x00')) == 0x8A9136AAu);
  CHECK(train::crc32c(std::string(32, '\xff')) == 0x62A8AB43u);
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  CHECK(train::crc32c(ascending) == 0x46DD794Eu);
  CHECK(train::crc32c(descending) == 0x113FDB5Cu);
}

TEST_CASE("event file records are framed with lengths and masked CRC-32Cs") {
  TempDir dir;
  const double before = now_seconds();
  train::EventWriter writer(dir.file("run"));
  writer.add_scalar("loss", 0.5, 300);
  writer.add_scalar("accuracy", -2.0, -1);
  writer.flush();
  const double after = now_seconds();

  const std::vector<std::string> records = read_records(writer.path());
  REQUIRE(records.size() == 3);
  for (const std::string& record : records) {
    REQUIRE(record.size() > 9);
    CHECK(record[0] == 0x09);  // field 1 (wall_time), fixed 64-bit
    const double wall_time = std::bit_cast<double>(read_little_endian(record, 1, 8));
    CHECK(wall_time >= before - 1e-3);
    CHECK(wall_time <= after + 1e-3);
  }
  // Event{step: 0, file_version: "brain.Event:2"}
  CHECK(records[0].substr(9) == bytes_of({0x10, 0x00, 0x1a, 13}) + "brain.Event:2");
  // Event{step: 300 (varint ac 02), summary: Summary{value: Value{tag: "loss",
  // simple_value: 0.5f (0x3f000000)}}}
  CHECK(records[1].substr(9) == bytes_of({0x10, 0xac, 0x02, 0x2a, 13, 0x0a, 11, 0x0a, 4}) + "loss" +
                                    bytes_of({0x15, 0x00, 0x00, 0x00, 0x3f}));
  // step -1 is the ten-byte varint of 2^64 - 1; -2.0f is 0xc0000000
  CHECK(records[2].substr(9) == bytes_of({0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0x01, 0x2a, 17, 0x0a, 15, 0x0a, 8}) +
                                    "accuracy" + bytes_of({0x15, 0x00, 0x00, 0x00, 0xc0}));
}

TEST_CASE("event writer rounds a value beyond float range to infinity") {
  TempDir dir;
  train::EventWriter writer(dir.file("run"));
  writer.add_scalar("big", 1e39, 0);
  writer.add_scalar("small", -1e39, 0);
  writer.flush();
  const std::vector<std::string> records = read_records(writer.path());
  REQUIRE(records.size() == 3);
  CHECK(records[1].substr(records[1].size() - 4) == bytes_of({0x00, 0x00, 0x80, 0x7f}));
  CHECK(records[2].substr(records[2].size() - 4) == bytes_of({0x00, 0x00, 0x80, 0xff}));
}

TEST_CASE("event writer creates the log directory and names files as TensorBoard expects") {
  TempDir dir;
  const std::string log_dir = dir.file("runs/exp1");
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  train::EventWriter first(log_dir);
  train::EventWriter second(log_dir);
  CHECK(fs::is_directory(log_dir));
  char host[256] = {};
  REQUIRE(gethostname(host, sizeof(host) - 1) == 0);
  for (const train::EventWriter* writer : {&first, &second}) {
    const std::string name = fs::path(writer->path()).filename().string();
    CHECK(fs::path(writer->path()).parent_path() == fs::path(log_dir));
    CHECK_THAT(name, Catch::StartsWith("events.out.tfevents."));
    const long long stamp = std::stoll(name.substr(std::string("events.out.tfevents.").size()));
    CHECK(stamp >= seconds);
    CHECK(stamp <= seconds + 5);
    CHECK_THAT(name, Contains("." + std::string(host) + "." + std::to_string(getpid()) + "."));
  }
  CHECK(first.path() != second.path());
  CHECK(event_files(log_dir).size() == 2);
}

TEST_CASE("event writer flushes buffered scalars when destroyed") {
  TempDir dir;
  std::string path;
  {
    train::EventWriter writer(dir.file("run"));
    for (int step = 0; step < 100; ++step) writer.add_scalar("loss", 1.0 / (step + 1), step);
    path = writer.path();
  }
  CHECK(read_records(path).size() == 101);
}

TEST_CASE("event writer throws naming a log directory it cannot create") {
  TempDir dir;
  const std::string file = dir.file("not_a_directory");
  std::ofstream(file) << "x";
  CHECK_THROWS_WITH(
      train::EventWriter(file + "/run"),
      Contains("EventWriter: cannot create log directory") && Contains(file + "/run"));
}

// Not run by default ('[.]'); the ctest tensorboard_reads_ember_events runs it by name, then
// checks the file with TensorBoard. The values are those read_tensorboard.py expects.
TEST_CASE("writes the event file read_tensorboard.py checks", "[.]") {
  const std::string log_dir = "tensorboard_events";
  fs::remove_all(log_dir);
  train::EventWriter writer(log_dir);
  for (int64_t step = 0; step < 4; ++step) {
    writer.add_scalar("loss/train", 1.0 / static_cast<double>(step + 1), step);
    writer.add_scalar("accuracy", 0.25 * static_cast<double>(step) - 3.0, step);
    writer.flush();
  }
  writer.add_scalar("lr", 1e-3, int64_t{1} << 40);  // left for the destructor to flush
}

TEST_CASE("csv logger values read back exactly with read_csv") {
  TempDir dir;
  const std::string path = dir.file("metrics.csv");
  const std::vector<float> losses{0.1f, 1.0f / 3.0f, 3.4028235e38f, 1e-45f};
  const std::vector<float> accuracies{-2.5f, 0.9999999f, 1.17549435e-38f, 123456789.0f};
  {
    train::CsvLogger logger(path);
    for (size_t epoch = 0; epoch < losses.size(); ++epoch) {
      logger.log(static_cast<int64_t>(epoch),
                 {{"train_loss", losses[epoch]}, {"accuracy", accuracies[epoch]}});
    }
    CHECK(logger.columns() == std::vector<std::string>{"epoch", "train_loss", "accuracy"});
  }
  const data::CsvTable table = data::read_csv(path);
  CHECK(table.columns == std::vector<std::string>{"epoch", "train_loss", "accuracy"});
  REQUIRE(table.values.shape() == std::vector<int64_t>{4, 3});
  const std::vector<float> values = table.values.to_vector();
  for (size_t epoch = 0; epoch < losses.size(); ++epoch) {
    CHECK(values[epoch * 3] == static_cast<float>(epoch));
    CHECK(values[epoch * 3 + 1] == losses[epoch]);
    CHECK(values[epoch * 3 + 2] == accuracies[epoch]);
  }
}

TEST_CASE("csv logger writes doubles in their shortest exact form and flushes every row") {
  TempDir dir;
  const std::string path = dir.file("metrics.csv");
  train::CsvLogger logger(path);
  logger.log(0, {{"a", 0.1}, {"b", 1.0 / 3.0}});
  // Python's repr gives the same shortest round-trip digits: repr(1/3) == '0.3333333333333333'
  CHECK(read_bytes(path) == "epoch,a,b\n0,0.1,0.3333333333333333\n");
  logger.log(1, {{"b", -1e300}, {"a", 2.0}});
  logger.log(12, {{"a", std::numeric_limits<double>::quiet_NaN()},
                  {"b", -std::numeric_limits<double>::infinity()}});
  CHECK(read_bytes(path) == "epoch,a,b\n0,0.1,0.3333333333333333\n1,2,-1e+300\n12,nan,-inf\n");
}

TEST_CASE("csv logger leaves a missing value empty") {
  TempDir dir;
  const std::string path = dir.file("metrics.csv");
  train::CsvLogger logger(path);
  logger.log(0, {{"train_loss", 0.5}, {"val_loss", 0.75}});
  logger.log(1, {{"train_loss", 0.25}});
  logger.log(2, {{"val_loss", 0.125}});
  logger.log(3, {});
  CHECK(read_bytes(path) == "epoch,train_loss,val_loss\n0,0.5,0.75\n1,0.25,\n2,,0.125\n3,,\n");
}

TEST_CASE("csv logger rejects a new column after the first row and writes nothing") {
  TempDir dir;
  const std::string path = dir.file("metrics.csv");
  train::CsvLogger logger(path);
  logger.log(0, {{"train_loss", 0.5}});
  CHECK_THROWS_WITH(logger.log(1, {{"train_loss", 0.25}, {"val_loss", 0.5}}),
                    Contains("CsvLogger::log: metric 'val_loss' is not a column"));
  CHECK(read_bytes(path) == "epoch,train_loss\n0,0.5\n");
}

TEST_CASE("csv logger rejects metric names the file cannot hold") {
  TempDir dir;
  train::CsvLogger logger(dir.file("metrics.csv"));
  CHECK_THROWS_WITH(logger.log(0, {{"", 1.0}}), Contains("a metric name is empty"));
  CHECK_THROWS_WITH(logger.log(0, {{"epoch", 1.0}}), Contains("'epoch' is the first column"));
  CHECK_THROWS_WITH(logger.log(0, {{"a,b", 1.0}}), Contains("'a,b' contains a comma"));
  CHECK_THROWS_WITH(logger.log(0, {{"a\"", 1.0}}), Contains("contains a comma, a double quote"));
  CHECK_THROWS_WITH(logger.log(0, {{"a\nb", 1.0}}), Contains("or a line break"));
  CHECK_THROWS_WITH(logger.log(0, {{"a", 1.0}, {"a", 2.0}}), Contains("'a' is given twice"));
  CHECK(logger.columns().empty());
  CHECK(read_bytes(dir.file("metrics.csv")).empty());
}

TEST_CASE("csv logger creates its folder and throws naming a path it cannot write") {
  TempDir dir;
  train::CsvLogger nested(dir.file("runs/exp1/metrics.csv"));
  CHECK(fs::exists(dir.file("runs/exp1/metrics.csv")));

  const std::string file = dir.file("not_a_directory");
  std::ofstream(file) << "x";
  CHECK_THROWS_WITH(train::CsvLogger(file + "/metrics.csv"),
                    Contains("CsvLogger: cannot create directory") && Contains(file));
  if (fs::exists("/dev/full")) {
    train::CsvLogger full("/dev/full");
    CHECK_THROWS_WITH(full.log(0, {{"loss", 1.0}}),
                      Contains("CsvLogger: cannot write to '/dev/full'"));
  }
}

TEST_CASE("csv logger resumed after an epoch keeps the rows up to it and appends") {
  TempDir dir;
  const std::string path = dir.file("metrics.csv");
  {
    train::CsvLogger logger(path);
    for (int64_t epoch = 1; epoch <= 3; ++epoch) logger.log(epoch, {{"a", 0.5 * epoch}});
  }
  train::CsvLogger resumed(path, /*last_epoch=*/2);  // epoch 3 was logged, not checkpointed
  CHECK(read_bytes(path) == "epoch,a\n1,0.5\n2,1\n");
  resumed.log(3, {{"a", 4.0}});
  CHECK(read_bytes(path) == "epoch,a\n1,0.5\n2,1\n3,4\n");
  CHECK_THROWS_WITH(resumed.log(4, {{"b", 1.0}}), Contains("'b' is not a column"));
}

TEST_CASE("csv logger resumed on a missing file starts one, and refuses a foreign file") {
  TempDir dir;
  train::CsvLogger fresh(dir.file("new.csv"), 5);
  fresh.log(6, {{"a", 1.0}});
  CHECK(read_bytes(dir.file("new.csv")) == "epoch,a\n6,1\n");
  std::ofstream(dir.file("other.csv")) << "x,y\n1,2\n";
  CHECK_THROWS_WITH(train::CsvLogger(dir.file("other.csv"), 1),
                    Contains("other.csv' is not a metrics file"));
}
