// Broken and hostile safetensors files: one file per rule of the format, each refused with its
// own Error; numbers beyond double range, deep nesting, huge names, shapes that overflow in one
// order and not the other, headers that claim more data than the file holds, running out of
// memory, many tensors; and Module::load, whose every error names the file too.

#include <ember/core/io/safetensors.h>

#include <catch2/catch.hpp>

#include "safetensors_bytes.h"
#include "temp_dir.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include <ember/error.h>
#include <ember/nn/linear.h>

using Catch::Contains;
using Catch::StartsWith;

namespace {

// Sanitizers reserve terabytes of address space for their shadow memory and report a failed
// allocation themselves instead of throwing std::bad_alloc, so AddressSpaceCap cannot work there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// While alive, caps the process's address space at what it uses now plus `headroom` bytes:
// any allocation beyond fails with std::bad_alloc, whatever the machine's overcommit policy.
// Does nothing under a sanitizer (see kSanitized).
class AddressSpaceCap {
 public:
  explicit AddressSpaceCap(uint64_t headroom) {
    if (kSanitized) return;
    std::ifstream statm("/proc/self/statm");  // first field: address space in use, in pages
    uint64_t pages = 0;
    statm >> pages;
    REQUIRE(pages > 0);
    REQUIRE(::getrlimit(RLIMIT_AS, &saved_) == 0);
    rlimit capped = saved_;
    capped.rlim_cur = std::min<rlim_t>(saved_.rlim_max, pages * ::sysconf(_SC_PAGESIZE) + headroom);
    REQUIRE(::setrlimit(RLIMIT_AS, &capped) == 0);
    active_ = true;
  }
  AddressSpaceCap(const AddressSpaceCap&) = delete;
  AddressSpaceCap& operator=(const AddressSpaceCap&) = delete;
  ~AddressSpaceCap() {
    if (active_) ::setrlimit(RLIMIT_AS, &saved_);
  }

 private:
  rlimit saved_{};
  bool active_ = false;
};

constexpr uint64_t kHeadroom = uint64_t(16) << 20;

// `count` opening brackets then as many closing ones: JSON nested `count` deep.
std::string nested_arrays(size_t count) {
  return std::string(count, '[') + std::string(count, ']');
}

// The Error that loading `bytes` from a file throws, checked to name the file.
std::string error_for(const std::string& bytes) {
  TempDir dir;
  const std::string path = dir.file("hostile.safetensors");
  write_file(path, bytes);
  const std::string message = load_error(path);
  REQUIRE_THAT(message, StartsWith("load_safetensors: '" + path + "': "));
  return message;
}

}  // namespace

TEST_CASE("one malformed file per rule of the format, each refused with its own Error",
          "[safetensors][hostile]") {
  struct Rule {
    std::string name;
    std::string bytes;
    std::string phrase;  // in this rule's message and in no other
  };
  const std::string w = entry("w", "F32", "[1]", 0, 4);
  const std::string one_float = f32_bytes({1.f});
  const std::string fields = R"("dtype":"F32","shape":[2],"data_offsets":[0,8])";
  const std::vector<Rule> rules = {
      {"file shorter than 8 bytes", std::string("\x02\x00\x00\x00{}", 6),
       "too short for the 8-byte header size"},
      {"header size N + 8 overflows", little_endian(std::numeric_limits<uint64_t>::max(), 8),
       "overflows 64 bits when the 8 bytes"},
      {"header size at the cap", little_endian(100'000'000, 8) + "{}",
       "too large (the limit is 100000000 bytes)"},
      {"header past the end of the file", little_endian(100, 8) + "{}",
       "runs past the end of the 10-byte file"},
      {"header not UTF-8", file_bytes("{\"w\xff\":{}}"), "not valid UTF-8"},
      {"header not JSON", file_bytes("{\"w\":"), "syntax error"},
      {"number beyond double range", file_with_w(R"({"dtype":"F32","shape":[1e999],"x":0})"),
       "number overflow parsing '1e999'"},
      {"header not an object", file_bytes("[]"), "header must be a JSON object"},
      {"nesting deeper than 128",
       file_with_w("{" + fields + ",\"x\":" + nested_arrays(65'000) + "}"), "more than 128 deep"},
      {"entry not an object", file_with_w("[0, 8]"), "must be described by a JSON object"},
      {"entry without a field", file_with_w(R"({"dtype":"F32","shape":[2]})"),
       "has no \"data_offsets\""},
      {"dtype not a string", file_with_w(R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})"),
       "non-string dtype"},
      {"dtype unknown",
       file_bytes(header_of({entry("w", "U64", "[1]", 0, 8)}), little_endian(5, 8)),
       "has dtype U64; ember tensors are float32"},
      {"shape not a list", file_with_w(R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})"),
       "the shape of tensor 'w' is the JSON number 2"},
      {"shape size negative", file_with_w(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"),
       "the shape of tensor 'w' holds the JSON number -2"},
      {"shape overflows",
       file_bytes(header_of({entry("w", "F32", "[4294967296,4294967296]", 0, 0)})),
       "element count or byte size overflows 64 bits"},
      {"data_offsets not a list", file_with_w(R"({"dtype":"F32","shape":[2],"data_offsets":"0"})"),
       "the data_offsets of tensor 'w' are the JSON string"},
      {"data_offsets not two", file_with_w(R"({"dtype":"F32","shape":[2],"data_offsets":[8]})"),
       "hold 1 number;"},
      {"offsets in the wrong order",
       file_bytes(header_of({entry("w", "F32", "[1]", 4, 0)}), one_float), "ends before it begins"},
      {"offsets with a gap",
       file_bytes(header_of({entry("w", "F32", "[1]", 4, 8)}), one_float + one_float),
       "gap in the data"},
      {"offsets overlapping",
       file_bytes(header_of({entry("a", "F32", "[2]", 0, 8), entry("b", "F32", "[2]", 4, 12)}),
                  f32_bytes({1.f, 2.f, 3.f})),
       "overlaps the previous tensor"},
      {"offsets past the end of the file",
       file_bytes(header_of({entry("w", "F32", "[2]", 0, 8)}), one_float),
       "past the end of the file,"},
      {"offsets not matching dtype and shape",
       file_bytes(header_of({entry("w", "F32", "[3]", 0, 8)}), one_float + one_float),
       "need 12 bytes"},
      {"trailing bytes", file_bytes(header_of({w}), one_float + "x"), "1 trailing byte"},
      {"duplicate keys", file_bytes(header_of({w, w}), one_float), "has the key 'w' twice"},
      {"__metadata__ not an object", file_bytes(R"({"__metadata__":["a"],)" + w + "}", one_float),
       "\"__metadata__\" must be an object of strings"},
      {"metadata value not a string",
       file_bytes(R"({"__metadata__":{"epoch":3},)" + w + "}", one_float),
       "'epoch' maps to the JSON number 3"},
      {"__metadata__ as a tensor name",
       file_bytes(header_of({entry("__metadata__", "F32", "[1]", 0, 4)}), one_float),
       "reserved for the metadata"},
      {"integer beyond float32's exact range",
       file_bytes(header_of({entry("n", "I32", "[1]", 0, 4)}), little_endian((1 << 24) + 1, 4)),
       "cannot hold exactly"},
      {"BOOL neither 0 nor 1", file_bytes(header_of({entry("b", "BOOL", "[1]", 0, 1)}), "\x02"),
       "not a boolean"},
  };
  std::vector<std::string> messages;
  for (const Rule& rule : rules) {
    CAPTURE(rule.name);
    const uint64_t file_size = rule.bytes.size();
    std::string message;
    {
      // No rule needs memory beyond a small multiple of the file's size to find its error.
      AddressSpaceCap cap(kHeadroom + 8 * file_size);
      message = error_for(rule.bytes);
    }
    CHECK_THAT(message, Contains(rule.phrase));
    CHECK(message.size() < 600);
    messages.push_back(message);
  }
  // Each phrase belongs to its rule alone: every rule has an error of its own.
  for (size_t i = 0; i < rules.size(); ++i) {
    for (size_t j = 0; j < rules.size(); ++j) {
      if (i == j) continue;
      CAPTURE(rules[i].name, rules[j].name, messages[j]);
      CHECK_THAT(messages[j], !Contains(rules[i].phrase));
    }
  }
  TempDir dir;
  REQUIRE_THAT(load_error(dir.file("missing.safetensors")), Contains("cannot read the file"));
}

TEST_CASE("a number beyond double range anywhere in the header is an ember::Error",
          "[safetensors][hostile]") {
  // nlohmann reports these as out_of_range 406; it used to escape load_safetensors as that.
  const std::string w = entry("w", "F32", "[1]", 0, 4);
  const std::string one_float = f32_bytes({1.f});
  for (const std::string& header : {
           std::string(R"({"w":{"dtype":"F32","shape":[1e999],"data_offsets":[0,4]}})"),
           std::string(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,-1e999]}})"),
           std::string(R"({"__metadata__":{"a":1e999},)") + w + "}",
           std::string(R"({"__metadata__":1E+400,)") + w + "}",
           std::string(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":[2e308]}})"),
       }) {
    CAPTURE(header);
    CHECK_THAT(error_for(file_bytes(header, one_float)),
               Contains("header is not valid JSON") && Contains("number overflow parsing"));
  }
}

TEST_CASE("JSON nested 65,000 deep is refused early, in an entry, a shape or __metadata__",
          "[safetensors][hostile]") {
  // 131 KB files; each used to overflow the stack while its error message was being written.
  const std::string deep = nested_arrays(65'000);
  const std::string deep_objects = [] {
    std::string text;
    for (int i = 0; i < 65'000; ++i) text += "{\"a\":";
    return text.append("1").append(65'000, '}');
  }();
  const std::string fields = R"("dtype":"F32","shape":[2],"data_offsets":[0,8])";
  const std::string data = f32_bytes({1.f, 2.f});
  struct Case {
    std::string header, phrase;
  };
  for (const Case& deep_case : {
           Case{"{\"w\":{" + fields + ",\"x\":" + deep + "}}", "more than 128 deep"},
           Case{"{\"w\":{" + fields + ",\"x\":" + deep_objects + "}}", "more than 128 deep"},
           Case{"{\"w\":{" + fields + ",\"x\":" + std::string(65'000, '['), "more than 128 deep"},
           Case{R"({"w":{"dtype":"F32","data_offsets":[0,8],"shape":)" + deep + "}}",
                "the shape of tensor 'w' holds a JSON array"},
           Case{"{\"w\":" + deep_objects + "}", "more than 128 deep"},
           Case{"{\"__metadata__\":" + deep_objects + "}", "'a' maps to a JSON object"},
           Case{"{\"__metadata__\":" + deep + "}", "must be an object of strings (or null)"},
           Case{deep, "header must be a JSON object, got a JSON array"},
       }) {
    CAPTURE(deep_case.phrase);
    const std::string message = error_for(file_bytes(deep_case.header, data));
    CHECK_THAT(message, Contains(deep_case.phrase));
    CHECK(message.size() < 600);
  }
}

TEST_CASE("a header nested 128 deep loads and one nested 129 deep is refused",
          "[safetensors][hostile]") {
  // The header object and the entry are two levels; an ignored key holds the rest.
  const auto file = [](size_t depth) {
    return file_bytes(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":)" +
                          nested_arrays(depth - 2) + "}}",
                      f32_bytes({5.f}));
  };
  TempDir dir;
  const std::string path = dir.file("deep.safetensors");
  write_file(path, file(128));
  REQUIRE(ember::load_safetensors(path).at("w").item() == 5.f);
  CHECK_THAT(error_for(file(129)), Contains("header nests JSON arrays and objects more than 128"));
}

TEST_CASE("error messages quote at most 200 bytes of any name or value", "[safetensors][hostile]") {
  // A 50 MB tensor name used to make a 50 MB message; 16 MB shows the same, in less time.
  const std::string huge(16u << 20, 'n');
  const std::string cut = std::string(200, 'n') + "... (16777216 bytes in all)";
  std::string message = error_for(file_bytes(header_of({entry(huge, "X", "[1]", 0, 4)})));
  CHECK_THAT(message, Contains("tensor '" + cut + "' has dtype X"));
  CHECK(message.size() < 600);

  // The JSON parser's own message quotes the token it stopped in: an unterminated string.
  message = error_for(file_bytes("{\"" + huge));
  CHECK_THAT(message, Contains("header is not valid JSON") && Contains("bytes in all"));
  CHECK(message.size() < 600);

  // A long value is cut too, and never inside a character: 100 euro signs are 300 bytes.
  std::string euros, first_66;
  for (int i = 0; i < 100; ++i) euros += "\xe2\x82\xac";
  for (int i = 0; i < 66; ++i) first_66 += "\xe2\x82\xac";
  message =
      error_for(file_with_w(R"({"dtype":")" + euros + R"(","shape":[2],"data_offsets":[0,8]})"));
  CHECK_THAT(message, Contains("has dtype " + first_66 + "... (300 bytes in all)"));

  // A shape with many sizes shows the first 8.
  std::string many_sizes = "[1";
  for (int i = 1; i < 10'000; ++i) many_sizes += ",1";
  message = error_for(
      file_bytes(header_of({entry("w", "F32", many_sizes + "]", 0, 8)}), f32_bytes({1.f, 2.f})));
  CHECK_THAT(message, Contains("shape [1, 1, 1, 1, 1, 1, 1, 1, ...] (10000 sizes) need 4 bytes"));
}

TEST_CASE("shapes (0, 2^62, 2^62) and (2^62, 2^62, 0) both overflow: sizes in any order",
          "[safetensors][hostile]") {
  // The reference's checked product in order would accept the first and refuse the second;
  // ember leaves zero sizes out of the product, so the order of the sizes cannot matter.
  const std::string big = std::to_string(uint64_t(1) << 62);
  for (const std::string& shape : {"[0," + big + "," + big + "]", "[" + big + "," + big + ",0]",
                                   "[" + big + ",0," + big + "]"}) {
    CAPTURE(shape);
    CHECK_THAT(error_for(file_bytes(header_of({entry("w", "F32", shape, 0, 0)}))),
               Contains("tensor 'w' has shape") &&
                   Contains("whose element count or byte size overflows 64 bits"));
  }
  // 2^62 U8 elements fit in 64 bits of bytes but 2^63 do not fit ember's int64 element count.
  for (const std::string& shape : {"[0,2," + big + "]", "[" + big + ",2,0]"}) {
    CAPTURE(shape);
    CHECK_THAT(error_for(file_bytes(header_of({entry("w", "U8", shape, 0, 0)}))),
               Contains("overflows 64 bits"));
  }
  // Below the limit, a zero anywhere makes an empty tensor: 2^61 floats are 2^63 bytes.
  const std::string fits = std::to_string(uint64_t(1) << 61);
  TempDir dir;
  const std::string path = dir.file("empty.safetensors");
  write_file(path, file_bytes(header_of({entry("a", "F32", "[0," + fits + "]", 0, 0),
                                         entry("b", "F32", "[" + fits + ",0]", 0, 0)})));
  const ember::SafetensorsFile loaded = ember::load_safetensors(path);
  CHECK(loaded.at("a").shape() == ember::Shape{0, int64_t(1) << 61});
  CHECK(loaded.at("b").shape() == ember::Shape{int64_t(1) << 61, 0});
  CHECK(loaded.at("b").numel() == 0);
}

TEST_CASE("a file claiming far more data than it holds is refused before anything is allocated",
          "[safetensors][hostile]") {
  // 100 GB and 4 EiB of float32 claimed by 200-byte files, refused under a 16 MB allocation cap
  // by the size check; an allocation attempted first would fail or take the machine's memory.
  for (const auto& [shape, bytes] :
       {std::pair<std::string, uint64_t>{"[25000000000]", 100'000'000'000},
        std::pair<std::string, uint64_t>{"[1152921504606846976]", uint64_t(1) << 62}}) {
    CAPTURE(shape);
    const std::string header = header_of({entry("w", "F32", shape, 0, bytes)});
    const std::string file = file_bytes(header, std::string(200 - 8 - header.size(), '\0'));
    REQUIRE(file.size() == 200);
    AddressSpaceCap cap(kHeadroom);
    CHECK_THAT(error_for(file), Contains("data_offsets end at byte " + std::to_string(bytes)) &&
                                    Contains("past the end of the file"));
  }
}

TEST_CASE("running out of memory is an ember::Error naming the file, not std::bad_alloc",
          "[safetensors][hostile]") {
  if (kSanitized) {
    WARN("skipped: under a sanitizer allocations cannot be made to fail with std::bad_alloc");
    return;
  }
  TempDir dir;
  // A sparse 4 GiB file whose one tensor is valid but larger than the cap allows.
  const std::string tensor_path = dir.file("big_tensor.safetensors");
  const std::string header = header_of({entry("big", "F32", "[1073741824]", 0, uint64_t(1) << 32)});
  write_file(tensor_path, file_bytes(header));
  std::filesystem::resize_file(tensor_path, 8 + header.size() + (uint64_t(1) << 32));
  // A 32 MB header: one metadata string.
  const std::string header_path = dir.file("big_header.safetensors");
  const std::string big_header = R"({"__metadata__":{"a":")" + std::string(32u << 20, 'x') + "\"}}";
  write_file(header_path, file_bytes(big_header));

  AddressSpaceCap cap(kHeadroom);
  CHECK_THAT(load_error(tensor_path),
             StartsWith("load_safetensors: '" + tensor_path + "': ") &&
                 Contains("out of memory: tensor 'big' of shape [1073741824] needs 4294967296 "
                          "bytes as float32"));
  CHECK_THAT(load_error(header_path),
             StartsWith("load_safetensors: '" + header_path + "': ") &&
                 Contains("out of memory reading the " + std::to_string(big_header.size()) +
                          "-byte header"));
}

TEST_CASE("100,000 zero-size tensors load, in header order", "[safetensors][hostile]") {
  // Header parsing used to be quadratic in the number of tensors (22 s for this file).
  std::vector<std::string> entries;
  for (int i = 0; i < 100'000; ++i)
    entries.push_back(entry("t" + std::to_string(i), "F32", "[0]", 0, 0));
  TempDir dir;
  const std::string path = dir.file("many.safetensors");
  write_file(path, file_bytes(header_of(entries)));
  const ember::SafetensorsFile loaded = ember::load_safetensors(path);
  REQUIRE(loaded.tensors.size() == 100'000);
  CHECK(loaded.tensors[0].first == "t0");
  CHECK(loaded.tensors[54'321].first == "t54321");
  CHECK(loaded.tensors[99'999].first == "t99999");
  CHECK(loaded.tensors[99'999].second.shape() == ember::Shape{0});
}

TEST_CASE("every failure of Module::load is an ember::Error naming the file",
          "[safetensors][hostile][nn]") {
  TempDir dir;
  ember::nn::Linear model(2, 3);

  const std::string garbage = dir.file("garbage.safetensors");
  write_file(garbage, "not a safetensors file");
  CHECK_THROWS_WITH(model.load(garbage), StartsWith("load_safetensors: '" + garbage + "': "));

  const std::string wider = dir.file("wider.safetensors");
  ember::nn::Linear(4, 3).save(wider);
  CHECK_THROWS_WITH(model.load(wider),
                    StartsWith("Module::load: '" + wider + "': load_state_dict: ") &&
                        Contains("weight (expected [3, 2], got [3, 4])"));

  // 1,000 unexpected tensors with 1 KB names: the message lists 10 names, each cut to 200 bytes.
  std::vector<std::pair<std::string, ember::Tensor>> tensors = model.state_dict();
  for (int i = 0; i < 1'000; ++i) {
    tensors.emplace_back(std::to_string(i) + std::string(1'000, 'x'), ember::empty({0}));
  }
  const std::string crowded = dir.file("crowded.safetensors");
  ember::save_safetensors(crowded, tensors);
  try {
    model.load(crowded);
    FAIL("Module::load accepted 1,000 unexpected tensors");
  } catch (const ember::Error& error) {
    const std::string message = error.what();
    CHECK_THAT(message, StartsWith("Module::load: '" + crowded + "': ") &&
                            Contains("unexpected keys: 0" + std::string(199, 'x') + "...") &&
                            Contains("... (1000 in all)"));
    CHECK(message.size() < 3'000);
  }
}
