#pragma once
// read_csv: numeric tables from CSV files, plain or gzip-compressed.

#include <cstdint>
#include <string>
#include <vector>

#include <ember/core/tensor.h>

namespace ember::data {

/// A numeric table: the column names (empty when read without a header) and the values.
struct CsvTable {
  std::vector<std::string> columns;
  Tensor values;                 // [rows, columns]
  std::vector<int64_t> lines{};  // the file's line number (from 1) of each row
};

/// How read_csv reads a file. Every field has a default, so options are written with
/// designated initialisers: `read_csv(path, {.skip_rows = 2, .comment = '#'})`.
struct CsvOptions {
  /// The first line left after skip_rows, blank lines and comments names the columns.
  bool has_header = true;
  /// Separates fields. Cannot be a character of a number or a line end (digits, letters,
  /// '.', '+', '-', '"', '\n', '\r', '\0').
  char delimiter = ',';
  /// Lines dropped unread at the top of the file (a title, notes), blank or not; as pandas'
  /// `skiprows=N`. Must be >= 0.
  int64_t skip_rows = 0;
  /// Starts a comment: from it to the end of the line is ignored, and a line that is then
  /// blank is skipped, as numpy.loadtxt's `comments` and pandas' `comment` do. '\0' (the
  /// default) means no comments. The same characters as the delimiter are refused, and the
  /// delimiter itself.
  char comment = '\0';
};

/// Reads a table of numbers, one row per line, fields separated by `options.delimiter`.
///
/// - A file starting with gzip's magic bytes (0x1f 0x8b) is decompressed through zlib,
///   whatever its name; any other file is read as plain text.
/// - After the first `skip_rows` lines, with `has_header`, the first line that is not blank
///   or a comment names the columns (surrounding spaces and one pair of double quotes are
///   removed). Otherwise the first row sets the column count.
/// - Fields are decimal or scientific floats as std::from_chars reads them ("-1.5", "2e-3",
///   "nan", "inf"), optionally with a leading '+' and surrounding spaces or tabs. There is no
///   quoting: a field cannot contain the delimiter.
/// - Blank lines (empty or only spaces) are skipped; CRLF line ends and a UTF-8 byte order
///   mark are accepted. Line numbers in errors count every line of the file, skipped or not.
///
/// Throws Error "read_csv: <path>:<line>: <what>" for a malformed line (a field that is
/// empty, not a number, or outside float32's range; a wrong number of fields), and an Error
/// naming the path when the file cannot be opened or read, the gzip data is corrupt or
/// truncated, or a header is expected and the file has none. Invalid options (see
/// CsvOptions) are an Error naming the option.
CsvTable read_csv(const std::string& path, const CsvOptions& options);

/// read_csv(path, {.has_header = has_header, .delimiter = delimiter}).
CsvTable read_csv(const std::string& path, bool has_header = true, char delimiter = ',');

}  // namespace ember::data
