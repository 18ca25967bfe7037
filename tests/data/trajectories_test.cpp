// Measured trajectories from CSV files: what a good file gives, and the one-line error of each
// kind of bad file.
#include <deepdyn/deepdyn.h>
#include <deepdyn/io/arrays.h>
#include <gtest/gtest.h>

#include <fstream>

#include "support/error_message.h"
#include "support/tensor_files.h"

namespace dd = deepdyn;
using dd::testing::error_message;

namespace {

std::string write_csv(const std::string& name, const std::string& text) {
  const auto path = ::testing::TempDir() + "deepdyn_trajectories_" + name + ".csv";
  std::ofstream(path) << text;
  return path;
}

TEST(Trajectories, IrregularTimesAndInterleavedRowsAreReadPerTrajectory) {
  const auto path = write_csv("good",
                              "trajectory,t,x,v\n"
                              "pendulum-a,0,1.0,0\n"
                              "b,0.5,-2,0.25\n"
                              "pendulum-a, 0.1 ,0.99,-0.1\n"
                              "\n"
                              "b,0.75,-1.5e0,1e-3\n"
                              "pendulum-a,0.35,0.9,-0.4\n");
  const auto trajectories = dd::data::read_trajectories_csv(path);
  ASSERT_EQ(trajectories.size(), 2u);
  EXPECT_EQ(trajectories[0].id, "pendulum-a");
  EXPECT_TRUE(torch::equal(trajectories[0].t, torch::tensor({0.0, 0.1, 0.35}, torch::kFloat64)));
  EXPECT_TRUE(torch::equal(trajectories[0].y,
                           torch::tensor({1.0, 0.0, 0.99, -0.1, 0.9, -0.4}, torch::kFloat64).view({3, 2})));
  EXPECT_EQ(trajectories[1].id, "b");
  EXPECT_TRUE(torch::equal(trajectories[1].y, torch::tensor({-2.0, 0.25, -1.5, 1e-3}, torch::kFloat64).view({2, 2})));
}

TEST(Trajectories, EachKindOfBadFileIsOneLineNamingTheFilePlaceAndWhatWasExpected) {
  const std::string header = "trajectory,t,y1,y2\n";
  const std::pair<std::string, std::vector<std::string>> cases[] = {
      {"", {"is empty"}},
      {"id,time,y\n1,0,0\n", {"line 1", "expected the header trajectory,t,y1,...,yd"}},
      {"trajectory,t\na,0\n", {"line 1", "at least one state column"}},
      {header, {"has a header but no rows"}},
      {header + "a,0,1,2\na,1,1\n", {"line 3", "3 fields where the header has 4"}},
      {header + "a,0,1,2\na,1,one,2\n", {"line 3", "column y1", "'one' is not a number"}},
      {header + "a,0,1,2\na,1,1,nan\n", {"line 3", "column y2", "not a finite number"}},
      {header + "a,0,1,2\n,1,1,2\n", {"line 3", "trajectory column is empty"}},
      {header + "a,0,1,2\na,1,1,2\nb,0,1,2\na,0.5,1,2\n",
       {"line 5", "trajectory 'a' does not move forward in time", "on line 3"}},
      {header + "a,0,1,2\na,1,1,2\nb,0,1,2\n", {"trajectory 'b' has one row (line 4)"}},
  };
  int k = 0;
  for (const auto& [text, expected] : cases) {
    const auto path = write_csv("bad" + std::to_string(k++), text);
    const auto message = error_message([&] { dd::data::read_trajectories_csv(path); });
    EXPECT_NE(message.find(path), std::string::npos) << message;
    for (const auto& part : expected) EXPECT_NE(message.find(part), std::string::npos) << part << " in: " << message;
  }
  EXPECT_NE(error_message([] { dd::data::read_trajectories_csv("/nonexistent/trajectories.csv"); }).find("cannot be read"),
            std::string::npos);
  EXPECT_NE(error_message([] { dd::data::read_trajectories_csv(::testing::TempDir()); }).find("is a directory"),
            std::string::npos);
}

// .npy and .pt files hold the CSV's table [rows, 2 + d]: trajectory number, t, states.
TEST(Trajectories, NpyAndPtTablesAreReadLikeTheCsv) {
  const auto table = torch::tensor({3.0, 0.0, 1.0, 2.0,  //
                                    5.0, 0.5, -1.0, 0.0,  //
                                    3.0, 0.1, 1.5, 2.5,   //
                                    5.0, 1.0, -2.0, 1.0},
                                   torch::kFloat64)
                         .view({4, 4});
  const auto npy = ::testing::TempDir() + "deepdyn_trajectories.npy";
  const auto pt = ::testing::TempDir() + "deepdyn_trajectories.pt";
  dd::io::write_npy(npy, table.to(torch::kFloat32));
  dd::testing::write_pt(pt, table);
  for (const auto& path : {npy, pt}) {
    const auto trajectories = dd::data::read_trajectories(path);
    ASSERT_EQ(trajectories.size(), 2u) << path;
    EXPECT_EQ(trajectories[0].id, "3");
    EXPECT_EQ(trajectories[1].id, "5");
    EXPECT_TRUE(torch::allclose(trajectories[0].t, torch::tensor({0.0, 0.1}, torch::kFloat64)));
    EXPECT_TRUE(torch::allclose(trajectories[1].y, torch::tensor({-1.0, 0.0, -2.0, 1.0}, torch::kFloat64).view({2, 2})));
  }

  const std::pair<torch::Tensor, std::vector<std::string>> bad[] = {
      {table.flatten(), {"expected a 2-D array [rows, 2 + d]", "got shape [16]"}},
      {table.narrow(1, 0, 2), {"expected a 2-D array [rows, 2 + d]", "got shape [4, 2]"}},
      {table.clone().index_put_({1, 3}, NAN), {"row 1, column 3", "not a finite number"}},
      {table.clone().index_put_({2, 0}, 3.5), {"row 2, column 0 (trajectory)", "not a whole number"}},
      {table.clone().index_put_({2, 1}, -1.0), {"row 2", "trajectory '3' does not move forward in time", "on row 0"}},
  };
  for (const auto& [array, expected] : bad) {
    dd::io::write_npy(npy, array);
    const auto message = error_message([&] { dd::data::read_trajectories(npy); });
    EXPECT_NE(message.find(npy), std::string::npos) << message;
    for (const auto& part : expected) EXPECT_NE(message.find(part), std::string::npos) << part << " in: " << message;
  }
  EXPECT_NE(error_message([] { dd::data::read_trajectories("data.txt"); }).find("none of the extensions .csv, .npy"),
            std::string::npos);
}

}  // namespace
