// libFuzzer target: load_safetensors on arbitrary bytes. A load may succeed or throw
// ember::Error; anything else is a finding: another exception (it aborts the run), a crash, an
// AddressSanitizer or UndefinedBehaviorSanitizer report, a leak, a timeout, or an allocation
// beyond -malloc_limit_mb. `make fuzz` runs it; docs/04-safetensors.md says how.

#include <ember/core/io/safetensors.h>
#include <ember/error.h>

#include <cstdint>
#include <cstdlib>

#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const ember::SafetensorsFile file = ember::load_safetensors(input_as_file(data, size));
    // What loaded must be whole: copying out every value makes AddressSanitizer check the
    // storage, and a tensor must hold as many values as its shape says.
    for (const auto& [name, tensor] : file.tensors) {
      if (tensor.to_vector().size() != size_t(ember::numel_of(tensor.shape()))) std::abort();
    }
  } catch (const ember::Error&) {
  }
  return 0;
}
