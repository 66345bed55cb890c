// safetensors I/O: round trips, the bytes on disk, dtype conversion, files written by PyTorch,
// malformed files rule by rule, and atomic saves. test_safetensors_corpus.cpp has one file per
// rule side by side, and the hostile files (deep nesting, huge names, out of memory).

#include <ember/core/io/safetensors.h>

#include <catch2/catch.hpp>

#include "safetensors_bytes.h"
#include "temp_dir.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <ember/error.h>
#include <ember/nn/normalization.h>

namespace fs = std::filesystem;
using Catch::Contains;
using Catch::StartsWith;
using ember::Tensor;

namespace {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// ember::tensor(values, shape) through a signature that takes only a shape: a braced
// one-element shape such as `{1}` would otherwise pick tensor(values, requires_grad).
Tensor make_tensor(const std::vector<float>& values, const ember::Shape& shape) {
  return ember::tensor(values, shape);
}

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

// 16-bit patterns (F16, BF16) as little-endian bytes.
std::string bits16(const std::vector<uint16_t>& patterns) {
  std::string bytes;
  for (uint16_t pattern : patterns) bytes += little_endian(pattern, 2);
  return bytes;
}

std::string f64_bytes(const std::vector<double>& values) {
  std::string bytes;
  for (double value : values) {
    uint64_t pattern;
    std::memcpy(&pattern, &value, sizeof value);
    bytes += little_endian(pattern, 8);
  }
  return bytes;
}

ember::SafetensorsFile load_bytes(const std::string& bytes) {
  TempDir dir;
  const std::string path = dir.file("crafted.safetensors");
  write_file(path, bytes);
  return ember::load_safetensors(path);
}

}  // namespace

TEST_CASE("save then load round-trips names, order, shapes, values and metadata", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const NamedTensors saved = {
      {"zeta.weight", make_tensor({1.5f, -2.25f, 0.f, 3e-8f, -1e30f, 7.f}, {2, 3})},
      {"alpha.bias", make_tensor({0.1f, 0.2f, 0.3f}, {3})},
      {"scale", make_tensor({0.5f}, {})},
      {"nothing", ember::empty({0})},
      {"nothing_3d", ember::empty({1, 0, 3})},
      {"last", make_tensor({-1.f}, {1})},
  };
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"epoch", "3"}, {"note", "caf\xc3\xa9"}};
  ember::save_safetensors(path, saved, metadata);

  const ember::SafetensorsFile loaded = ember::load_safetensors(path);
  REQUIRE(loaded.tensors.size() == saved.size());
  for (size_t i = 0; i < saved.size(); ++i) {
    CAPTURE(saved[i].first);
    REQUIRE(loaded.tensors[i].first == saved[i].first);
    REQUIRE(loaded.tensors[i].second.shape() == saved[i].second.shape());
    REQUIRE(loaded.tensors[i].second.to_vector() == saved[i].second.to_vector());
  }
  REQUIRE(loaded.metadata == metadata);
}

TEST_CASE("zero-size tensors are stored with begin == end and keep their order", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("empty.safetensors");
  ember::save_safetensors(path, {{"b", ember::empty({0})},
                                 {"a", ember::empty({1, 0, 3})},
                                 {"c", make_tensor({1.f, 2.f}, {2})}});

  const std::string bytes = read_file(path);
  REQUIRE_THAT(bytes, Contains(entry("b", "F32", "[0]", 0, 0)));
  REQUIRE_THAT(bytes, Contains(entry("a", "F32", "[1,0,3]", 0, 0)));
  REQUIRE_THAT(bytes, Contains(entry("c", "F32", "[2]", 0, 8)));

  const ember::SafetensorsFile loaded = ember::load_safetensors(path);
  REQUIRE(loaded.tensors.size() == 3);
  REQUIRE(loaded.tensors[0].first == "b");
  REQUIRE(loaded.tensors[1].first == "a");
  REQUIRE(loaded.tensors[1].second.shape() == ember::Shape{1, 0, 3});
  REQUIRE(loaded.tensors[2].second.to_vector() == std::vector<float>{1.f, 2.f});
}

TEST_CASE("save writes the header padded with spaces to a multiple of 8, then F32 data",
          "[safetensors]") {
  TempDir dir;
  // Names of every length mod 8, so that every amount of padding occurs.
  for (std::string name = "t"; name.size() <= 8; name += "x") {
    CAPTURE(name);
    const std::string path = dir.file("padded.safetensors");
    ember::save_safetensors(path, {{name, make_tensor({1.f, -2.f, 0.5f}, {3})}});
    const std::string bytes = read_file(path);

    uint64_t header_size = 0;
    for (int i = 0; i < 8; ++i) header_size |= uint64_t(uint8_t(bytes[i])) << (8 * i);
    REQUIRE((8 + header_size) % 8 == 0);
    REQUIRE(bytes.size() == 8 + header_size + 12);
    const std::string header = bytes.substr(8, header_size);
    const size_t json_end = header.rfind('}') + 1;
    REQUIRE(header.substr(0, json_end) == header_of({entry(name, "F32", "[3]", 0, 12)}));
    REQUIRE(header.substr(json_end) == std::string(header_size - json_end, ' '));
    REQUIRE(header_size - json_end < 8);
    REQUIRE(bytes.substr(8 + header_size) == f32_bytes({1.f, -2.f, 0.5f}));
  }
}

TEST_CASE("load converts F64 data to float32, rounding to nearest", "[safetensors]") {
  const auto loaded = load_bytes(file_bytes(header_of({entry("x", "F64", "[2,2]", 0, 32)}),
                                            f64_bytes({1.5, -2.25, 0.1, 1e300})));
  const Tensor x = loaded.at("x");
  REQUIRE(x.shape() == ember::Shape{2, 2});
  const std::vector<float> values = x.to_vector();
  REQUIRE(values[0] == 1.5f);
  REQUIRE(values[1] == -2.25f);
  REQUIRE(values[2] == 0.1f);  // the float nearest to the double 0.1
  REQUIRE(values[3] == std::numeric_limits<float>::infinity());  // beyond float range
}

TEST_CASE("load converts F16 data, including subnormals, infinities and NaN", "[safetensors]") {
  const std::vector<uint16_t> patterns = {
      0x3C00,  // 1.0
      0xC000,  // -2.0
      0x3555,  // 0x555 / 1024 * 2^-2 + 2^-2 = 0.333251953125
      0x7BFF,  // largest finite: 65504
      0x0400,  // smallest normal: 2^-14
      0x0001,  // smallest subnormal: 2^-24
      0x03FF,  // largest subnormal: 1023 * 2^-24
      0x8000,  // -0.0
      0x7C00,  // +inf
      0xFC00,  // -inf
      0x7E00,  // NaN
  };
  const auto loaded =
      load_bytes(file_bytes(header_of({entry("h", "F16", "[11]", 0, 22)}), bits16(patterns)));
  const std::vector<float> v = loaded.at("h").to_vector();
  REQUIRE(v[0] == 1.f);
  REQUIRE(v[1] == -2.f);
  REQUIRE(v[2] == 0.333251953125f);
  REQUIRE(v[3] == 65504.f);
  REQUIRE(v[4] == std::ldexp(1.f, -14));
  REQUIRE(v[5] == std::ldexp(1.f, -24));
  REQUIRE(v[6] == std::ldexp(1023.f, -24));
  REQUIRE(v[7] == 0.f);
  REQUIRE(std::signbit(v[7]));
  REQUIRE(v[8] == std::numeric_limits<float>::infinity());
  REQUIRE(v[9] == -std::numeric_limits<float>::infinity());
  REQUIRE(std::isnan(v[10]));
}

TEST_CASE("load converts BF16 data, the top half of a float32", "[safetensors]") {
  const std::vector<uint16_t> patterns = {
      0x3F80,  // 1.0
      0xC060,  // -3.5
      0x4049,  // 3.140625
      0x0001,  // smallest subnormal: 2^-133
      0xFF80,  // -inf
      0x7FC0,  // NaN
  };
  const auto loaded =
      load_bytes(file_bytes(header_of({entry("b", "BF16", "[6]", 0, 12)}), bits16(patterns)));
  const std::vector<float> v = loaded.at("b").to_vector();
  REQUIRE(v[0] == 1.f);
  REQUIRE(v[1] == -3.5f);
  REQUIRE(v[2] == 3.140625f);
  REQUIRE(v[3] == std::ldexp(1.f, -133));
  REQUIRE(v[4] == -std::numeric_limits<float>::infinity());
  REQUIRE(std::isnan(v[5]));
}

TEST_CASE("load reads a PyTorch-written file with a tensor of every loadable dtype",
          "[safetensors]") {
  // Written by tests/reference/make_interop_fixture.py; the values are exact in each dtype.
  const auto loaded = ember::load_safetensors(EMBER_REFERENCE_DIR "/interop_dtypes.safetensors");
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<std::string> names;
  for (const auto& [name, tensor] : loaded.tensors) names.push_back(name);
  REQUIRE(names == std::vector<std::string>{"f32", "f64", "f16", "bf16", "scalar", "empty", "i64",
                                            "i32", "i16", "i8", "u8", "bool"});

  REQUIRE(loaded.at("f32").shape() == ember::Shape{2, 2});
  REQUIRE(loaded.at("f32").to_vector() == std::vector<float>{1.5f, -2.25f, 0.f, 1024.f});
  REQUIRE(loaded.at("f64").to_vector() == std::vector<float>{-0.5f, 3.75f, 0.1f, inf});
  REQUIRE(loaded.at("f16").shape() == ember::Shape{2, 3});
  REQUIRE(loaded.at("f16").to_vector() ==
          std::vector<float>{1.f, -2.f, 65504.f, std::ldexp(1.f, -24), inf, -0.f});
  REQUIRE(std::signbit(loaded.at("f16").to_vector()[5]));
  REQUIRE(loaded.at("bf16").to_vector() ==
          std::vector<float>{1.f, -3.5f, std::ldexp(1.f, 100), 0.0078125f});
  REQUIRE(loaded.at("scalar").shape().empty());
  REQUIRE(loaded.at("scalar").item() == 7.f);
  REQUIRE(loaded.at("empty").shape() == ember::Shape{0, 3});
  REQUIRE(loaded.at("i64").to_vector() == std::vector<float>{0.f, -3.f, 16777216.f, -16777216.f});
  REQUIRE(loaded.at("i32").shape() == ember::Shape{2, 2});
  REQUIRE(loaded.at("i32").to_vector() == std::vector<float>{7.f, -1.f, 1000000.f, 2.f});
  REQUIRE(loaded.at("i16").to_vector() == std::vector<float>{-32768.f, 32767.f});
  REQUIRE(loaded.at("i8").to_vector() == std::vector<float>{-128.f, 127.f, 0.f});
  REQUIRE(loaded.at("u8").to_vector() == std::vector<float>{0.f, 255.f, 9.f});
  REQUIRE(loaded.at("bool").to_vector() == std::vector<float>{1.f, 0.f, 1.f});
  REQUIRE(loaded.metadata.at("format") == "pt");
}

TEST_CASE("load converts integers float32 holds exactly and rejects the others", "[safetensors]") {
  // Two's complement, little-endian: -2 as I64 and as I16.
  const auto loaded = load_bytes(file_bytes(
      header_of({entry("a", "I64", "[2]", 0, 16), entry("b", "I16", "[1]", 16, 18)}),
      little_endian(uint64_t(-2), 8) + little_endian(1 << 24, 8) + little_endian(uint16_t(-2), 2)));
  REQUIRE(loaded.at("a").to_vector() == std::vector<float>{-2.f, 16777216.f});
  REQUIRE(loaded.at("b").to_vector() == std::vector<float>{-2.f});
  // 2^24 + 1 would round to 2^24: a batch counter off by one, silently.
  require_rejected(file_bytes(header_of({entry("count", "I64", "[2]", 0, 16)}),
                              little_endian(3, 8) + little_endian((1 << 24) + 1, 8)),
                   "tensor 'count' (I64) holds 16777217 at element 1");
  require_rejected(file_bytes(header_of({entry("n", "I32", "[1]", 0, 4)}),
                              little_endian(uint32_t(-(1 << 25)), 4)),
                   "holds -33554432 at element 0, which float32 cannot hold exactly");
  require_rejected(file_bytes(header_of({entry("mask", "BOOL", "[2]", 0, 2)}), "\x01\x02"),
                   "tensor 'mask' (BOOL) holds 2 at element 1, which is not a boolean");
}

TEST_CASE("a PyTorch BatchNorm1d state dict, int64 counter included, loads and predicts the same",
          "[safetensors][nn]") {
  // Written by tests/reference/make_interop_fixture.py after three training batches.
  const auto file = ember::load_safetensors(EMBER_REFERENCE_DIR "/interop_batchnorm.safetensors");
  ember::nn::NamedTensors state;
  for (const auto& [name, tensor] : file.tensors) {
    if (name.rfind("bn.", 0) == 0) state.emplace_back(name.substr(3), tensor);
  }
  ember::nn::BatchNorm1d bn(3);
  bn.load_state_dict(state);
  REQUIRE(bn.num_batches_tracked.item() == 3.f);
  const auto close = [](const Tensor& actual, const Tensor& expected) {
    REQUIRE(actual.shape() == expected.shape());
    for (int64_t i = 0; i < actual.numel(); ++i) {
      const float e = expected.data()[i];
      CHECK(std::fabs(actual.data()[i] - e) <= 1e-5f * std::max(std::fabs(e), 1e-3f));
    }
  };
  bn.eval();
  close(bn(file.at("x")), file.at("y_eval"));
  bn.train();
  close(bn(file.at("x")), file.at("y_train"));
  close(bn.running_mean, file.at("running_mean_after"));
  close(bn.running_var, file.at("running_var_after"));
  REQUIRE(bn.num_batches_tracked.item() == 4.f);
}

TEST_CASE("load orders tensors by data offset, not by header order", "[safetensors]") {
  const auto loaded = load_bytes(file_bytes(
      header_of({entry("second", "F32", "[1]", 4, 8), entry("first", "F32", "[1]", 0, 4)}),
      f32_bytes({1.f, 2.f})));
  REQUIRE(loaded.tensors[0].first == "first");
  REQUIRE(loaded.tensors[0].second.item() == 1.f);
  REQUIRE(loaded.tensors[1].first == "second");
  REQUIRE(loaded.tensors[1].second.item() == 2.f);
}

TEST_CASE("load accepts null metadata and ignores unknown keys in an entry, as the reference does",
          "[safetensors]") {
  const auto loaded = load_bytes(file_bytes(
      R"({"__metadata__":null,"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1,)"
      R"("more":{"a":[null,true,-1.5,"x",{"b":[]}]}}})",
      f32_bytes({3.f})));
  REQUIRE(loaded.metadata.empty());
  REQUIRE(loaded.at("w").item() == 3.f);
}

TEST_CASE("a UTF-8 tensor name round-trips", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("utf8.safetensors");
  const std::string name =
      "\xc3\xbc"
      "ber.\xe2\x82\xac.\xf0\x9f\x94\xa5";  // "über.€.🔥"
  ember::save_safetensors(path, {{name, make_tensor({4.f}, {1})}});
  REQUIRE(ember::load_safetensors(path).at(name).item() == 4.f);
}

TEST_CASE("SafetensorsFile::at throws for a missing name, listing what the file has",
          "[safetensors]") {
  const auto loaded =
      load_bytes(file_bytes(header_of({entry("present", "F32", "[1]", 0, 4)}), f32_bytes({1.f})));
  REQUIRE(loaded.contains("present"));
  REQUIRE_FALSE(loaded.contains("absent"));
  REQUIRE_THROWS_AS(loaded.at("absent"), ember::Error);
  REQUIRE_THROWS_WITH(loaded.at("absent"), Contains("'absent'") && Contains("'present'"));
}

TEST_CASE("load rejects a missing file", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("missing.safetensors");
  REQUIRE_THROWS_AS(ember::load_safetensors(path), ember::Error);
  REQUIRE_THROWS_WITH(ember::load_safetensors(path), Contains(path));
}

TEST_CASE("load rejects dtypes ember cannot hold, naming the dtype and tensor", "[safetensors]") {
  require_rejected(
      file_bytes(header_of({entry("counts", "U64", "[1]", 0, 8)}), little_endian(5, 8)),
      "tensor 'counts' has dtype U64");
  require_rejected(file_bytes(header_of({entry("z", "C64", "[1]", 0, 8)}), little_endian(0, 8)),
                   "tensor 'z' has dtype C64");
  require_rejected(file_bytes(header_of({entry("w", "F33", "[1]", 0, 4)}), f32_bytes({1.f})),
                   "dtype F33");
}

TEST_CASE("load rejects a file shorter than 8 bytes", "[safetensors]") {
  require_rejected("", "too short");
  require_rejected(std::string("\x02\x00\x00\x00{}", 6), "too short");
}

TEST_CASE("load rejects a header size near 2^64 instead of overflowing N + 8", "[safetensors]") {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  require_rejected(little_endian(max, 8) + "{}", "overflows 64 bits when the 8 bytes");
  require_rejected(little_endian(max - 7, 8) + "{}", "overflows 64 bits when the 8 bytes");
  require_rejected(little_endian(max - 8, 8) + "{}", "too large");  // 8 + N fits: the cap
}

TEST_CASE("load rejects a header that is not valid UTF-8", "[safetensors]") {
  const std::string tail = "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  for (const std::string& bad : {
           std::string("\xff"),              // never valid
           std::string("\xc0\xaf"),          // overlong "/"
           std::string("\xed\xa0\x80"),      // UTF-16 surrogate U+D800
           std::string("\xf4\x90\x80\x80"),  // above U+10FFFF
           std::string("\xe2\x82"),          // truncated "€"
       }) {
    require_rejected(file_bytes("{\"w" + bad + tail, f32_bytes({1.f})), "UTF-8");
  }
}

TEST_CASE("load rejects a header that is not valid JSON", "[safetensors]") {
  require_rejected(file_bytes("{\"w\":{\"dtype\":"), "not valid JSON");
  require_rejected(file_bytes(std::string(8, ' ')), "not valid JSON");
}

TEST_CASE("load rejects a header that is not a JSON object", "[safetensors]") {
  require_rejected(file_bytes("[1, 2]  "), "must be a JSON object, got a JSON array");
  require_rejected(file_bytes("\"text\""), "must be a JSON object, got the JSON string \"text\"");
}

TEST_CASE("load rejects an entry without dtype, shape or data_offsets", "[safetensors]") {
  require_rejected(file_with_w(R"({"shape":[2],"data_offsets":[0,8]})"),
                   "tensor 'w' has no \"dtype\"");
  require_rejected(file_with_w(R"({"dtype":"F32","data_offsets":[0,8]})"),
                   "tensor 'w' has no \"shape\"");
  require_rejected(file_with_w(R"({"dtype":"F32","shape":[2]})"),
                   "tensor 'w' has no \"data_offsets\"");
}

TEST_CASE("load rejects an entry with fields of the wrong type or sign", "[safetensors]") {
  require_rejected(file_with_w("[0, 8]"), "tensor 'w' must be described by a JSON object");
  require_rejected(file_with_w(R"({"dtype":32,"shape":[2],"data_offsets":[0,8]})"),
                   "non-string dtype");
  require_rejected(file_with_w(R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})"),
                   "non-negative integers");
  require_rejected(file_with_w(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"),
                   "non-negative integers");
  require_rejected(file_with_w(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})"),
                   "non-negative integers");
  require_rejected(file_with_w(R"({"dtype":"F32","shape":["2"],"data_offsets":[0,8]})"),
                   "non-negative integers");
  require_rejected(file_with_w(R"({"dtype":"F32","shape":[2],"data_offsets":[8]})"),
                   "two non-negative integers");
  require_rejected(file_with_w(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8,8]})"),
                   "two non-negative integers");
  require_rejected(file_with_w(R"({"dtype":"F32","shape":[2],"data_offsets":[-8,0]})"),
                   "two non-negative integers");
  require_rejected(file_with_w(R"({"dtype":"F32","shape":[2],"data_offsets":"0-8"})"),
                   "two non-negative integers");
}

TEST_CASE("load rejects metadata that is not a map of strings to strings", "[safetensors]") {
  const std::string w = entry("w", "F32", "[1]", 0, 4);
  const std::string data = f32_bytes({1.f});
  require_rejected(file_bytes(R"({"__metadata__":["a"],)" + w + "}", data),
                   "\"__metadata__\" must be an object");
  require_rejected(file_bytes(R"({"__metadata__":{"epoch":3},)" + w + "}", data),
                   "'epoch' maps to the JSON number 3");
  require_rejected(file_bytes(R"({"__metadata__":{"a":{"b":"c"}},)" + w + "}", data),
                   "must map strings to strings");
}

TEST_CASE("load rejects duplicate keys in the header", "[safetensors]") {
  const std::string w = entry("w", "F32", "[1]", 0, 4);
  require_rejected(file_bytes("{" + w + "," + w + "}", f32_bytes({1.f})), "key 'w' twice");
  require_rejected(file_with_w(R"({"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]})"),
                   "key 'dtype' twice");
  require_rejected(file_bytes(R"({"__metadata__":{"a":"1","a":"2"},)" + w + "}", f32_bytes({1.f})),
                   "key 'a' twice");
}

TEST_CASE("load rejects a gap before or between tensors", "[safetensors]") {
  require_rejected(file_bytes(header_of({entry("w", "F32", "[1]", 4, 8)}), f32_bytes({1.f, 2.f})),
                   "gap in the data: tensor 'w' with data_offsets [4, 8] should start at byte 0");
  require_rejected(
      file_bytes(header_of({entry("a", "F32", "[1]", 0, 4), entry("b", "F32", "[1]", 8, 12)}),
                 f32_bytes({1.f, 2.f, 3.f})),
      "gap in the data: tensor 'b'");
}

TEST_CASE("load rejects a tensor whose byte size does not match dtype and shape", "[safetensors]") {
  require_rejected(file_bytes(header_of({entry("w", "F32", "[3]", 0, 8)}), f32_bytes({1.f, 2.f})),
                   "spans 8 bytes, but dtype F32 and shape [3] need 12 bytes");
  require_rejected(file_bytes(header_of({entry("h", "F16", "[2]", 0, 8)}), f32_bytes({1.f, 2.f})),
                   "need 4 bytes");
}

TEST_CASE("load rejects a file longer or shorter than header plus data", "[safetensors]") {
  const std::string header = header_of({entry("w", "F32", "[2]", 0, 8)});
  require_rejected(file_bytes(header, f32_bytes({1.f, 2.f}) + "x"),
                   "1 trailing byte after the last tensor's data, which ends at byte 8");
  require_rejected(
      file_bytes(header, f32_bytes({1.f, 2.f}).substr(0, 7)),
      "data_offsets end at byte 8 of the data, past the end of the file, which holds 7 bytes");
}

TEST_CASE("save rejects empty, duplicate and __metadata__ names and undefined tensors",
          "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("rejected.safetensors");
  const Tensor one = make_tensor({1.f}, {1});
  const auto require_save_error = [&](const NamedTensors& tensors, const std::string& word) {
    REQUIRE_THROWS_AS(ember::save_safetensors(path, tensors), ember::Error);
    REQUIRE_THROWS_WITH(ember::save_safetensors(path, tensors),
                        StartsWith("save_safetensors: '" + path + "': ") && Contains(word));
  };
  require_save_error({{"", one}}, "empty name");
  require_save_error({{"w", one}, {"w", one}}, "two tensors are named 'w'");
  require_save_error({{"__metadata__", one}}, "\"__metadata__\"");
  require_save_error({{"w", Tensor()}}, "tensor 'w' is undefined");
  require_save_error({{"bad\xff", one}}, "not valid UTF-8");
  REQUIRE(dir.entries().empty());  // nothing reached the disk, not even a temporary file
}

TEST_CASE("a save that fails leaves the existing file byte-identical", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("checkpoint.safetensors");
  ember::save_safetensors(path, {{"w", make_tensor({1.f, 2.f}, {2})}}, {{"step", "1"}});
  const std::string before = read_file(path);

  REQUIRE_THROWS_AS(ember::save_safetensors(path, {{"__metadata__", make_tensor({3.f}, {1})}}),
                    ember::Error);
  REQUIRE_THROWS_AS(
      ember::save_safetensors(path, {{"w", make_tensor({3.f}, {1})}}, {{"bad\xc0", "value"}}),
      ember::Error);
  REQUIRE(read_file(path) == before);
  REQUIRE(dir.entries() == std::vector<std::string>{"checkpoint.safetensors"});
}

TEST_CASE("a save whose rename fails removes its temporary file and changes nothing",
          "[safetensors]") {
  TempDir dir;
  // A non-empty folder at the target: the temporary file is written, the rename over it fails.
  const std::string path = dir.file("occupied");
  fs::create_directory(path);
  write_file(path + "/keep.txt", "keep");
  REQUIRE_THROWS_AS(ember::save_safetensors(path, {{"w", make_tensor({1.f}, {1})}}), ember::Error);
  REQUIRE_THROWS_WITH(ember::save_safetensors(path, {{"w", make_tensor({1.f}, {1})}}),
                      Contains("cannot rename"));
  REQUIRE(dir.entries() == std::vector<std::string>{"occupied"});
  REQUIRE(read_file(path + "/keep.txt") == "keep");
}

TEST_CASE("a save into a missing folder throws and creates nothing", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("no_such_folder/model.safetensors");
  REQUIRE_THROWS_AS(ember::save_safetensors(path, {{"w", make_tensor({1.f}, {1})}}), ember::Error);
  REQUIRE_THROWS_WITH(ember::save_safetensors(path, {{"w", make_tensor({1.f}, {1})}}),
                      StartsWith("save_safetensors: '" + path + "'") && Contains("cannot create"));
  REQUIRE(dir.entries().empty());
}

TEST_CASE("save replaces an existing file with the new contents", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  ember::save_safetensors(path, {{"old", make_tensor({1.f, 2.f, 3.f}, {3})}});
  ember::save_safetensors(path, {{"new", make_tensor({4.f}, {1})}});
  const auto loaded = ember::load_safetensors(path);
  REQUIRE(loaded.tensors.size() == 1);
  REQUIRE(loaded.at("new").item() == 4.f);
  REQUIRE(dir.entries() == std::vector<std::string>{"model.safetensors"});
}
