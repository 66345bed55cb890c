#pragma once
// ember::Error: the one exception type every misuse throws. It needs nothing but the standard
// library and sits below every layer (kernels/ and core/ both include it), so code at any
// level throws the same type.

#include <stdexcept>
#include <string>

namespace ember {

/// Thrown on every invalid use of the library. `what()` names the op and the offending
/// shapes or values, e.g. "matmul: shapes [3, 4] and [5, 6] are not aligned (4 != 5)".
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace ember
