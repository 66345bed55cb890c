#include <ember/error.h>
#include <ember/nn/csv.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <zlib.h>

namespace ember::data {

namespace {

[[noreturn]] void fail(const std::string& message) { throw Error("read_csv: " + message); }

// -- reading the bytes -----------------------------------------------------------------------

std::string read_gzip(const std::string& path) {
  std::unique_ptr<gzFile_s, decltype(&gzclose)> file(gzopen(path.c_str(), "rb"), &gzclose);
  if (!file) fail("cannot open '" + path + "': " + std::strerror(errno));
  std::string text;
  std::vector<char> chunk(1 << 16);
  for (;;) {
    const int got = gzread(file.get(), chunk.data(), static_cast<unsigned>(chunk.size()));
    if (got <= 0) break;
    text.append(chunk.data(), static_cast<size_t>(got));
  }
  // gzread stops with an error for corrupt data, and at a truncated end it returns what it
  // could inflate and leaves Z_BUF_ERROR ("unexpected end of file") behind.
  int code = Z_OK;
  std::string_view message = gzerror(file.get(), &code);
  if (code == Z_ERRNO) fail("cannot read '" + path + "': " + std::strerror(errno));
  if (message.starts_with(path + ": ")) message.remove_prefix(path.size() + 2);  // zlib adds it
  if (code != Z_OK) fail(path + ": corrupt gzip data (" + std::string(message) + ")");
  return text;
}

// The whole file as text: inflated when it starts with gzip's magic bytes 0x1f 0x8b.
std::string read_text(const std::string& path) {
  struct Closer {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  std::unique_ptr<std::FILE, Closer> file(std::fopen(path.c_str(), "rb"));
  if (!file) fail("cannot open '" + path + "': " + std::strerror(errno));
  std::string text;
  std::vector<char> chunk(1 << 16);
  size_t got = 0;
  while ((got = std::fread(chunk.data(), 1, chunk.size(), file.get())) > 0) {
    if (text.empty() && got >= 2 && chunk[0] == '\x1f' && chunk[1] == '\x8b') {
      return read_gzip(path);
    }
    text.append(chunk.data(), got);
  }
  if (std::ferror(file.get())) fail("cannot read '" + path + "': " + std::strerror(errno));
  return text;
}

// -- splitting and parsing -------------------------------------------------------------------

std::string_view trim(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const size_t last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

std::vector<std::string_view> split(std::string_view line, char delimiter) {
  std::vector<std::string_view> fields;
  for (;;) {
    const size_t at = line.find(delimiter);
    fields.push_back(trim(line.substr(0, at)));
    if (at == std::string_view::npos) return fields;
    line.remove_prefix(at + 1);
  }
}

// A field quoted in an error message, cut short if it is long (say, a binary file).
std::string quoted(std::string_view field) {
  constexpr size_t kMaxShown = 32;
  if (field.size() <= kMaxShown) return "'" + std::string(field) + "'";
  return "'" + std::string(field.substr(0, kMaxShown)) + "...'";
}

// Parses one field, or returns what is wrong with it.
struct Parsed {
  float value = 0.f;
  std::string problem;
};
Parsed parse_number(std::string_view field) {
  if (field.empty()) return {0.f, "empty field"};
  std::string_view digits = field;
  // std::from_chars rejects a leading '+', which printf("%+g") and spreadsheets write.
  if (digits.size() > 1 && digits[0] == '+' && digits[1] != '-' && digits[1] != '+') {
    digits.remove_prefix(1);
  }
  Parsed parsed;
  const auto [end, error] =
      std::from_chars(digits.data(), digits.data() + digits.size(), parsed.value);
  if (error == std::errc::result_out_of_range) {
    // Neither overflow to inf nor underflow to 0 is a value the file meant.
    parsed.problem = quoted(field) + " is outside float32's range";
  } else if (error != std::errc() || end != digits.data() + digits.size()) {
    parsed.problem = quoted(field) + " is not a number";
  }
  return parsed;
}

std::string column_label(size_t index, const std::vector<std::string>& names) {
  std::string label = "column " + std::to_string(index + 1);
  if (index < names.size()) label += " ('" + names[index] + "')";
  return label;
}

std::string header_name(std::string_view field) {
  if (field.size() >= 2 && field.front() == '"' && field.back() == '"') {
    field = field.substr(1, field.size() - 2);
  }
  return std::string(field);
}

// A character shown in an error message: quoted when printable, else by its code.
std::string shown(char c) {
  return std::isprint(static_cast<unsigned char>(c)) ? "'" + std::string(1, c) + "'"
                                                     : "with code " + std::to_string(int(c));
}

// Whether c can occur in a number or around a quoted header name, or ends a line.
bool clashes_with_numbers(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         (c != '\0' && std::strchr(".+-\"", c) != nullptr) || c == '\n' || c == '\r' || c == '\0';
}

void check_options(const CsvOptions& options) {
  if (clashes_with_numbers(options.delimiter)) {
    fail("delimiter " + shown(options.delimiter) + " cannot separate numbers");
  }
  if (options.skip_rows < 0) {
    fail("skip_rows must be >= 0, got " + std::to_string(options.skip_rows));
  }
  if (options.comment != '\0') {
    if (clashes_with_numbers(options.comment)) {
      fail("comment character " + shown(options.comment) + " can occur in numbers or ends lines");
    }
    if (options.comment == options.delimiter) {
      fail("comment character " + shown(options.comment) + " is also the delimiter");
    }
  }
}

}  // namespace

CsvTable read_csv(const std::string& path, const CsvOptions& options) {
  check_options(options);
  const std::string text = read_text(path);
  std::string_view rest = text;
  if (rest.starts_with("\xEF\xBB\xBF")) rest.remove_prefix(3);  // UTF-8 byte order mark

  CsvTable table;
  std::vector<float> values;
  bool header_pending = options.has_header;
  size_t columns = 0;  // fixed by the header or the first row
  int64_t rows = 0;
  int64_t skipped = 0;  // lines with content dropped by skip_rows or as comments
  for (int64_t line_number = 1; !rest.empty(); ++line_number) {
    const size_t newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    rest.remove_prefix(newline == std::string_view::npos ? rest.size() : newline + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    const bool blank = trim(line).empty();
    if (line_number <= options.skip_rows) {
      skipped += blank ? 0 : 1;
      continue;
    }
    if (options.comment != '\0') line = line.substr(0, line.find(options.comment));
    if (trim(line).empty()) {
      skipped += blank ? 0 : 1;
      continue;
    }

    const std::vector<std::string_view> fields = split(line, options.delimiter);
    const auto at_line = [&] { return path + ":" + std::to_string(line_number) + ": "; };
    if (header_pending) {
      for (std::string_view field : fields) table.columns.push_back(header_name(field));
      columns = fields.size();
      header_pending = false;
      continue;
    }
    if (rows == 0 && !options.has_header) columns = fields.size();
    if (fields.size() != columns) {
      fail(at_line() + "expected " + std::to_string(columns) + " fields, found " +
           std::to_string(fields.size()));
    }
    for (size_t i = 0; i < fields.size(); ++i) {
      const Parsed parsed = parse_number(fields[i]);
      if (!parsed.problem.empty()) {
        fail(at_line() + column_label(i, table.columns) + ": " + parsed.problem);
      }
      values.push_back(parsed.value);
    }
    table.lines.push_back(line_number);
    ++rows;
  }
  if (header_pending) {
    fail(path + ": expected a header line, but the file " +
         (skipped == 0 ? std::string("is empty")
                       : "has none after its " + std::to_string(skipped) +
                             " skipped lines (skip_rows and comments)"));
  }
  table.values = tensor(values, Shape{rows, static_cast<int64_t>(columns)});
  return table;
}

CsvTable read_csv(const std::string& path, bool has_header, char delimiter) {
  return read_csv(path, CsvOptions{.has_header = has_header, .delimiter = delimiter});
}

}  // namespace ember::data
