// Data loading: TensorDataset, DataLoader batching and seeded shuffles, read_csv on plain and
// gzip files and its error messages, train_test_split and StandardScaler.

#include <catch2/catch.hpp>

#include "temp_dir.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>
#include <zlib.h>

#include <ember/ember.h>

namespace fs = std::filesystem;
using namespace ember;
using Catch::Contains;
using Catch::Matchers::Equals;

namespace {

std::string write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string write_gzip(const std::string& path, const std::string& text) {
  gzFile file = gzopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  REQUIRE(gzwrite(file, text.data(), static_cast<unsigned>(text.size())) ==
          static_cast<int>(text.size()));
  REQUIRE(gzclose(file) == Z_OK);
  return path;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Rows 0..n-1 as x [n, 2] = (i, 10 i) and y [n] = i, so every value names its row.
std::vector<Tensor> numbered_rows(int64_t n) {
  std::vector<float> x, y;
  for (int64_t i = 0; i < n; ++i) {
    x.push_back(float(i));
    x.push_back(10.f * float(i));
    y.push_back(float(i));
  }
  return {tensor(x, Shape{n, 2}), tensor(y, Shape{n})};
}

// The row ids in one epoch's batches, checking each batch's x and y agree.
std::vector<float> epoch_rows(data::DataLoader& loader) {
  std::vector<float> rows;
  for (const std::vector<Tensor>& batch : loader) {
    const std::vector<float> x = batch[0].to_vector(), y = batch[1].to_vector();
    for (size_t i = 0; i < y.size(); ++i) {
      CHECK(x[2 * i] == y[i]);
      CHECK(x[2 * i + 1] == 10.f * y[i]);
      rows.push_back(y[i]);
    }
  }
  return rows;
}

std::vector<float> iota_floats(int n) {
  std::vector<float> values;
  for (int i = 0; i < n; ++i) values.push_back(float(i));
  return values;
}

std::vector<float> sorted(std::vector<float> values) {
  std::sort(values.begin(), values.end());
  return values;
}

}  // namespace

// -- TensorDataset -----------------------------------------------------------------------------

TEST_CASE("TensorDataset returns row i of every tensor", "[data]") {
  const data::TensorDataset dataset(numbered_rows(5));
  CHECK(dataset.size() == 5);
  const std::vector<Tensor> sample = dataset.get(3);
  REQUIRE(sample.size() == 2);
  CHECK(sample[0].shape() == Shape{2});
  CHECK_THAT(sample[0].to_vector(), Equals(std::vector<float>{3.f, 30.f}));
  CHECK(sample[1].shape() == Shape{});
  CHECK(sample[1].item() == 3.f);
}

TEST_CASE("TensorDataset rejects tensors whose first dims differ, naming every shape", "[data]") {
  CHECK_THROWS_WITH(data::TensorDataset({zeros({4, 3}), zeros({5})}),
                    Contains("TensorDataset") && Contains("[4, 3], [5]"));
}

TEST_CASE("TensorDataset rejects no tensors, undefined and 0-d tensors and bad indices", "[data]") {
  CHECK_THROWS_WITH(data::TensorDataset({}), Contains("at least one tensor"));
  CHECK_THROWS_WITH(data::TensorDataset({zeros({2}), Tensor()}), Contains("tensor 1 is undefined"));
  CHECK_THROWS_WITH(data::TensorDataset({scalar_tensor(1.f)}), Contains("0-d"));
  const data::TensorDataset dataset({zeros({3, 2})});
  CHECK_THROWS_WITH(dataset.get(3), Contains("index 3 is out of range") && Contains("3 samples"));
  CHECK_THROWS_WITH(dataset.get(-1), Contains("index -1 is out of range"));
}

// -- DataLoader --------------------------------------------------------------------------------

// Range-for and the standard algorithms accept it.
static_assert(std::input_iterator<data::DataLoader::Iterator>);

TEST_CASE("DataLoader keeps the short last batch: 10 rows in batches of 3 give 4 batches",
          "[data]") {
  data::DataLoader loader(data::TensorDataset(numbered_rows(10)), 3);
  CHECK(loader.size() == 4);
  std::vector<int64_t> batch_rows;
  for (const std::vector<Tensor>& batch : loader) {
    REQUIRE(batch.size() == 2);
    CHECK(batch[0].size(1) == 2);
    CHECK(batch[1].dim() == 1);
    batch_rows.push_back(batch[0].size(0));
  }
  CHECK(batch_rows == std::vector<int64_t>{3, 3, 3, 1});
  // Without shuffle the rows come in order, every epoch.
  CHECK(epoch_rows(loader) == iota_floats(10));
  CHECK(epoch_rows(loader) == iota_floats(10));
}

TEST_CASE("DataLoader with drop_last drops the short batch: 10 rows in batches of 3 give 3",
          "[data]") {
  data::DataLoader loader(data::TensorDataset(numbered_rows(10)), 3, /*shuffle=*/false,
                          /*drop_last=*/true);
  CHECK(loader.size() == 3);
  int64_t batches = 0;
  for (const std::vector<Tensor>& batch : loader) {
    CHECK(batch[0].size(0) == 3);
    ++batches;
  }
  CHECK(batches == 3);
  CHECK(epoch_rows(loader) == iota_floats(9));
}

TEST_CASE("DataLoader batch counts when the batch size divides the rows or exceeds them",
          "[data]") {
  const data::TensorDataset dataset(numbered_rows(6));
  CHECK(data::DataLoader(dataset, 3).size() == 2);
  CHECK(data::DataLoader(dataset, 3, false, true).size() == 2);
  CHECK(data::DataLoader(dataset, 8).size() == 1);
  CHECK(data::DataLoader(dataset, 8, false, true).size() == 0);
  data::DataLoader empty_epoch(dataset, 8, false, true);
  CHECK(empty_epoch.begin() == empty_epoch.end());
  data::DataLoader no_rows(data::TensorDataset({zeros({0, 4})}), 2);
  CHECK(no_rows.size() == 0);
  CHECK(no_rows.begin() == no_rows.end());
}

TEST_CASE("a shuffling DataLoader sees every row exactly once per epoch", "[data]") {
  data::DataLoader loader(data::TensorDataset(numbered_rows(10)), 3, /*shuffle=*/true);
  for (int epoch = 0; epoch < 5; ++epoch) {
    const std::vector<float> rows = epoch_rows(loader);
    CHECK(rows.size() == 10);
    CHECK(sorted(rows) == iota_floats(10));
  }
  // With drop_last, each epoch sees 9 distinct rows.
  data::DataLoader dropping(data::TensorDataset(numbered_rows(10)), 3, true, true);
  const std::vector<float> rows = sorted(epoch_rows(dropping));
  CHECK(rows.size() == 9);
  CHECK(std::adjacent_find(rows.begin(), rows.end()) == rows.end());
}

TEST_CASE("DataLoader shuffles repeat for the same seed, epoch after epoch", "[data]") {
  const data::TensorDataset dataset(numbered_rows(20));
  data::DataLoader first(dataset, 4, true, false, /*seed=*/7);
  data::DataLoader second(dataset, 4, true, false, /*seed=*/7);
  for (int epoch = 0; epoch < 3; ++epoch) CHECK(epoch_rows(first) == epoch_rows(second));
}

TEST_CASE("DataLoader shuffles differ between seeds and between epochs", "[data]") {
  const data::TensorDataset dataset(numbered_rows(20));
  data::DataLoader seven(dataset, 4, true, false, 7);
  data::DataLoader eight(dataset, 4, true, false, 8);
  const std::vector<float> epoch0 = epoch_rows(seven), epoch1 = epoch_rows(seven);
  CHECK(epoch0 != iota_floats(20));
  CHECK(epoch0 != epoch1);
  CHECK(epoch_rows(eight) != epoch0);
}

TEST_CASE("a DataLoader and a split given a seed leave the calling thread's generator untouched",
          "[data]") {
  manual_seed(3);
  const std::vector<float> expected = rand({4}).to_vector();
  manual_seed(3);
  data::DataLoader loader(data::TensorDataset(numbered_rows(10)), 3, true, false, 5);
  epoch_rows(loader);
  data::DataLoader in_order(data::TensorDataset(numbered_rows(10)), 3);
  epoch_rows(in_order);
  data::train_test_split(numbered_rows(10), 0.3f, 1);
  CHECK(rand({4}).to_vector() == expected);
}

TEST_CASE("without a seed, manual_seed decides DataLoader shuffles and splits", "[data]") {
  const data::TensorDataset dataset(numbered_rows(20));
  const auto draw = [&](uint64_t seed) {
    manual_seed(seed);
    data::DataLoader loader(dataset, 4, true);
    std::vector<float> rows = epoch_rows(loader);
    const std::vector<float> test =
        data::train_test_split(numbered_rows(20), 0.3f).second[1].to_vector();
    rows.insert(rows.end(), test.begin(), test.end());
    return rows;
  };
  const std::vector<float> first = draw(1);
  CHECK(draw(1) == first);
  CHECK(draw(2) != first);
}

TEST_CASE("DataLoader rejects a batch size below 1", "[data]") {
  const data::TensorDataset dataset(numbered_rows(4));
  CHECK_THROWS_WITH(data::DataLoader(dataset, 0), Contains("batch_size must be at least 1, got 0"));
  CHECK_THROWS_WITH(data::DataLoader(dataset, -2), Contains("got -2"));
}

TEST_CASE("DataLoader refuses to dereference its end", "[data]") {
  data::DataLoader loader(data::TensorDataset(numbered_rows(4)), 2);
  CHECK_THROWS_WITH(*loader.end(), Contains("points at no batch"));
}

// -- read_csv ----------------------------------------------------------------------------------

TEST_CASE("read_csv reads a header and a table of numbers", "[data]") {
  TempDir dir;
  const std::string path = write_text(dir.file("table.csv"), "a,b,c\n1,2.5,-3\n4e2,.5,nan\n");
  const data::CsvTable table = data::read_csv(path);
  CHECK(table.columns == std::vector<std::string>{"a", "b", "c"});
  REQUIRE(table.values.shape() == Shape{2, 3});
  const std::vector<float> values = table.values.to_vector();
  CHECK(values[0] == 1.f);
  CHECK(values[1] == 2.5f);
  CHECK(values[2] == -3.f);
  CHECK(values[3] == 400.f);
  CHECK(values[4] == 0.5f);
  CHECK(std::isnan(values[5]));
}

TEST_CASE("read_csv reads gzip and plain files to the same values", "[data]") {
  TempDir dir;
  std::string text = "x,y\n";
  for (int i = 0; i < 1000; ++i) text += std::to_string(i) + "," + std::to_string(i * 0.25) + "\n";
  const data::CsvTable plain = data::read_csv(write_text(dir.file("table.csv"), text));
  // Detected by its magic bytes, not its name: this one has no .gz suffix.
  const std::string gzip_path = write_gzip(dir.file("table.data"), text);
  REQUIRE(read_bytes(gzip_path).substr(0, 2) == "\x1f\x8b");
  const data::CsvTable gzip = data::read_csv(gzip_path);
  CHECK(gzip.columns == plain.columns);
  CHECK(gzip.values.shape() == Shape{1000, 2});
  CHECK(gzip.values.to_vector() == plain.values.to_vector());
  CHECK(data::read_csv(write_gzip(dir.file("table.csv.gz"), text)).values.to_vector() ==
        plain.values.to_vector());
}

TEST_CASE("read_csv without a header takes every line as data", "[data]") {
  TempDir dir;
  const std::string path = write_text(dir.file("table.csv"), "1,2\n3,4\n");
  const data::CsvTable table = data::read_csv(path, /*has_header=*/false);
  CHECK(table.columns.empty());
  CHECK(table.values.shape() == Shape{2, 2});
  CHECK(table.values.to_vector() == std::vector<float>{1.f, 2.f, 3.f, 4.f});
}

TEST_CASE("read_csv accepts spaces, a leading plus, CRLF, blank lines and a byte order mark",
          "[data]") {
  TempDir dir;
  const std::string path = write_text(
      dir.file("table.csv"), "\xEF\xBB\xBF \"a\" , b\r\n\r\n  1 ,\t+2 \r\n   \n-0.5,1e-3\r\n\n");
  const data::CsvTable table = data::read_csv(path);
  CHECK(table.columns == std::vector<std::string>{"a", "b"});
  CHECK(table.values.to_vector() == std::vector<float>{1.f, 2.f, -0.5f, 1e-3f});
}

TEST_CASE("read_csv splits on another delimiter", "[data]") {
  TempDir dir;
  const std::string path = write_text(dir.file("table.tsv"), "a;b\n1;2\n");
  CHECK(data::read_csv(path, true, ';').values.to_vector() == std::vector<float>{1.f, 2.f});
  const std::string tabs = write_text(dir.file("tabs.tsv"), "1\t2\n3\t4\n");
  CHECK(data::read_csv(tabs, false, '\t').values.shape() == Shape{2, 2});
}

TEST_CASE("read_csv of a header alone gives zero rows", "[data]") {
  TempDir dir;
  const data::CsvTable table = data::read_csv(write_text(dir.file("table.csv"), "a,b,c\n"));
  CHECK(table.columns.size() == 3);
  CHECK(table.values.shape() == Shape{0, 3});
  CHECK(data::read_csv(write_text(dir.file("empty.csv"), ""), false).values.shape() == Shape{0, 0});
}

TEST_CASE("read_csv names the file and line of a non-numeric field", "[data]") {
  TempDir dir;
  const std::string path = write_text(dir.file("bad.csv"), "a,b\n1,2\n\n3,abc\n");
  CHECK_THROWS_AS(data::read_csv(path), Error);
  CHECK_THROWS_WITH(data::read_csv(path),
                    "read_csv: " + path + ":4: column 2 ('b'): 'abc' is not a number");
  const std::string partial = write_text(dir.file("partial.csv"), "1,2x\n");
  CHECK_THROWS_WITH(data::read_csv(partial, false),
                    "read_csv: " + partial + ":1: column 2: '2x' is not a number");
}

TEST_CASE("read_csv names the file and line of a row with the wrong number of fields", "[data]") {
  TempDir dir;
  const std::string path = write_text(dir.file("short.csv"), "a,b,c\n1,2,3\n4,5\n");
  CHECK_THROWS_WITH(data::read_csv(path), "read_csv: " + path + ":3: expected 3 fields, found 2");
  const std::string longer = write_text(dir.file("long.csv"), "1,2\n3,4,5\n");
  CHECK_THROWS_WITH(data::read_csv(longer, false),
                    "read_csv: " + longer + ":2: expected 2 fields, found 3");
}

TEST_CASE("read_csv names the file and line of a malformed line inside a gzip file", "[data]") {
  TempDir dir;
  const std::string path = write_gzip(dir.file("bad.csv.gz"), "a,b\n1,2\n3,4\n5,six\n");
  CHECK_THROWS_WITH(data::read_csv(path),
                    "read_csv: " + path + ":4: column 2 ('b'): 'six' is not a number");
}

TEST_CASE("read_csv rejects empty fields and values outside float32's range", "[data]") {
  TempDir dir;
  const std::string empty = write_text(dir.file("empty.csv"), "a,b\n1,\n");
  CHECK_THROWS_WITH(data::read_csv(empty),
                    "read_csv: " + empty + ":2: column 2 ('b'): empty field");
  const std::string huge = write_text(dir.file("huge.csv"), "1e39\n");
  CHECK_THROWS_WITH(data::read_csv(huge, false),
                    Contains(":1: column 1: '1e39' is outside float32"));
  const std::string tiny = write_text(dir.file("tiny.csv"), "1e-50\n");
  CHECK_THROWS_WITH(data::read_csv(tiny, false), Contains("'1e-50' is outside float32"));
  const std::string plus = write_text(dir.file("plus.csv"), "+-1\n");
  CHECK_THROWS_WITH(data::read_csv(plus, false), Contains("'+-1' is not a number"));
}

TEST_CASE("read_csv of a missing file names the path", "[data]") {
  TempDir dir;
  const std::string path = dir.file("missing.csv");
  CHECK_THROWS_WITH(data::read_csv(path),
                    Contains("read_csv: cannot open '" + path + "'") && Contains("No such file"));
}

TEST_CASE("read_csv rejects a folder, a headerless file and a delimiter found in numbers",
          "[data]") {
  TempDir dir;
  CHECK_THROWS_WITH(data::read_csv(dir.file("")), Contains("read_csv: cannot"));
  const std::string blank = write_text(dir.file("blank.csv"), "\n  \n");
  CHECK_THROWS_WITH(data::read_csv(blank),
                    "read_csv: " + blank + ": expected a header line, but the file is empty");
  const std::string path = write_text(dir.file("table.csv"), "1.5\n");
  for (char delimiter : {'.', '-', '+', 'e', '7', '"', '\n'}) {
    CHECK_THROWS_WITH(data::read_csv(path, false, delimiter), Contains("cannot separate numbers"));
  }
  CHECK_THROWS_WITH(data::read_csv(path, false, '.'),
                    "read_csv: delimiter '.' cannot separate numbers");
  CHECK_THROWS_WITH(data::read_csv(path, false, '\r'),
                    "read_csv: delimiter with code 13 cannot separate numbers");
}

TEST_CASE("read_csv rejects truncated and corrupt gzip files", "[data]") {
  TempDir dir;
  const std::string bytes = read_bytes(write_gzip(dir.file("full.gz"), "a,b\n1,2\n3,4\n"));
  const std::string truncated =
      write_text(dir.file("truncated.gz"), bytes.substr(0, bytes.size() - 6));
  CHECK_THROWS_WITH(data::read_csv(truncated),
                    "read_csv: " + truncated + ": corrupt gzip data (unexpected end of file)");
  std::string flipped = bytes;
  flipped[flipped.size() - 5] = char(~flipped[flipped.size() - 5]);  // the CRC-32 check value
  const std::string corrupt = write_text(dir.file("corrupt.gz"), flipped);
  CHECK_THROWS_WITH(data::read_csv(corrupt), Contains(corrupt + ": corrupt gzip data"));
}

TEST_CASE("read_csv with skip_rows drops the first lines, blank or not, before the header",
          "[data]") {
  TempDir dir;
  const std::string path =
      write_text(dir.file("table.csv"), "House prices, 1990\n\nsource: census\na,b\n1,2\n3,4\n");
  // Unskipped, the title would be the header and "source: census" a row one field short.
  CHECK_THROWS_WITH(data::read_csv(path), "read_csv: " + path + ":3: expected 2 fields, found 1");
  const data::CsvTable table = data::read_csv(path, {.skip_rows = 3});
  CHECK(table.columns == std::vector<std::string>{"a", "b"});
  CHECK(table.values.to_vector() == std::vector<float>{1.f, 2.f, 3.f, 4.f});
  // Without a header, the skipped lines are gone and the rest is data.
  const data::CsvTable headerless = data::read_csv(path, {.has_header = false, .skip_rows = 4});
  CHECK(headerless.columns.empty());
  CHECK(headerless.values.shape() == Shape{2, 2});
  // Skipping every line leaves no rows; skipping beyond the end is the same.
  CHECK(data::read_csv(path, {.has_header = false, .skip_rows = 6}).values.shape() == Shape{0, 0});
  CHECK(data::read_csv(path, {.has_header = false, .skip_rows = 100}).values.shape() ==
        Shape{0, 0});
}

TEST_CASE("read_csv with a comment character skips comment lines and trailing comments", "[data]") {
  TempDir dir;
  const std::string path =
      write_text(dir.file("table.csv"),
                 "# made by hand\n a,b # names\n1,2\n  # an indented comment\n3,4# outlier\r\n#\n");
  const data::CsvTable table = data::read_csv(path, {.comment = '#'});
  CHECK(table.columns == std::vector<std::string>{"a", "b"});
  CHECK(table.values.to_vector() == std::vector<float>{1.f, 2.f, 3.f, 4.f});
  CHECK(table.lines == std::vector<int64_t>{3, 5});  // each row's line in the file
  // Without the option '#' is an ordinary character: the first line is the header.
  CHECK(data::read_csv(write_text(dir.file("plain.csv"), "# a,b\n1,2\n")).columns ==
        std::vector<std::string>{"# a", "b"});
  // With another delimiter and comment character, and together with skip_rows.
  const std::string semicolons =
      write_text(dir.file("table.ssv"), "title\n% note\na;b\n5;6 % trailing\n");
  const data::CsvTable both =
      data::read_csv(semicolons, {.delimiter = ';', .skip_rows = 1, .comment = '%'});
  CHECK(both.columns == std::vector<std::string>{"a", "b"});
  CHECK(both.values.to_vector() == std::vector<float>{5.f, 6.f});
}

TEST_CASE("read_csv errors name the file's own line numbers after skipped and comment lines",
          "[data]") {
  TempDir dir;
  const std::string text = "title\nnotes\n# comment\na,b\n\n1,2 # fine\n# comment\n3,x\n";
  const std::string path = write_text(dir.file("table.csv"), text);
  CHECK_THROWS_WITH(data::read_csv(path, {.skip_rows = 2, .comment = '#'}),
                    "read_csv: " + path + ":8: column 2 ('b'): 'x' is not a number");
  const std::string gzip = write_gzip(dir.file("table.csv.gz"), text);
  CHECK_THROWS_WITH(data::read_csv(gzip, {.skip_rows = 2, .comment = '#'}),
                    "read_csv: " + gzip + ":8: column 2 ('b'): 'x' is not a number");
  const std::string short_row = write_text(dir.file("short.csv"), "t\n# c\na,b\n1,2\n3 # ,4\n");
  CHECK_THROWS_WITH(data::read_csv(short_row, {.skip_rows = 1, .comment = '#'}),
                    "read_csv: " + short_row + ":5: expected 2 fields, found 1");
}

TEST_CASE("read_csv without a header line after skipped and comment lines names the count",
          "[data]") {
  TempDir dir;
  const std::string path = write_text(dir.file("table.csv"), "title\n\n# only a comment\n");
  CHECK_THROWS_WITH(data::read_csv(path, {.skip_rows = 1, .comment = '#'}),
                    "read_csv: " + path +
                        ": expected a header line, but the file has none after its 2 skipped "
                        "lines (skip_rows and comments)");
  CHECK_THROWS_WITH(data::read_csv(path, {.skip_rows = 5}),
                    Contains("the file has none after its 2 skipped lines"));
}

TEST_CASE("read_csv rejects a negative skip_rows and comment characters that clash", "[data]") {
  TempDir dir;
  const std::string path = write_text(dir.file("table.csv"), "1,2\n");
  CHECK_THROWS_WITH(data::read_csv(path, {.skip_rows = -1}),
                    "read_csv: skip_rows must be >= 0, got -1");
  for (char comment : {'1', 'e', '.', '-', '+', '"', '\n', '\r'}) {
    CHECK_THROWS_WITH(
        data::read_csv(path, {.has_header = false, .comment = comment}),
        Contains("comment character") && Contains("can occur in numbers or ends lines"));
  }
  CHECK_THROWS_WITH(data::read_csv(path, {.comment = ','}),
                    "read_csv: comment character ',' is also the delimiter");
  CHECK_THROWS_WITH(data::read_csv(path, {.delimiter = '\t', .comment = '\t'}),
                    "read_csv: comment character with code 9 is also the delimiter");
}

// -- train_test_split --------------------------------------------------------------------------

TEST_CASE("train_test_split puts ceil(fraction * N) rows in the test set", "[data]") {
  const auto [train, test] = data::train_test_split(numbered_rows(10), 0.2f, 0);
  CHECK(train[0].shape() == Shape{8, 2});
  CHECK(train[1].shape() == Shape{8});
  CHECK(test[0].shape() == Shape{2, 2});
  CHECK(test[1].shape() == Shape{2});
  CHECK(data::train_test_split(numbered_rows(10), 0.25f, 0).second[0].size(0) == 3);
  CHECK(data::train_test_split(numbered_rows(10), 0.01f, 0).second[0].size(0) == 1);
  CHECK(data::train_test_split(numbered_rows(2), 0.5f, 0).first[0].size(0) == 1);
}

TEST_CASE("train_test_split keeps rows aligned across tensors and loses none", "[data]") {
  const auto [train, test] = data::train_test_split(numbered_rows(50), 0.3f, 5);
  std::vector<float> all;
  for (const std::vector<Tensor>* split : {&train, &test}) {
    const std::vector<float> x = (*split)[0].to_vector(), y = (*split)[1].to_vector();
    for (size_t i = 0; i < y.size(); ++i) {
      CHECK(x[2 * i] == y[i]);
      CHECK(x[2 * i + 1] == 10.f * y[i]);
    }
    all.insert(all.end(), y.begin(), y.end());
  }
  CHECK(all != iota_floats(50));  // shuffled
  CHECK(sorted(all) == iota_floats(50));
}

TEST_CASE("train_test_split repeats for the same seed and changes with it", "[data]") {
  const std::vector<Tensor> rows = numbered_rows(30);
  const auto first = data::train_test_split(rows, 0.3f, 11);
  const auto again = data::train_test_split(rows, 0.3f, 11);
  const auto other = data::train_test_split(rows, 0.3f, 12);
  CHECK(first.second[1].to_vector() == again.second[1].to_vector());
  CHECK(first.first[1].to_vector() == again.first[1].to_vector());
  CHECK(first.second[1].to_vector() != other.second[1].to_vector());
}

TEST_CASE("train_test_split rejects fractions outside (0, 1), too few rows and misaligned tensors",
          "[data]") {
  const std::vector<Tensor> rows = numbered_rows(10);
  for (float fraction : {0.f, 1.f, -0.5f, 1.5f, std::nanf("")}) {
    CHECK_THROWS_WITH(data::train_test_split(rows, fraction, 0),
                      Contains("test_fraction must be in (0, 1)"));
  }
  CHECK_THROWS_WITH(data::train_test_split(rows, 1.5f, 0),
                    "train_test_split: test_fraction must be in (0, 1), got 1.5");
  CHECK_THROWS_WITH(
      data::train_test_split(numbered_rows(1), 0.5f, 0),
      "train_test_split: with 1 row(s) and test_fraction 0.5 the training set would be empty");
  CHECK_THROWS_WITH(data::train_test_split(numbered_rows(3), 0.9f, 0),
                    Contains("the training set would be empty"));
  CHECK_THROWS_WITH(data::train_test_split({zeros({4, 2}), zeros({3})}, 0.5f, 0),
                    Contains("train_test_split") && Contains("[4, 2], [3]"));
  CHECK_THROWS_WITH(data::train_test_split({}, 0.5f, 0), Contains("at least one tensor"));
}

// -- StandardScaler ----------------------------------------------------------------------------

TEST_CASE("StandardScaler learns the mean and population std of the training split only",
          "[data]") {
  // Column 0: 2 4 4 4 5 5 7 9, mean 5, squared deviations 9 1 1 1 0 0 4 16 sum to 32,
  // population variance 32 / 8 = 4, std 2. Column 1: four 0s and four 10s, mean 5, std 5.
  const Tensor train = tensor({2, 0, 4, 0, 4, 0, 4, 0, 5, 10, 5, 10, 7, 10, 9, 10}, Shape{8, 2});
  const Tensor test = tensor({5, 5, 9, 20, 1000, -1000}, Shape{3, 2});
  data::StandardScaler scaler;
  scaler.fit(train);
  CHECK(scaler.num_features() == 2);
  CHECK(scaler.mean().to_vector() == std::vector<float>{5.f, 5.f});
  CHECK(scaler.scale().to_vector() == std::vector<float>{2.f, 5.f});
  // The test rows are scaled with the training statistics, not their own.
  CHECK(scaler.transform(test).to_vector() ==
        std::vector<float>{0.f, 0.f, 2.f, 3.f, 497.5f, -201.f});
  CHECK(scaler.inverse_transform(scaler.transform(test)).to_vector() == test.to_vector());
}

TEST_CASE("StandardScaler fit_transform on a split gives each training feature mean 0, std 1",
          "[data]") {
  manual_seed(0);
  const Tensor x = randn({40, 3}) * 4.f + 7.f;
  const auto [train, test] = data::train_test_split({x}, 0.25f, 3);
  data::StandardScaler scaler;
  const Tensor scaled = scaler.fit_transform(train[0]);
  const std::vector<float> means = scaled.mean({0}).to_vector();
  const std::vector<float> variances = scaled.var({0}, /*unbiased=*/false).to_vector();
  for (int f = 0; f < 3; ++f) {
    CHECK(means[f] == Approx(0.f).margin(1e-5));
    CHECK(variances[f] == Approx(1.f).epsilon(1e-5));
  }
  CHECK(scaler.transform(test[0]).shape() == Shape{10, 3});
}

TEST_CASE("StandardScaler gives a constant feature scale 1", "[data]") {
  const Tensor x = tensor({0.1f, 1.f, 0.1f, 3.f, 0.1f, 5.f}, Shape{3, 2});
  data::StandardScaler scaler;
  const Tensor scaled = scaler.fit_transform(x);
  CHECK(scaler.scale().to_vector()[0] == 1.f);
  const std::vector<float> values = scaled.to_vector();
  for (int n = 0; n < 3; ++n) CHECK(std::isfinite(values[2 * n]));
  CHECK(std::abs(values[0]) < 1e-6f);
}

TEST_CASE("StandardScaler rejects use before fit, bad shapes and feature count mismatches",
          "[data]") {
  data::StandardScaler scaler;
  CHECK_FALSE(scaler.is_fitted());
  CHECK_THROWS_WITH(scaler.transform(zeros({2, 2})),
                    Contains("transform: the scaler is not fitted"));
  CHECK_THROWS_WITH(scaler.inverse_transform(zeros({2, 2})), Contains("not fitted"));
  CHECK_THROWS_WITH(scaler.mean(), Contains("mean: the scaler is not fitted"));
  CHECK_THROWS_WITH(scaler.scale(), Contains("not fitted"));
  CHECK_THROWS_WITH(scaler.num_features(), Contains("not fitted"));
  CHECK_THROWS_WITH(scaler.fit(zeros({4})),
                    Contains("fit: expected x of shape [N, F]") && Contains("got [4]"));
  CHECK_THROWS_WITH(scaler.fit(zeros({0, 3})), Contains("got [0, 3]"));
  CHECK_THROWS_WITH(scaler.fit(Tensor()), Contains("undefined"));
  scaler.fit(ones({4, 3}));
  CHECK(scaler.is_fitted());
  CHECK_THROWS_WITH(scaler.transform(zeros({2, 2})),
                    Contains("expected x of shape [..., 3]") && Contains("got [2, 2]"));
  CHECK_THROWS_WITH(scaler.inverse_transform(scalar_tensor(1.f)), Contains("got []"));
  CHECK(scaler.transform(zeros({3})).shape() == Shape{3});
}

TEST_CASE("StandardScaler with unbiased divides by N - 1, like torch.std", "[data]") {
  // Python's statistics module (exact rational arithmetic, then one rounding):
  //   import statistics as st
  //   [st.stdev(c) for c in ([1.5, 3.25, -0.75, 2], [-2, 0.5, 4, 1])]
  //     -> [1.6708281379802852, 2.462214450449026]       (sample, N - 1)
  //   [st.pstdev(c) for c in (...)]
  //     -> [1.4469796128487782, 2.1323402636539974]      (population, N)
  const Tensor x = tensor({1.5f, -2.f, 3.25f, 0.5f, -0.75f, 4.f, 2.f, 1.f}, Shape{4, 2});
  data::StandardScaler sample({.unbiased = true}), population;
  CHECK(sample.options().unbiased);
  CHECK_FALSE(population.options().unbiased);
  sample.fit(x);
  population.fit(x);
  CHECK(sample.mean().to_vector() == std::vector<float>{1.5f, 0.875f});
  const std::vector<float> sample_scale = sample.scale().to_vector();
  CHECK(sample_scale[0] == Approx(1.6708281379802852).epsilon(1e-6));
  CHECK(sample_scale[1] == Approx(2.462214450449026).epsilon(1e-6));
  const std::vector<float> population_scale = population.scale().to_vector();
  CHECK(population_scale[0] == Approx(1.4469796128487782).epsilon(1e-6));
  CHECK(population_scale[1] == Approx(2.1323402636539974).epsilon(1e-6));
  // Transformed with N - 1, each feature's sample variance is 1.
  const std::vector<float> variances = sample.transform(x).var({0}, true).to_vector();
  CHECK(variances[0] == Approx(1.f).epsilon(1e-6));
  CHECK(variances[1] == Approx(1.f).epsilon(1e-6));
}

TEST_CASE("StandardScaler with unbiased on one row gives every feature scale 1", "[data]") {
  data::StandardScaler scaler({.unbiased = true});
  scaler.fit(tensor({3.f, -4.f}, Shape{1, 2}));
  CHECK(scaler.scale().to_vector() == std::vector<float>{1.f, 1.f});
  CHECK(scaler.transform(tensor({3.f, -4.f}, Shape{1, 2})).to_vector() ==
        std::vector<float>{0.f, 0.f});
}

TEST_CASE("StandardScaler inverse-transforms a std by scale and a variance by scale squared",
          "[data]") {
  // Scales 2 and 5, as in the first StandardScaler test: x = z · scale + mean, so a spread
  // of z maps to std(x) = std(z) · scale, var(x) = var(z) · scale², whatever the mean.
  const Tensor train = tensor({2, 0, 4, 0, 4, 0, 4, 0, 5, 10, 5, 10, 7, 10, 9, 10}, Shape{8, 2});
  data::StandardScaler scaler;
  scaler.fit(train);
  CHECK(scaler.inverse_transform_std(tensor({1.f, 0.5f, 2.f, 0.f}, Shape{2, 2})).to_vector() ==
        std::vector<float>{2.f, 2.5f, 4.f, 0.f});
  CHECK(scaler.inverse_transform_var(tensor({1.f, 0.5f, 2.f, 0.f}, Shape{2, 2})).to_vector() ==
        std::vector<float>{4.f, 12.5f, 8.f, 0.f});
  // Any leading dims, like transform.
  CHECK(scaler.inverse_transform_var(ones({3, 1, 2})).shape() == Shape{3, 1, 2});

  // The statistics of inverse-transformed samples agree with the transformed statistics.
  manual_seed(0);
  const Tensor z = randn({1000, 2});
  const Tensor x = scaler.inverse_transform(z);
  const Tensor z_var = z.var({0}, true), x_var = x.var({0}, true);
  const std::vector<float> var_back = scaler.inverse_transform_var(z_var).to_vector();
  const std::vector<float> std_back = scaler.inverse_transform_std(sqrt(z_var)).to_vector();
  const std::vector<float> var_x = x_var.to_vector(), std_x = sqrt(x_var).to_vector();
  for (int f = 0; f < 2; ++f) {
    CHECK(var_back[f] == Approx(var_x[f]).epsilon(1e-5));
    CHECK(std_back[f] == Approx(std_x[f]).epsilon(1e-5));
  }
}

TEST_CASE("StandardScaler inverse_transform_std and _var are differentiable in their input",
          "[data]") {
  data::StandardScaler scaler;
  scaler.fit(tensor({2, 0, 4, 0, 4, 0, 4, 0, 5, 10, 5, 10, 7, 10, 9, 10}, Shape{8, 2}));
  // d/ds sum(s · scale) = scale; d/dv sum(v · scale²) = scale².
  const Tensor s = ones({3, 2}, true), v = ones({3, 2}, true);
  scaler.inverse_transform_std(s).sum().backward();
  scaler.inverse_transform_var(v).sum().backward();
  CHECK(s.grad().to_vector() == std::vector<float>{2.f, 5.f, 2.f, 5.f, 2.f, 5.f});
  CHECK(v.grad().to_vector() == std::vector<float>{4.f, 25.f, 4.f, 25.f, 4.f, 25.f});
}

TEST_CASE("StandardScaler inverse_transform_std and _var reject use before fit and wrong shapes",
          "[data]") {
  data::StandardScaler scaler;
  CHECK_THROWS_WITH(scaler.inverse_transform_std(ones({2})),
                    "StandardScaler::inverse_transform_std: the scaler is not fitted; call fit "
                    "first");
  CHECK_THROWS_WITH(scaler.inverse_transform_var(ones({2})),
                    "StandardScaler::inverse_transform_var: the scaler is not fitted; call fit "
                    "first");
  scaler.fit(ones({4, 3}));
  CHECK_THROWS_WITH(
      scaler.inverse_transform_std(ones({2, 2})),
      Contains("inverse_transform_std: expected x of shape [..., 3]") && Contains("got [2, 2]"));
  CHECK_THROWS_WITH(
      scaler.inverse_transform_var(scalar_tensor(1.f)),
      Contains("inverse_transform_var: expected x of shape [..., 3]") && Contains("got []"));
  CHECK_THROWS_WITH(scaler.inverse_transform_var(Tensor()), Contains("undefined"));
}

TEST_CASE("a StandardScaler restored from its statistics transforms like the fitted one",
          "[data]") {
  const Tensor x = tensor({1.f, 10.f, 3.f, 20.f, 5.f, 60.f}, {3, 2});
  data::StandardScaler fitted;
  fitted.fit(x);
  const data::StandardScaler restored(fitted.mean(), fitted.scale());
  CHECK(restored.transform(x).to_vector() == fitted.transform(x).to_vector());
  CHECK_THROWS_WITH(data::StandardScaler(zeros({2}), zeros({3})),
                    "StandardScaler: mean and scale must both be [F] with F >= 1, got [2] and [3]");
  CHECK_THROWS_WITH(data::StandardScaler(zeros({2}), tensor({1.f, 0.f})),
                    "StandardScaler: every scale must be positive and finite, got 0.000000");
}
