// Points of a density from CSV, .npy and .pt files: what a good file gives, and the one-line
// error of each kind of bad file.
#include <deepdyn/deepdyn.h>
#include <deepdyn/io/arrays.h>
#include <gtest/gtest.h>

#include <fstream>

#include "support/error_message.h"
#include "support/tensor_files.h"

namespace dd = deepdyn;
using dd::testing::error_message;

namespace {

std::string path_of(const std::string& name) { return ::testing::TempDir() + "deepdyn_points_" + name; }

std::string write_text(const std::string& name, const std::string& text) {
  const auto path = path_of(name);
  std::ofstream(path) << text;
  return path;
}

TEST(Points, CsvNpyAndPtFilesGiveThePointsAndTheirNames) {
  const auto expected = torch::tensor({1.0, -2.0, 0.5, 3.0, 4.0, -0.25}, torch::kFloat64).view({2, 3});
  auto points = dd::data::read_points(write_text("good.csv", "a, b ,c\n1,-2,0.5\n\n3,4e0,-0.25\n"));
  EXPECT_TRUE(torch::equal(points.x, expected));
  EXPECT_EQ(points.names, (std::vector<std::string>{"a", "b", "c"}));

  dd::io::write_npy(path_of("good.npy"), expected.to(torch::kFloat32));
  points = dd::data::read_points(path_of("good.npy"));
  EXPECT_TRUE(torch::equal(points.x, expected));
  EXPECT_EQ(points.names, (std::vector<std::string>{"x1", "x2", "x3"}));
  EXPECT_TRUE(torch::equal(dd::data::read_points(dd::testing::write_pt(path_of("good.pt"), expected)).x, expected));
}

TEST(Points, EachKindOfBadFileIsOneLineNamingTheFilePlaceAndWhatWasExpected) {
  const std::pair<std::string, std::vector<std::string>> csv_cases[] = {
      {"", {"is empty"}},
      {"1,2\n3,4\n5,6\n", {"line 1", "is numbers, not a header"}},
      {"a,,c\n1,2,3\n", {"line 1", "a column of the header has no name"}},
      {"a,b\n1,2\n3\n", {"line 3", "1 fields where the header has 2"}},
      {"a,b\n1,2\n3,inf\n", {"line 3", "column b", "not a finite number"}},
      {"a,b\n1,x\n", {"line 2", "column b", "'x' is not a number"}},
      {"a,b\n1,2\n", {"has 1 points: expected two or more"}},
  };
  int k = 0;
  for (const auto& [text, expected] : csv_cases) {
    const auto path = write_text("bad" + std::to_string(k++) + ".csv", text);
    const auto message = error_message([&] { dd::data::read_points(path); });
    EXPECT_NE(message.find(path), std::string::npos) << message;
    for (const auto& part : expected) EXPECT_NE(message.find(part), std::string::npos) << part << " in: " << message;
  }
  const auto bad = path_of("bad.npy");
  const std::pair<torch::Tensor, std::string> array_cases[] = {
      {torch::zeros({4}), "expected a 2-D array [n, d] of points, got shape [4]"},
      {torch::zeros({1, 3}), "has 1 points"},
      {torch::zeros({3, 2}).index_put_({2, 1}, NAN), "row 2, column 1: nan is not a finite number"},
  };
  for (const auto& [array, expected] : array_cases) {
    dd::io::write_npy(bad, array);
    const auto message = error_message([&] { dd::data::read_points(bad); });
    EXPECT_NE(message.find(expected), std::string::npos) << expected << " in: " << message;
  }
  EXPECT_NE(error_message([] { dd::data::read_points("points.txt"); }).find("none of the extensions"),
            std::string::npos);
}

}  // namespace
