#pragma once
// The machine under the scoreboard: what it is, how busy, and its arithmetic peak; and the
// GEMM section, which measures ember's matmul against the libraries this build found.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.h"

namespace scoreboard {

/// CPU model (/proc/cpuinfo), logical CPUs, compiler and flags, library versions.
nlohmann::json describe_machine();
/// The 1-, 5- and 15-minute load averages (/proc/loadavg), or empty where unreadable.
std::vector<double> load_average();

/// Peak float32 GFLOP/s on `threads` threads: fused multiply-adds on the widest vectors this
/// CPU runs (AVX-512, AVX2+FMA, or SSE multiply and add), 12 independent chains per thread,
/// all in registers; the best of 40 short runs. `smoke`: one run.
double peak_gflops(int threads, bool smoke);

/// GEMM GFLOP/s of ember's matmul, ember's raw gemm kernel, plain Eigen, OpenBLAS and
/// libxsmm (up to 64³) on the given shapes, interleaved; prints the table and returns the
/// rows for the JSON. `peak` is peak_gflops at each thread count, by index into `threads`.
nlohmann::json gemm_section(const std::vector<std::vector<int64_t>>& shapes,
                            const std::vector<int>& threads, const std::vector<double>& peak,
                            const TimingOptions& timing);

/// The direct-kernel GEMMs of one seed MultiTaskModel training step (batch 10), timed as a
/// set: ember's gemm against libxsmm, dispatching its kernel on every call as a library
/// would, and with the kernels looked up once (the best libxsmm could do). Prints the table;
/// returns null in a build without libxsmm.
nlohmann::json seed_gemms_section(const TimingOptions& timing);

}  // namespace scoreboard
