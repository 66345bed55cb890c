#pragma once
// read_csv: numeric tables from CSV files, plain or gzip-compressed.

#include <string>
#include <vector>

#include <ember/core/tensor.h>

namespace ember::data {

/// A numeric table: the column names (empty when read without a header) and the values.
struct CsvTable {
  std::vector<std::string> columns;
  Tensor values;  // [rows, columns]
};

/// Reads a table of numbers, one row per line, fields separated by `delimiter`.
///
/// - A file starting with gzip's magic bytes (0x1f 0x8b) is decompressed through zlib,
///   whatever its name; any other file is read as plain text.
/// - With `has_header`, the first non-blank line names the columns (surrounding spaces and
///   one pair of double quotes are removed). Otherwise the first row sets the column count.
/// - Fields are decimal or scientific floats as std::from_chars reads them ("-1.5", "2e-3",
///   "nan", "inf"), optionally with a leading '+' and surrounding spaces or tabs. There is no
///   quoting: a field cannot contain the delimiter.
/// - Blank lines (empty or only spaces) are skipped; CRLF line ends and a UTF-8 byte order
///   mark are accepted.
///
/// Throws Error "read_csv: <path>:<line>: <what>" for a malformed line (a field that is
/// empty, not a number, or outside float32's range; a wrong number of fields), and an Error
/// naming the path when the file cannot be opened or read, the gzip data is corrupt or
/// truncated, or a header is expected and the file has none. A delimiter that can occur in
/// a number or ends a line (digits, letters, '.', '+', '-', '"', '\n', '\r') is an Error.
CsvTable read_csv(const std::string& path, bool has_header = true, char delimiter = ',');

}  // namespace ember::data
