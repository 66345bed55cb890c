#include <ember/train/tensorboard.h>

#include <unistd.h>

#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>

#include <ember/error.h>

namespace ember::train {
namespace {

// Byte-at-a-time CRC: table[b] is the CRC register after shifting the byte b through the
// reflected polynomial eight times, so each input byte costs one lookup.
constexpr std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? 0x82F63B78u : 0u);
    table[byte] = crc;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrc32cTable = make_crc32c_table();

// TFRecord stores CRCs rotated and offset, because a CRC over data that itself contains
// CRCs is weak (TensorFlow's core/lib/hash/crc32c.h).
uint32_t masked_crc32c(std::string_view bytes) {
  const uint32_t crc = crc32c(bytes);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

void append_little_endian(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// Protocol-buffer wire format (protobuf.dev/programming-guide/encoding): each field is a
// varint key (field_number << 3 | wire_type) followed by its payload. Wire types used here:
// 0 varint, 1 fixed 64-bit, 2 length-delimited, 5 fixed 32-bit; all little-endian.
void append_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}
void append_key(std::string& out, uint32_t field, uint32_t wire_type) {
  append_varint(out, (field << 3) | wire_type);
}
void append_bytes_field(std::string& out, uint32_t field, std::string_view bytes) {
  append_key(out, field, 2);
  append_varint(out, bytes.size());
  out.append(bytes);
}

// Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
// (tensorboard/compat/proto/event.proto). An int64 varint stores a negative step as its
// 64-bit two's complement.
std::string encode_event_header(int64_t step) {
  const double wall_time =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::string event;
  append_key(event, 1, 1);
  append_little_endian(event, std::bit_cast<uint64_t>(wall_time), 8);
  append_key(event, 2, 0);
  append_varint(event, static_cast<uint64_t>(step));
  return event;
}

// Casting a finite double beyond float's range is undefined behaviour; it becomes +-inf.
float to_float(double value) {
  if (std::isfinite(value) && std::abs(value) > std::numeric_limits<float>::max()) {
    constexpr float kInfinity = std::numeric_limits<float>::infinity();
    return value > 0 ? kInfinity : -kInfinity;
  }
  return static_cast<float>(value);
}

std::string make_event_file_name() {
  static std::atomic<int> writers_opened{0};
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  return "events.out.tfevents." + std::to_string(seconds) + "." + host.data() + "." +
         std::to_string(getpid()) + "." + std::to_string(writers_opened++);
}

}  // namespace

uint32_t crc32c(std::string_view bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (const char c : bytes)
    crc = (crc >> 8) ^ kCrc32cTable[(crc ^ static_cast<uint8_t>(c)) & 0xff];
  return crc ^ 0xFFFFFFFFu;
}

EventWriter::EventWriter(const std::string& log_dir) {
  std::error_code error;
  std::filesystem::create_directories(log_dir, error);
  if (error) {
    throw Error("EventWriter: cannot create log directory '" + log_dir + "': " + error.message());
  }
  path_ = (std::filesystem::path(log_dir) / make_event_file_name()).string();
  file_.open(path_, std::ios::binary | std::ios::trunc);
  if (!file_) throw Error("EventWriter: cannot open '" + path_ + "' for writing");
  std::string event = encode_event_header(0);
  append_bytes_field(event, 3, "brain.Event:2");
  write_record(event);
  flush();
}

// Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; }
void EventWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  std::string summary_value;
  append_bytes_field(summary_value, 1, tag);
  append_key(summary_value, 2, 5);
  append_little_endian(summary_value, std::bit_cast<uint32_t>(to_float(value)), 4);
  std::string summary;
  append_bytes_field(summary, 1, summary_value);
  std::string event = encode_event_header(step);
  append_bytes_field(event, 5, summary);
  write_record(event);
}

// TFRecord: uint64 length, uint32 masked CRC of those 8 bytes, the data, uint32 masked CRC
// of the data; all little-endian (TensorFlow's core/lib/io/record_writer.cc).
void EventWriter::write_record(std::string_view data) {
  std::string record;
  append_little_endian(record, data.size(), 8);
  append_little_endian(record, masked_crc32c(record), 4);
  record.append(data);
  append_little_endian(record, masked_crc32c(data), 4);
  if (!file_.write(record.data(), static_cast<std::streamsize>(record.size()))) {
    throw Error("EventWriter: cannot write to '" + path_ + "'");
  }
}

void EventWriter::flush() {
  if (!file_.flush()) throw Error("EventWriter: cannot write to '" + path_ + "'");
}

}  // namespace ember::train
