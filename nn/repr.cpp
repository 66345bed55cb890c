#include <ember/nn/repr.h>

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace ember::nn::detail {

std::string python_float(float value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // to_chars gives the shortest round-trip digits, e.g. "3.3333334e-01" or "1e-05"; Python
  // writes the same digits, choosing fixed notation for exponents in [-4, 16).
  char buffer[32];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  const std::string scientific(buffer, result.ptr);
  const size_t e = scientific.find('e');
  const int exponent = std::atoi(scientific.c_str() + e + 1);
  if (exponent < -4 || exponent >= 16) return scientific;

  const bool negative = scientific[0] == '-';
  std::string digits;  // the significant digits without sign or point: "33333334"
  for (size_t i = negative ? 1 : 0; i < e; ++i) {
    if (scientific[i] != '.') digits += scientific[i];
  }
  std::string text;
  if (exponent < 0) {
    text = "0." + std::string(size_t(-exponent - 1), '0') + digits;
  } else {
    const size_t integer_digits = size_t(exponent) + 1;
    if (digits.size() <= integer_digits) {
      text = digits + std::string(integer_digits - digits.size(), '0') + ".0";
    } else {
      text = digits.substr(0, integer_digits) + "." + digits.substr(integer_digits);
    }
  }
  return negative ? "-" + text : text;
}

std::string python_tuple(const Shape& shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace ember::nn::detail
