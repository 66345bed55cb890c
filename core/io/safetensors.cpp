// safetensors reading and writing. safetensors.h describes the format and the rules checked;
// this file explains why each rule is checked the way it is.

#include <ember/core/io/safetensors.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <ember/error.h>

namespace ember {
namespace {

// ordered_json keeps the header's key order. Zero-size tensors share an offset, so sorting by
// offset alone cannot order them; with a stable sort they keep the order they were written in.
using Json = nlohmann::ordered_json;

// The format is little-endian. Every platform ember targets (x86-64, AArch64) is too, so
// float data is copied as is instead of byte by byte.
static_assert(std::endian::native == std::endian::little,
              "ember's safetensors I/O assumes a little-endian host");

// The reference implementation's cap: a larger header means a corrupt or hostile file, and
// refusing it early avoids allocating whatever size the first 8 bytes claim.
constexpr uint64_t kMaxHeaderSize = 100'000'000;
constexpr uint64_t kMaxUint64 = std::numeric_limits<uint64_t>::max();

// The dtypes ember can load; each is converted to float32. Integers (PyTorch's int64
// num_batches_tracked, masks) load when float32 holds them exactly: |value| <= 2^24.
enum class Dtype { F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL };
struct DtypeInfo {
  std::string_view name;
  Dtype dtype;
  uint64_t size;  // bytes per element
};
constexpr DtypeInfo kLoadableDtypes[] = {{"F32", Dtype::F32, 4}, {"F64", Dtype::F64, 8},
                                         {"F16", Dtype::F16, 2}, {"BF16", Dtype::BF16, 2},
                                         {"I64", Dtype::I64, 8}, {"I32", Dtype::I32, 4},
                                         {"I16", Dtype::I16, 2}, {"I8", Dtype::I8, 1},
                                         {"U8", Dtype::U8, 1},   {"BOOL", Dtype::BOOL, 1}};
constexpr int64_t kLargestExactInteger = int64_t(1) << 24;  // float32's 24-bit significand

// One tensor as the header describes it.
struct TensorEntry {
  std::string name;
  const DtypeInfo* dtype;
  Shape shape;
  uint64_t begin, end;  // byte offsets into the data, which starts after the header
};

[[noreturn]] void fail_load(const std::string& path, const std::string& problem) {
  throw Error("load_safetensors: '" + path + "': " + problem);
}

[[noreturn]] void fail_save(const std::string& path, const std::string& problem) {
  throw Error("save_safetensors: '" + path + "': " + problem);
}

std::string system_message(int error_number) {
  return std::generic_category().message(error_number);
}

// A JSON value for an error message, cut short so a huge header cannot flood the message.
std::string excerpt(const Json& value) {
  std::string text = value.dump();
  return text.size() <= 60 ? text : text.substr(0, 57) + "...";
}

std::string offsets_text(const TensorEntry& entry) {
  // Appended piece by piece: `"[" + std::to_string(...)` trips a false -Wrestrict in GCC 12.
  std::string text = "[";
  text.append(std::to_string(entry.begin)).append(", ").append(std::to_string(entry.end));
  return text.append("]");
}

// Index of the first byte that breaks UTF-8 (a bad lead or continuation byte, a truncated
// sequence, an overlong form, a surrogate, or a code point above U+10FFFF), or npos if none.
// The reference reads the header as a Rust str, which requires exactly this.
size_t first_invalid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t length;
    uint32_t code_point, smallest;  // smallest code point that needs `length` bytes
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xe0) == 0xc0) {
      length = 2, code_point = lead & 0x1f, smallest = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3, code_point = lead & 0x0f, smallest = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4, code_point = lead & 0x07, smallest = 0x10000;
    } else {
      return i;
    }
    if (text.size() - i < length) return i;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return i;
      code_point = (code_point << 6) | (next & 0x3f);
    }
    const bool surrogate = code_point >= 0xd800 && code_point <= 0xdfff;
    if (code_point < smallest || code_point > 0x10ffff || surrogate) return i;
    i += length;
  }
  return std::string_view::npos;
}

// IEEE 754 binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
float half_to_float(uint16_t half) {
  const uint32_t sign = uint32_t(half >> 15) << 31;
  const uint32_t exponent = (half >> 10) & 0x1f;
  const uint32_t mantissa = half & 0x3ff;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, which float32 holds exactly.
    const float magnitude = float(mantissa) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 0x1f) {
    // Infinity (mantissa 0) or NaN, whose payload moves to the top of float's mantissa.
    return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  }
  // Normal: rebias the exponent from 15 to 127 and widen the mantissa from 10 to 23 bits.
  return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

// bfloat16 is the top half of a float32, so widening is a shift.
float bfloat16_to_float(uint16_t bits) { return std::bit_cast<float>(uint32_t(bits) << 16); }

// nlohmann keeps one value of a repeated key without a word; the reference rejects such a
// header, so parse with a callback that watches the keys of every object as it is read.
Json parse_header_json(const std::string& path, const std::string& text) {
  if (size_t bad = first_invalid_utf8(text); bad != std::string_view::npos) {
    const auto byte = static_cast<unsigned char>(text[bad]);
    const char* hex_digits = "0123456789abcdef";
    const std::string hex = {'0', 'x', hex_digits[byte >> 4], hex_digits[byte & 0xf]};
    fail_load(path, "header is not valid UTF-8 (byte " + hex + " at header offset " +
                        std::to_string(bad) + ")");
  }
  std::vector<std::set<std::string>> keys_of_open_objects;
  std::string duplicate_key;
  auto watch_keys = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) {
      keys_of_open_objects.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      keys_of_open_objects.pop_back();
    } else if (event == Json::parse_event_t::key) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!keys_of_open_objects.back().insert(key).second && duplicate_key.empty()) {
        duplicate_key = key;
      }
    }
    return true;
  };
  Json header;
  try {
    header = Json::parse(text, watch_keys);
  } catch (const Json::parse_error& error) {
    fail_load(path, std::string("header is not valid JSON: ") + error.what());
  }
  if (!duplicate_key.empty()) fail_load(path, "header has the key '" + duplicate_key + "' twice");
  if (!header.is_object()) {
    fail_load(path, std::string("header must be a JSON object, got a JSON ") + header.type_name());
  }
  return header;
}

std::map<std::string, std::string> parse_metadata(const std::string& path, const Json& value) {
  std::map<std::string, std::string> metadata;
  // The reference reads "__metadata__" as an optional map, so null means "no metadata".
  if (value.is_null()) return metadata;
  if (!value.is_object()) {
    fail_load(path, "\"__metadata__\" must be an object of strings, got " + excerpt(value));
  }
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      fail_load(path, "\"__metadata__\" must map strings to strings, but '" + key + "' maps to " +
                          excerpt(item));
    }
    metadata[key] = item.get<std::string>();
  }
  return metadata;
}

// Keys other than the three below are ignored, as the reference's deserializer does, so
// files from writers that add fields still load.
TensorEntry parse_tensor_entry(const std::string& path, const std::string& name, const Json& info) {
  const std::string tensor = "tensor '" + name + "'";
  if (!info.is_object()) {
    fail_load(path, tensor + " must be described by a JSON object, got " + excerpt(info));
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!info.contains(key)) fail_load(path, tensor + " has no \"" + key + "\"");
  }
  TensorEntry entry{name, nullptr, {}, 0, 0};

  const Json& dtype = info.at("dtype");
  if (!dtype.is_string()) fail_load(path, tensor + " has a non-string dtype " + excerpt(dtype));
  for (const DtypeInfo& known : kLoadableDtypes) {
    if (dtype.get_ref<const std::string&>() == known.name) entry.dtype = &known;
  }
  if (entry.dtype == nullptr) {
    fail_load(path, tensor + " has dtype " + dtype.get<std::string>() +
                        "; ember tensors are float32 and load only F32, F64, F16, BF16, I64, "
                        "I32, I16, I8, U8 and BOOL");
  }

  // is_number_unsigned() is true only for non-negative integer literals, which rules out
  // negative, fractional and out-of-range (parsed as floating point) numbers at once.
  const Json& shape = info.at("shape");
  const auto is_dimension = [](const Json& size) {
    return size.is_number_unsigned() &&
           size.get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max());
  };
  if (!shape.is_array() || !std::all_of(shape.begin(), shape.end(), is_dimension)) {
    fail_load(path, tensor + " has shape " + excerpt(shape) +
                        "; a shape must be a list of non-negative integers");
  }
  for (const Json& size : shape) entry.shape.push_back(size.get<int64_t>());

  const Json& offsets = info.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    fail_load(path, tensor + " has data_offsets " + excerpt(offsets) +
                        "; they must be two non-negative integers [begin, end]");
  }
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  return entry;
}

// Sorted by offset, the tensors must tile the data exactly: from byte 0, without gaps (bytes
// nobody owns could hide anything) or overlap (two tensors aliasing the same bytes), each
// exactly as long as its shape and dtype say. Returns where the data ends.
uint64_t check_layout(const std::string& path, std::vector<TensorEntry>& entries) {
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
  });
  uint64_t data_end = 0;
  for (const TensorEntry& entry : entries) {
    const std::string tensor =
        "tensor '" + entry.name + "' with data_offsets " + offsets_text(entry);
    if (entry.end < entry.begin) fail_load(path, tensor + " ends before it begins");
    if (entry.begin > data_end) {
      fail_load(path, "gap in the data: " + tensor + " should start at byte " +
                          std::to_string(data_end) + ", where the previous tensor ends");
    }
    if (entry.begin < data_end) {
      fail_load(path, tensor + " overlaps the previous tensor, which ends at byte " +
                          std::to_string(data_end));
    }
    // Multiply out with overflow checks: a wrapped product could match a tiny byte count.
    uint64_t bytes = entry.dtype->size;
    for (int64_t size : entry.shape) {
      if (size != 0 && bytes > kMaxUint64 / uint64_t(size)) {
        fail_load(path, "tensor '" + entry.name + "' has shape " + to_string(entry.shape) +
                            ", whose byte size overflows 64 bits");
      }
      bytes *= uint64_t(size);
    }
    if (entry.end - entry.begin != bytes) {
      fail_load(path, tensor + " spans " + std::to_string(entry.end - entry.begin) +
                          " bytes, but dtype " + std::string(entry.dtype->name) + " and shape " +
                          to_string(entry.shape) + " need " + std::to_string(bytes) + " bytes");
    }
    data_end = entry.end;
  }
  return data_end;
}

bool read_exactly(std::ifstream& file, void* destination, uint64_t bytes) {
  file.read(static_cast<char*>(destination), static_cast<std::streamsize>(bytes));
  return static_cast<bool>(file);
}

// The little-endian integer of type T at `element`, widened to int64.
template <class T>
int64_t integer_at(const unsigned char* element) {
  T value;
  std::memcpy(&value, element, sizeof value);
  return static_cast<int64_t>(value);
}

// Reads one tensor's bytes (the stream is at its first byte) and converts them to float32.
Tensor read_tensor(const std::string& path, std::ifstream& file, const TensorEntry& entry) {
  Tensor tensor = empty(entry.shape);
  float* out = tensor.data();
  const uint64_t bytes = entry.end - entry.begin;
  const auto fail_read = [&] {
    fail_load(path, "could not read the " + std::to_string(bytes) + " bytes of tensor '" +
                        entry.name + "'");
  };
  if (bytes == 0) return tensor;
  if (entry.dtype->dtype == Dtype::F32) {
    if (!read_exactly(file, out, bytes)) fail_read();
    return tensor;
  }
  std::vector<unsigned char> raw(bytes);
  if (!read_exactly(file, raw.data(), bytes)) fail_read();
  const uint64_t count = bytes / entry.dtype->size;
  // An integer element: exact in float32, and for BOOL 0 or 1, or the load fails.
  const auto integer = [&](uint64_t i, int64_t value) {
    const bool fits = entry.dtype->dtype == Dtype::BOOL
                          ? value == 0 || value == 1
                          : value >= -kLargestExactInteger && value <= kLargestExactInteger;
    if (!fits) {
      fail_load(path, "tensor '" + entry.name + "' (" + std::string(entry.dtype->name) +
                          ") holds " + std::to_string(value) + " at element " + std::to_string(i) +
                          (entry.dtype->dtype == Dtype::BOOL
                               ? ", which is not a boolean (0 or 1)"
                               : ", which float32 cannot hold exactly (integers up to 2^24 = "
                                 "16777216 in magnitude are exact)"));
    }
    return static_cast<float>(value);
  };
  for (uint64_t i = 0; i < count; ++i) {
    const unsigned char* element = raw.data() + i * entry.dtype->size;
    uint16_t bits16;
    double wide;
    switch (entry.dtype->dtype) {
      case Dtype::F64:
        std::memcpy(&wide, element, sizeof wide);
        out[i] = static_cast<float>(wide);  // rounds to nearest; out of range becomes +-inf
        break;
      case Dtype::F16:
        std::memcpy(&bits16, element, sizeof bits16);
        out[i] = half_to_float(bits16);
        break;
      case Dtype::BF16:
        std::memcpy(&bits16, element, sizeof bits16);
        out[i] = bfloat16_to_float(bits16);
        break;
      case Dtype::I64:
        out[i] = integer(i, integer_at<int64_t>(element));
        break;
      case Dtype::I32:
        out[i] = integer(i, integer_at<int32_t>(element));
        break;
      case Dtype::I16:
        out[i] = integer(i, integer_at<int16_t>(element));
        break;
      case Dtype::I8:
        out[i] = integer(i, integer_at<int8_t>(element));
        break;
      case Dtype::U8:
      case Dtype::BOOL:
        out[i] = integer(i, integer_at<uint8_t>(element));
        break;
      case Dtype::F32:
        break;  // copied directly above
    }
  }
  return tensor;
}

// Everything that can be wrong with the arguments is checked before the disk is touched.
void check_saveable(const std::string& path,
                    const std::vector<std::pair<std::string, Tensor>>& named_tensors,
                    const std::map<std::string, std::string>& metadata) {
  std::set<std::string_view> seen;
  for (const auto& [name, tensor] : named_tensors) {
    if (name.empty()) fail_save(path, "a tensor has an empty name");
    if (name == "__metadata__") {
      fail_save(path, "a tensor cannot be named \"__metadata__\"; the format reserves that key");
    }
    if (first_invalid_utf8(name) != std::string_view::npos) {
      fail_save(path, "tensor name '" + name + "' is not valid UTF-8");
    }
    if (!seen.insert(name).second) fail_save(path, "two tensors are named '" + name + "'");
    if (!tensor.defined()) fail_save(path, "tensor '" + name + "' is undefined");
    if (tensor.device() != Device::CPU) {
      fail_save(path, "tensor '" + name + "' is not on the CPU; copy it there first");
    }
  }
  for (const auto& [key, value] : metadata) {
    if (first_invalid_utf8(key) != std::string_view::npos ||
        first_invalid_utf8(value) != std::string_view::npos) {
      fail_save(path, "metadata entry '" + key + "' is not valid UTF-8");
    }
  }
}

std::string make_header(const std::vector<std::pair<std::string, Tensor>>& named_tensors,
                        const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : named_tensors) {
    const uint64_t bytes = uint64_t(tensor.numel()) * sizeof(float);
    header[name] = {
        {"dtype", "F32"}, {"shape", tensor.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  // Spaces up to a multiple of 8 make the data 8-byte aligned, as the reference writer does,
  // so readers can map any dtype in place.
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

// The name of a temporary file of `target`: "<target>.tmp.<pid>.<n>". The writer's pid and a
// counter make it unique across processes and concurrent saves, and let a later save tell
// whether the writer is still alive (remove_stale_temporaries).
constexpr std::string_view kTemporaryInfix = ".tmp.";

// The writer's pid if `name` is the file name of one of the target's temporaries: `prefix`
// (the target's file name and ".tmp."), then "<pid>.<n>" in decimal; otherwise 0.
pid_t temporary_writer(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix)) return 0;
  name.remove_prefix(prefix.size());
  const size_t dot = name.find('.');
  if (dot == std::string_view::npos) return 0;
  const auto decimal = [](std::string_view digits, auto& value) {
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    return !digits.empty() && error == std::errc() && end == digits.data() + digits.size();
  };
  uint64_t pid = 0, counter = 0;
  if (!decimal(name.substr(0, dot), pid) || !decimal(name.substr(dot + 1), counter)) return 0;
  // kill() reads 0 and negative pids as process groups: only a real pid may reach it.
  return pid > 0 && pid <= uint64_t(std::numeric_limits<pid_t>::max()) ? pid_t(pid) : 0;
}

// A save killed mid-write (SIGKILL, out of memory, power loss) leaves its temporary file
// beside the target, and nothing else ever removes it: each can be as large as a checkpoint.
// Before writing, a save removes the temporaries of its own target whose writer process no
// longer exists (kill(pid, 0) fails with ESRCH). A live writer's file is kept: EPERM means
// the process exists under another user, and a file of this process may be a concurrent save.
// Other targets' files never match the exact name. Failing to list or remove is not an error:
// the save itself does not depend on it.
void remove_stale_temporaries(const std::string& target) {
  const std::filesystem::path target_path(target);
  const std::string prefix = target_path.filename().string() + std::string(kTemporaryInfix);
  std::filesystem::path folder = target_path.parent_path();
  if (folder.empty()) folder = ".";
  std::error_code error;
  std::vector<std::filesystem::path> stale;
  for (std::filesystem::directory_iterator entry(folder, error), end; !error && entry != end;
       entry.increment(error)) {
    const pid_t writer = temporary_writer(entry->path().filename().string(), prefix);
    if (writer > 0 && ::kill(writer, 0) == -1 && errno == ESRCH) stale.push_back(entry->path());
  }
  for (const std::filesystem::path& path : stale) ::unlink(path.c_str());
}

// The temporary file a save writes first. Unless `keep()` is called after the rename, the
// destructor closes and deletes it, so every failure path cleans up.
class TemporaryFile {
 public:
  explicit TemporaryFile(const std::string& target) {
    static std::atomic<uint64_t> counter{0};
    path_ = target + std::string(kTemporaryInfix) + std::to_string(::getpid()) + "." +
            std::to_string(counter++);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd_ < 0) fail_save(target, "cannot create '" + path_ + "': " + system_message(errno));
  }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  ~TemporaryFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!kept_) ::unlink(path_.c_str());
  }

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  // Closes the descriptor, reporting errors: close is where some filesystems report them.
  bool close() {
    const int result = ::close(fd_);
    fd_ = -1;
    return result == 0;
  }
  void keep() { kept_ = true; }

 private:
  std::string path_;
  int fd_ = -1;
  bool kept_ = false;
};

void write_all(const std::string& target, const TemporaryFile& file, const void* data,
               uint64_t size) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t written = ::write(file.fd(), bytes, size);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) {
      fail_save(target, "cannot write '" + file.path() + "': " + system_message(errno));
    }
    bytes += written;
    size -= uint64_t(written);
  }
}

}  // namespace

Tensor SafetensorsFile::at(const std::string& name) const {
  for (const auto& [tensor_name, tensor] : tensors) {
    if (tensor_name == name) return tensor;
  }
  std::string names;
  for (size_t i = 0; i < tensors.size() && i < 8; ++i) {
    names += (i ? ", '" : "'") + tensors[i].first + "'";
  }
  if (tensors.size() > 8) names += ", ...";
  throw Error("SafetensorsFile::at: no tensor named '" + name + "'; the file has " +
              std::to_string(tensors.size()) + " tensors" + (tensors.empty() ? "" : ": " + names));
}

bool SafetensorsFile::contains(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(),
                     [&](const auto& named) { return named.first == name; });
}

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& named_tensors,
                      const std::map<std::string, std::string>& metadata) {
  check_saveable(path, named_tensors, metadata);
  const std::string header = make_header(named_tensors, metadata);
  const uint64_t header_size = header.size();

  remove_stale_temporaries(path);
  TemporaryFile file(path);
  write_all(path, file, &header_size, sizeof header_size);
  write_all(path, file, header.data(), header.size());
  for (const auto& [name, tensor] : named_tensors) {
    if (tensor.numel() > 0) write_all(path, file, tensor.data(), tensor.numel() * sizeof(float));
  }
  // The data must be on disk before the rename makes it the checkpoint; otherwise a crash
  // could leave the new name pointing at a file whose bytes never arrived.
  if (::fsync(file.fd()) != 0 || !file.close()) {
    fail_save(path, "cannot flush '" + file.path() + "' to disk: " + system_message(errno));
  }
  if (std::rename(file.path().c_str(), path.c_str()) != 0) {
    fail_save(path, "cannot rename '" + file.path() + "' over it: " + system_message(errno));
  }
  file.keep();

  // Flushing the folder makes the rename itself durable. The new file is in place already, so
  // a failure here is not reported: the save has succeeded as far as this process can see.
  std::filesystem::path folder = std::filesystem::path(path).parent_path();
  if (folder.empty()) folder = ".";
  const int folder_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder_fd >= 0) {
    ::fsync(folder_fd);
    ::close(folder_fd);
  }
}

SafetensorsFile load_safetensors(const std::string& path) {
  std::error_code error;
  const uint64_t file_size = std::filesystem::file_size(path, error);
  if (error) fail_load(path, "cannot read the file: " + error.message());
  std::ifstream file(path, std::ios::binary);
  if (!file) fail_load(path, "cannot open the file");

  if (file_size < 8) {
    fail_load(path, "file is " + std::to_string(file_size) +
                        " bytes, too short for the 8-byte header size");
  }
  uint64_t header_size = 0;
  if (!read_exactly(file, &header_size, sizeof header_size)) {
    fail_load(path, "could not read the header size");
  }
  if (header_size >= kMaxHeaderSize) {
    fail_load(path, "header size " + std::to_string(header_size) + " is too large (the limit is " +
                        std::to_string(kMaxHeaderSize) + " bytes)");
  }
  // Below the cap, 8 + header_size cannot overflow.
  if (8 + header_size > file_size) {
    fail_load(path, "header size " + std::to_string(header_size) + " runs past the end of the " +
                        std::to_string(file_size) + "-byte file");
  }
  std::string header_text(header_size, '\0');
  if (!read_exactly(file, header_text.data(), header_size)) {
    fail_load(path, "could not read the " + std::to_string(header_size) + "-byte header");
  }

  SafetensorsFile result;
  std::vector<TensorEntry> entries;
  const Json header = parse_header_json(path, header_text);
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      result.metadata = parse_metadata(path, value);
    } else {
      entries.push_back(parse_tensor_entry(path, key, value));
    }
  }
  const uint64_t data_size = check_layout(path, entries);
  // Trailing bytes are rejected too: the reference insists the file is exactly header + data.
  const uint64_t bytes_after_header = file_size - 8 - header_size;
  if (bytes_after_header != data_size) {
    fail_load(path, "file length does not match the header: " + std::to_string(bytes_after_header) +
                        " bytes follow the header, but the tensors' data_offsets end at " +
                        std::to_string(data_size));
  }

  for (const TensorEntry& entry : entries) {
    result.tensors.emplace_back(entry.name, read_tensor(path, file, entry));
  }
  return result;
}

}  // namespace ember
