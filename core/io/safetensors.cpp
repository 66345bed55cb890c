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
#include <new>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <ember/error.h>

namespace ember {
namespace {

// ordered_json writes the header's keys in the order the tensors are given. The reader sees
// keys in file order anyway: it takes the header as a stream of events (HeaderReader).
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

// The longest piece of file content (a tensor name, a key, a JSON value, the JSON parser's
// message) an error quotes: a hostile header cannot make an error message of any size.
constexpr size_t kMaxExcerpt = 200;

// `text` for an error message: whole if short, else its first kMaxExcerpt bytes (cut between
// characters, not inside one) and its full length.
std::string excerpt(std::string_view text) {
  if (text.size() <= kMaxExcerpt) return std::string(text);
  size_t cut = kMaxExcerpt;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;
  std::string shown(text.substr(0, cut));
  return shown.append("... (").append(std::to_string(text.size())).append(" bytes in all)");
}

// "1 byte", "7 bytes".
std::string count_text(uint64_t count, const std::string& noun) {
  return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

std::string tensor_text(std::string_view name) { return "tensor '" + excerpt(name) + "'"; }

// A shape for an error message: its first 8 sizes at most, and how many there are.
std::string shape_text(const Shape& shape) {
  constexpr size_t kShown = 8;
  if (shape.size() <= kShown) return to_string(shape);
  std::string text = to_string(Shape(shape.begin(), shape.begin() + kShown));
  text.pop_back();  // the closing bracket
  return text.append(", ...] (").append(std::to_string(shape.size())).append(" sizes)");
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

// serde_json, which the reference parses headers with, has a recursion budget of 128 levels
// too; a valid header nests 3 deep (header, tensor entry, shape).
constexpr size_t kMaxNesting = 128;

// What a value in the header is for, which decides what it may be.
enum class Slot {
  Header,         // the whole header: an object
  TensorEntry,    // a tensor's description: an object
  Metadata,       // "__metadata__": an object of strings, or null
  MetadataValue,  // one metadata string
  Dtype,          // "dtype": a string naming a loadable dtype
  Shape,          // "shape": an array of sizes
  ShapeSize,      // one size: an integer in [0, 2^63)
  DataOffsets,    // "data_offsets": an array of two offsets
  Offset,         // one offset: a non-negative integer
  Ignored,        // under a key the reference ignores: any JSON value
};

// The slot of a tensor entry's value under `key`. Other keys are ignored, as the reference's
// deserializer does, so files from writers that add fields still load.
Slot entry_field_slot(const std::string& key) {
  if (key == "dtype") return Slot::Dtype;
  if (key == "shape") return Slot::Shape;
  if (key == "data_offsets") return Slot::DataOffsets;
  return Slot::Ignored;
}

// What the header describes: the tensors in header order, and the metadata.
struct Header {
  std::vector<TensorEntry> entries;
  std::map<std::string, std::string> metadata;
};

// Reads the header as a stream of JSON events (nlohmann's SAX interface) and checks each
// value against the schema as it arrives. No JSON tree is built: time and memory grow linearly
// with the header, nothing recurses however deep the nesting, and an error quotes only the
// value at fault, shortened. Each check throws Error through fail_load; the parser lets it pass.
class HeaderReader {
 public:
  HeaderReader(const std::string& path, Header& header) : path_(path), header_(header) {}

  // The events nlohmann::json::sax_parse reports, in document order.
  bool start_object(size_t /*size unknown for JSON text*/) {
    const Slot slot = next_slot();
    if (slot == Slot::TensorEntry) {
      entry_ = TensorEntry{key_, nullptr, {}, 0, 0};
      offsets_read_ = 0;
    } else if (slot != Slot::Header && slot != Slot::Metadata && slot != Slot::Ignored) {
      refuse(slot, "a JSON object");
    }
    open(slot, Slot::Ignored);  // each key sets the slot of the value after it
    return true;
  }

  bool key(std::string& key) {
    Container& object = open_.back();
    // nlohmann would keep one value of a repeated key without a word; the reference refuses it.
    if (!object.keys.insert(key).second) fail("header has the key '" + excerpt(key) + "' twice");
    if (object.slot == Slot::Header) {
      object.next = key == "__metadata__" ? Slot::Metadata : Slot::TensorEntry;
    } else if (object.slot == Slot::TensorEntry) {
      object.next = entry_field_slot(key);
    } else {
      object.next = object.slot == Slot::Metadata ? Slot::MetadataValue : Slot::Ignored;
    }
    key_ = std::move(key);
    return true;
  }

  bool end_object() {
    if (open_.back().slot == Slot::TensorEntry) {
      for (const char* field : {"dtype", "shape", "data_offsets"}) {
        if (!open_.back().keys.contains(field)) {
          fail(tensor_text(entry_.name) + " has no \"" + field + "\"");
        }
      }
      header_.entries.push_back(std::move(entry_));
    }
    open_.pop_back();
    return true;
  }

  bool start_array(size_t /*size unknown for JSON text*/) {
    const Slot slot = next_slot();
    if (slot == Slot::Shape) {
      open(slot, Slot::ShapeSize);
    } else if (slot == Slot::DataOffsets) {
      open(slot, Slot::Offset);
    } else if (slot == Slot::Ignored) {
      open(slot, Slot::Ignored);
    } else {
      refuse(slot, "a JSON array");
    }
    return true;
  }

  bool end_array() {
    if (open_.back().slot == Slot::DataOffsets && offsets_read_ != 2) {
      fail("the data_offsets of " + tensor_text(entry_.name) + " hold " +
           count_text(offsets_read_, "number") +
           "; they must be two non-negative integers [begin, end]");
    }
    open_.pop_back();
    return true;
  }

  bool string(std::string& value) {
    const Slot slot = next_slot();
    if (slot == Slot::Dtype) {
      entry_.dtype = find_dtype(value);
    } else if (slot == Slot::MetadataValue) {
      header_.metadata.emplace(std::move(key_), std::move(value));
    } else if (slot != Slot::Ignored) {
      refuse(slot, "the JSON string \"" + excerpt(value) + "\"");
    }
    return true;
  }

  // nlohmann reports a non-negative integer literal here, a negative one as number_integer, and
  // any other number (a fraction, an exponent, an integer beyond 64 bits) as number_float.
  bool number_unsigned(uint64_t value) {
    const Slot slot = next_slot();
    if (slot == Slot::ShapeSize && value <= uint64_t(std::numeric_limits<int64_t>::max())) {
      entry_.shape.push_back(int64_t(value));
    } else if (slot == Slot::Offset) {
      if (offsets_read_ == 2) {
        fail("the data_offsets of " + tensor_text(entry_.name) +
             " hold more than two numbers; they must be two non-negative integers [begin, end]");
      }
      (offsets_read_++ == 0 ? entry_.begin : entry_.end) = value;
    } else if (slot != Slot::Ignored) {
      refuse(slot, "the JSON number " + std::to_string(value));
    }
    return true;
  }
  bool number_integer(int64_t value) { return other("the JSON number " + std::to_string(value)); }
  bool number_float(double /*value*/, const std::string& text) {
    return other("the JSON number " + excerpt(text));
  }
  bool boolean(bool value) { return other(value ? "JSON true" : "JSON false"); }
  bool null() {
    // The reference reads "__metadata__" as an optional map, so null means "no metadata".
    return next_slot() == Slot::Metadata || other("JSON null");
  }
  // Required by the SAX interface; JSON text has no binary values, so the parser never calls it.
  bool binary(Json::binary_t& /*value*/) { return other("a binary value"); }

  // Syntax errors, and numbers beyond double range (1e999), which nlohmann reports here too.
  bool parse_error(size_t /*position*/, const std::string& /*last_token*/,
                   const Json::exception& error) {
    fail(std::string("header is not valid JSON: ") + excerpt(error.what()));
  }

 private:
  // An open JSON object or array.
  struct Container {
    Slot slot;                             // what the object or array is for
    Slot next;                             // the slot of its next value
    std::unordered_set<std::string> keys;  // an object's keys so far
  };

  [[noreturn]] void fail(const std::string& problem) const { fail_load(path_, problem); }

  Slot next_slot() const { return open_.empty() ? Slot::Header : open_.back().next; }

  void open(Slot slot, Slot next) {
    if (open_.size() == kMaxNesting) {
      fail("header nests JSON arrays and objects more than " + std::to_string(kMaxNesting) +
           " deep (a valid header needs 3)");
    }
    open_.push_back({slot, next, {}});
  }

  // A value (a scalar other than a string or a non-negative integer) only ignored keys accept.
  bool other(const std::string& description) {
    if (next_slot() != Slot::Ignored) refuse(next_slot(), description);
    return true;
  }

  const DtypeInfo* find_dtype(const std::string& name) const {
    for (const DtypeInfo& known : kLoadableDtypes) {
      if (name == known.name) return &known;
    }
    fail(tensor_text(entry_.name) + " has dtype " + excerpt(name) +
         "; ember tensors are float32 and load only F32, F64, F16, BF16, I64, I32, I16, I8, U8 "
         "and BOOL");
  }

  // The error for a value, described by `found`, that `slot` does not accept. Slot::Ignored
  // accepts everything, so it never comes here.
  [[noreturn]] void refuse(Slot slot, const std::string& found) const {
    const std::string tensor = tensor_text(slot == Slot::TensorEntry ? key_ : entry_.name);
    if (slot == Slot::Header) fail("header must be a JSON object, got " + found);
    if (slot == Slot::TensorEntry) {
      fail(tensor + " must be described by a JSON object, got " + found);
    }
    if (slot == Slot::Metadata) {
      fail("\"__metadata__\" must be an object of strings (or null), got " + found);
    }
    if (slot == Slot::MetadataValue) {
      const bool tensor_field = key_ == "dtype" || key_ == "shape" || key_ == "data_offsets";
      fail("\"__metadata__\" must map strings to strings, but '" + excerpt(key_) + "' maps to " +
           found +
           (tensor_field ? " (\"__metadata__\" is reserved for the metadata; no tensor can have "
                           "that name)"
                         : ""));
    }
    if (slot == Slot::Dtype) fail(tensor + " has a non-string dtype: " + found);
    if (slot == Slot::Shape || slot == Slot::ShapeSize) {
      fail("the shape of " + tensor + (slot == Slot::Shape ? " is " : " holds ") + found +
           "; a shape must be a list of non-negative integers below 2^63");
    }
    fail("the data_offsets of " + tensor + (slot == Slot::DataOffsets ? " are " : " hold ") +
         found + "; they must be two non-negative integers [begin, end]");
  }

  const std::string& path_;
  Header& header_;
  std::vector<Container> open_;  // the objects and arrays around the next value, outermost first
  std::string key_;              // the latest key
  TensorEntry entry_;            // the tensor entry being read
  int offsets_read_ = 0;         // how many of its data_offsets have been read
};

// The UTF-8 check comes first because the reference reads the header as a Rust str, which
// requires exactly valid UTF-8.
Header read_header(const std::string& path, const std::string& text) {
  if (size_t bad = first_invalid_utf8(text); bad != std::string_view::npos) {
    const auto byte = static_cast<unsigned char>(text[bad]);
    const char* hex_digits = "0123456789abcdef";
    const std::string hex = {'0', 'x', hex_digits[byte >> 4], hex_digits[byte & 0xf]};
    fail_load(path, "header is not valid UTF-8 (byte " + hex + " at header offset " +
                        std::to_string(bad) + ")");
  }
  Header header;
  HeaderReader reader(path, header);
  Json::sax_parse(text, &reader);
  return header;
}

// Whether `shape` is too large to describe: the product of its non-zero sizes must fit int64
// (ember's element count) and, times the dtype size, 64 bits of bytes.
//
// This is the reference implementation's rule (Metadata::validate multiplies the sizes in order
// with checked multiplication, then by the dtype size) with zero sizes left out of the product.
// In order, the reference and PyTorch (1.13's torch.empty) accept [0, 2^62, 2^62] and refuse
// [2^62, 2^62, 0], the same sizes; without the zeros the verdict is the same for every order,
// and here both are refused. Accepting both instead would overflow ember's own in-order products
// (numel_of, strides), which never exceed the product checked here.
bool shape_overflows(const Shape& shape, uint64_t dtype_size) {
  constexpr uint64_t kMaxElements = std::numeric_limits<int64_t>::max();
  uint64_t elements = 1;
  for (int64_t size : shape) {
    if (size == 0) continue;
    if (elements > kMaxElements / uint64_t(size)) return true;
    elements *= uint64_t(size);
  }
  return elements > kMaxUint64 / dtype_size;
}

// Sorted by offset, the tensors must tile the data exactly: from byte 0, without gaps (bytes
// nobody owns could hide anything) or overlap (two tensors aliasing the same bytes), each
// exactly as long as its shape and dtype say. Returns where the data ends. Zero-size tensors
// share an offset, so the sort is stable: they keep their header order. Writers list tensors
// in offset order, so the sort is usually skipped.
uint64_t check_layout(const std::string& path, std::vector<TensorEntry>& entries) {
  const auto by_offsets = [](const TensorEntry& a, const TensorEntry& b) {
    return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
  };
  if (!std::is_sorted(entries.begin(), entries.end(), by_offsets)) {
    std::stable_sort(entries.begin(), entries.end(), by_offsets);
  }
  uint64_t data_end = 0;
  for (const TensorEntry& entry : entries) {
    const auto tensor = [&] {
      return tensor_text(entry.name) + " with data_offsets " + offsets_text(entry);
    };
    if (entry.end < entry.begin) fail_load(path, tensor() + " ends before it begins");
    if (entry.begin > data_end) {
      fail_load(path, "gap in the data: " + tensor() + " should start at byte " +
                          std::to_string(data_end) + ", where the previous tensor ends");
    }
    if (entry.begin < data_end) {
      fail_load(path, tensor() + " overlaps the previous tensor, which ends at byte " +
                          std::to_string(data_end));
    }
    // A wrapped product could match a tiny byte count, so overflow is refused first.
    if (shape_overflows(entry.shape, entry.dtype->size)) {
      fail_load(path, tensor_text(entry.name) + " has shape " + shape_text(entry.shape) +
                          ", whose element count or byte size overflows 64 bits");
    }
    const uint64_t bytes = uint64_t(numel_of(entry.shape)) * entry.dtype->size;
    if (entry.end - entry.begin != bytes) {
      fail_load(path, tensor() + " spans " + std::to_string(entry.end - entry.begin) +
                          " bytes, but dtype " + std::string(entry.dtype->name) + " and shape " +
                          shape_text(entry.shape) + " need " + std::to_string(bytes) + " bytes");
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

// Data in another dtype than F32 is read through a buffer of at most this many bytes (a
// multiple of every dtype size) and converted, so it costs little beyond the float32 tensor.
constexpr uint64_t kConversionBuffer = uint64_t(1) << 20;

// Reads one tensor's bytes (the stream is at its first byte) and converts them to float32.
// The layout and the file size have been checked, so the tensor is at most 4 times the bytes
// it is read from (float32 from U8), which the file holds.
Tensor read_tensor(const std::string& path, std::ifstream& file, const TensorEntry& entry) {
  const uint64_t bytes = entry.end - entry.begin;
  Tensor tensor;
  try {
    tensor = empty(entry.shape);
  } catch (const std::bad_alloc&) {
    fail_load(path, "out of memory: " + tensor_text(entry.name) + " of shape " +
                        shape_text(entry.shape) + " needs " +
                        std::to_string(uint64_t(numel_of(entry.shape)) * sizeof(float)) +
                        " bytes as float32");
  }
  float* out = tensor.data();
  const auto fail_read = [&] {
    fail_load(path, "could not read the " + std::to_string(bytes) + " bytes of " +
                        tensor_text(entry.name));
  };
  if (bytes == 0) return tensor;
  if (entry.dtype->dtype == Dtype::F32) {
    if (!read_exactly(file, out, bytes)) fail_read();
    return tensor;
  }
  // An integer element: exact in float32, and for BOOL 0 or 1, or the load fails.
  const auto integer = [&](uint64_t i, int64_t value) {
    const bool fits = entry.dtype->dtype == Dtype::BOOL
                          ? value == 0 || value == 1
                          : value >= -kLargestExactInteger && value <= kLargestExactInteger;
    if (!fits) {
      fail_load(path, tensor_text(entry.name) + " (" + std::string(entry.dtype->name) + ") holds " +
                          std::to_string(value) + " at element " + std::to_string(i) +
                          (entry.dtype->dtype == Dtype::BOOL
                               ? ", which is not a boolean (0 or 1)"
                               : ", which float32 cannot hold exactly (integers up to 2^24 = "
                                 "16777216 in magnitude are exact)"));
    }
    return static_cast<float>(value);
  };
  const uint64_t element_size = entry.dtype->size;
  const uint64_t count = bytes / element_size;
  std::vector<unsigned char> raw(std::min(bytes, kConversionBuffer));
  for (uint64_t first = 0; first < count;) {
    const uint64_t chunk = std::min(count - first, raw.size() / element_size);
    if (!read_exactly(file, raw.data(), chunk * element_size)) fail_read();
    for (uint64_t i = first; i < first + chunk; ++i) {
      const unsigned char* element = raw.data() + (i - first) * element_size;
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
    first += chunk;
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
    names += (i ? ", '" : "'") + excerpt(tensors[i].first) + "'";
  }
  if (tensors.size() > 8) names += ", ...";
  throw Error("SafetensorsFile::at: no tensor named '" + excerpt(name) + "'; the file has " +
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
  // The reference checks 8 + N with checked addition; a size that wraps gets its own message.
  if (header_size > kMaxUint64 - 8) {
    fail_load(path, "header size " + std::to_string(header_size) +
                        " overflows 64 bits when the 8 bytes before the header are added");
  }
  if (header_size >= kMaxHeaderSize) {
    fail_load(path, "header size " + std::to_string(header_size) + " is too large (the limit is " +
                        std::to_string(kMaxHeaderSize) + " bytes)");
  }
  if (8 + header_size > file_size) {
    fail_load(path, "header size " + std::to_string(header_size) + " runs past the end of the " +
                        std::to_string(file_size) + "-byte file");
  }

  // Everything allocated until the tensors are read is proportional to the header, which the
  // file holds; still, a large header on a small machine is an Error too, not std::bad_alloc.
  SafetensorsFile result;
  Header header;
  try {
    std::string header_text(header_size, '\0');
    if (!read_exactly(file, header_text.data(), header_size)) {
      fail_load(path, "could not read the " + std::to_string(header_size) + "-byte header");
    }
    header = read_header(path, header_text);
    result.tensors.reserve(header.entries.size());
  } catch (const std::bad_alloc&) {
    fail_load(path, "out of memory reading the " + std::to_string(header_size) + "-byte header");
  }
  result.metadata = std::move(header.metadata);

  // Sizes are checked against the file before any tensor is allocated, so a header claiming
  // more data than the file holds costs nothing.
  const uint64_t data_size = check_layout(path, header.entries);
  const uint64_t bytes_after_header = file_size - 8 - header_size;
  if (data_size > bytes_after_header) {
    fail_load(path, "the tensors' data_offsets end at byte " + std::to_string(data_size) +
                        " of the data, past the end of the file, which holds " +
                        count_text(bytes_after_header, "byte") + " after the header");
  }
  // Trailing bytes are rejected too: the reference insists the file is exactly header + data.
  if (data_size < bytes_after_header) {
    fail_load(path, count_text(bytes_after_header - data_size, "trailing byte") +
                        " after the last tensor's data, which ends at byte " +
                        std::to_string(data_size) + " of the data");
  }

  for (TensorEntry& entry : header.entries) {
    Tensor tensor = read_tensor(path, file, entry);
    result.tensors.emplace_back(std::move(entry.name), std::move(tensor));
  }
  return result;
}

}  // namespace ember
