#pragma once
// The fuzzers' input as a file: ember loads from a path, so each input is written to an
// in-memory file (memfd) and opened through /proc/self/fd/N, with no disk traffic.

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

/// Replaces the in-memory file's contents with `data` and returns a path that opens it.
inline const std::string& input_as_file(const uint8_t* data, size_t size) {
  static const int fd = ::memfd_create("ember_fuzz_input", MFD_CLOEXEC);
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (fd < 0 || ::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != ssize_t(size)) {
    std::abort();  // the harness is broken, not ember: stop loudly
  }
  return path;
}
