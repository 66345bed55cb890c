#include <ember/ember.h>
#include <ember/train/tabular.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace ember;

namespace {
std::string write_file(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("ember_test_tabular_" + name);
  std::ofstream(path) << text;
  return path.string();
}
}  // namespace

TEST_CASE("parse_target reads a column and its kind") {
  CHECK(train::parse_target("price").column == "price");
  CHECK(train::parse_target("price").type == models::TaskType::regression);
  CHECK(train::parse_target("spam:binary").type == models::TaskType::binary);
  CHECK(train::parse_target("a:b:classes").column == "a:b");
  CHECK(train::parse_target("a:b:classes").type == models::TaskType::multiclass);
  CHECK_THROWS_WITH(
      train::parse_target("y:ordinal"),
      "target \"y:ordinal\": unknown kind \"ordinal\" (regression, binary or classes)");
  CHECK_THROWS_WITH(train::parse_target(":binary"), "target \":binary\": no column name");
}

TEST_CASE("load_table splits targets from features and counts classes") {
  const std::string path = write_file(
      "good.csv", "# a comment\nx1,digit,x2,odd,size\n1,2,3,0,0.5\n4,0,6,1,1.5\n7,1,9,1,2\n");
  const train::Table table =
      train::load_table(path, {train::parse_target("digit:classes"),
                               train::parse_target("odd:binary"), train::parse_target("size")});
  CHECK(table.feature_names == std::vector<std::string>{"x1", "x2"});
  CHECK(table.x.to_vector() == std::vector<float>{1, 3, 4, 6, 7, 9});
  REQUIRE(table.tasks.size() == 3);
  CHECK(table.tasks[0].classes == 3);
  CHECK(table.tasks[1].type == models::TaskType::binary);
  CHECK(table.targets[0].to_vector() == std::vector<float>{2, 0, 1});
  CHECK(table.targets[2].to_vector() == std::vector<float>{0.5f, 1.5f, 2.f});
  const train::Table chosen = train::load_table(path, {train::parse_target("size")}, {"x2", "odd"});
  CHECK(chosen.feature_names == std::vector<std::string>{"x2", "odd"});
  CHECK(chosen.x.to_vector() == std::vector<float>{3, 0, 6, 1, 9, 1});
}

TEST_CASE("load_table names the file, line and column of a bad label") {
  const std::string path = write_file("labels.csv", "a,y\n1,0\n# note\n2,1.5\n");
  CHECK_THROWS_WITH(train::load_table(path, {train::parse_target("y:classes")}),
                    path + ":4: column 'y': class label 1.500000 is not an integer >= 0");
  CHECK_THROWS_WITH(train::load_table(path, {train::parse_target("y:binary")}),
                    path + ":4: column 'y': class label 1.500000 is not 0 or 1");
  const std::string single = write_file("single.csv", "a,y\n1,2\n2,2\n");
  CHECK_THROWS_WITH(train::load_table(single, {train::parse_target("y:classes")}),
                    single +
                        ": column 'y' holds a single class (2); a classification target "
                        "needs at least two");
}

TEST_CASE("load_table refuses missing, repeated and exhausted columns") {
  const std::string path = write_file("columns.csv", "a,b\n1,2\n3,4\n");
  CHECK_THROWS_WITH(train::load_table(path, {train::parse_target("c")}),
                    path + ": no column 'c' (columns: a, b)");
  CHECK_THROWS_WITH(train::load_table(path, {train::parse_target("a")}, {"a"}),
                    path + ": column 'a' is used twice");
  CHECK_THROWS_WITH(train::load_table(path, {train::parse_target("a"), train::parse_target("b")}),
                    path + ": no feature columns left besides the targets");
  CHECK_THROWS_WITH(train::load_table(path, {}),
                    "load_table: " + path + ": no target columns given");
  CHECK_THROWS_WITH(train::load_table(path + ".missing", {train::parse_target("a")}),
                    Catch::Contains(".missing"));
}

TEST_CASE("load_table refuses NaN and infinity in the columns it uses") {
  const std::string path = write_file("finite.csv", "a,b,y\n1,nan,0\n2,3,inf\n");
  CHECK_THROWS_WITH(train::load_table(path, {train::parse_target("y")}),
                    path + ":2: column 'b': NaN (ember trains on finite values only)");
  CHECK_THROWS_WITH(train::load_table(path, {train::parse_target("y")}, {"a"}),
                    path + ":3: column 'y': infinity (ember trains on finite values only)");
}
