#pragma once
// `ember demo` (apps/demo.cpp).

#include <cstdint>
#include <string>

namespace ember::apps {

struct DemoOptions {
  std::string data_path;           // digits.csv.gz
  std::string out_dir;             // the runs and the pictures
  std::string plot_script;         // apps/plot_demo.py
  std::string python = "python3";  // runs plot_script; needs matplotlib
  int64_t epochs = 30;
};

/// Runs the demo, printing its tables; returns the exit status. Throws Error for a missing
/// data file or a failed run.
int run_demo(const DemoOptions& options);

}  // namespace ember::apps
