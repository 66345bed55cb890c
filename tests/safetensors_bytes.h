#pragma once
// Building safetensors files byte by byte, for the tests of well-formed, malformed and hostile
// files (test_safetensors.cpp, test_safetensors_corpus.cpp).

#include <ember/core/io/safetensors.h>

#include <catch2/catch.hpp>

#include "temp_dir.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <ember/error.h>

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

// `value` as `count` little-endian bytes.
inline std::string little_endian(uint64_t value, int count) {
  std::string bytes;
  for (int i = 0; i < count; ++i) bytes += char((value >> (8 * i)) & 0xff);
  return bytes;
}

inline std::string f32_bytes(const std::vector<float>& values) {
  std::string bytes;
  for (float value : values) {
    uint32_t pattern;
    std::memcpy(&pattern, &value, sizeof value);
    bytes += little_endian(pattern, 4);
  }
  return bytes;
}

// A whole file: the 8-byte header size, the header, then the data.
inline std::string file_bytes(const std::string& header, const std::string& data = "") {
  return little_endian(header.size(), 8) + header + data;
}

// A well-formed header entry.
inline std::string entry(const std::string& name, const std::string& dtype,
                         const std::string& shape, uint64_t begin, uint64_t end) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(end) + "]}";
}

// A header object holding `entries`.
inline std::string header_of(const std::vector<std::string>& entries) {
  // Appended piece by piece: `"{" + entry(...)` trips a false -Wrestrict in GCC 12 at -O3.
  std::string header = "{";
  for (size_t i = 0; i < entries.size(); ++i) header.append(i == 0 ? "" : ",").append(entries[i]);
  return header.append("}");
}

// One F32 tensor "w" of shape [2] with the given entry body, and its 8 data bytes.
inline std::string file_with_w(const std::string& body) {
  return file_bytes("{\"w\":" + body + "}", f32_bytes({1.f, 2.f}));
}

// The message of the ember::Error that loading `path` throws; fails the test if it loads or
// throws anything else.
inline std::string load_error(const std::string& path) {
  try {
    ember::load_safetensors(path);
  } catch (const ember::Error& error) {
    return error.what();
  }
  FAIL("load_safetensors('" << path << "') did not throw ember::Error");
  return "";
}

// A malformed file must throw ember::Error that starts with the op, names the file and
// contains `word`.
inline void require_rejected(const std::string& bytes, const std::string& word) {
  CAPTURE(word);
  TempDir dir;
  const std::string path = dir.file("malformed.safetensors");
  write_file(path, bytes);
  REQUIRE_THAT(load_error(path),
               Catch::StartsWith("load_safetensors: '" + path + "': ") && Catch::Contains(word));
}
