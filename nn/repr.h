#pragma once
// Helpers for modules' extra_repr: numbers and shapes spelled the way Python prints them, so
// that ember's module reprs read like PyTorch's ("eps=1e-05", "(3, 5)").

#include <string>

#include <ember/core/shape.h>

namespace ember::nn::detail {

/// Python's repr of a float: the shortest digits that read back as `value`, fixed notation
/// for exponents in [-4, 16) ("0.01", "2.0") and scientific otherwise ("1e-05").
std::string python_float(float value);

/// A Python tuple of sizes: "(5,)", "(3, 5)".
std::string python_tuple(const Shape& shape);

/// "True" or "False".
inline std::string python_bool(bool value) { return value ? "True" : "False"; }

}  // namespace ember::nn::detail
