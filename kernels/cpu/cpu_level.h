#pragma once
// Which instruction set the CPU kernels run with, chosen once at run time.

namespace ember::kernels::cpu {

/// A set of instructions the CPU kernels can be built for:
///   baseline  any x86-64 (SSE2), or the compiler's default on other CPUs
///   avx2      x86-64-v3: AVX2, FMA, BMI1/2 (Intel Haswell and AMD Zen on)
///   avx512    x86-64-v4: AVX-512 F, BW, CD, DQ and VL (Intel Skylake-X, AMD Zen 4 on)
///   native    the build machine's own (-DEMBER_NATIVE=ON)
/// The default build has baseline, avx2 and avx512 on x86-64 and baseline elsewhere; a
/// -DEMBER_NATIVE=ON build has native alone.
enum class CpuLevel { baseline, avx2, avx512, native };

/// True when this build has kernels for `level` and this CPU can run them.
bool cpu_level_available(CpuLevel level);

/// The level the kernels run at: the one named by the environment variable EMBER_CPU
/// (baseline, avx2 or avx512) when it is available, else the highest available one. Decided
/// on the first call; an EMBER_CPU that names no available level is reported once on stderr
/// and ignored.
CpuLevel cpu_level();

/// The level's name as EMBER_CPU spells it: "baseline", "avx2", "avx512" or "native".
const char* cpu_level_name(CpuLevel level);

// Elementwise loops at the CPU's level. The GEMM has a copy of its file per level
// (gemm_kernel.cpp), but the elementwise loops are templates instantiated in every op's file,
// which the portable build compiles for SSE2 (on an AMD EPYC, Zen 4: relu over [64, 400] 3.58
// µs that way, 2.02 µs at avx512; the column sums of that matrix 4.49 and 2.77 µs). So a loop
// runs through run_at_cpu_level, which inlines it (`flatten`) into a copy compiled for each
// x86-64 level and calls the copy for the CPU's level. Only the loop's own code is recompiled,
// never a whole file, so nothing built for AVX-512 can leak into code that the baseline level
// runs.
namespace detail {
template <class Loop, class... Args>
[[gnu::noinline, gnu::flatten]] void run_loop(Loop loop, Args... args) {
  loop(args...);
}
#if defined(__x86_64__)
template <class Loop, class... Args>
[[gnu::noinline, gnu::flatten, gnu::target("arch=x86-64-v3")]] void run_loop_avx2(Loop loop,
                                                                                  Args... args) {
  loop(args...);
}
template <class Loop, class... Args>
[[gnu::noinline, gnu::flatten, gnu::target("arch=x86-64-v4")]] void run_loop_avx512(Loop loop,
                                                                                    Args... args) {
  loop(args...);
}
#endif
}  // namespace detail

/// Calls loop(args...) compiled for `level`, which must be a level this CPU runs
/// (cpu_level_available): for avx2 and avx512 a copy of the loop built with those
/// instructions, for baseline and native the file's own build. `loop` is a function object;
/// it and every argument are passed by value, so the loop's pointers and scalars are its own
/// locals, which no float store can change (see parallel_for). Everything the loop calls
/// whose definition is visible is inlined into the copy. Every level gives the same bits when
/// the loop does its arithmetic element by element in a fixed order and its file is compiled
/// with -ffp-contract=off, as the library is; without it, GCC may fuse a multiply and an add
/// into one FMA in the avx2 and avx512 copies, which rounds once instead of twice.
template <class Loop, class... Args>
void run_at_level(CpuLevel level, Loop loop, Args... args) {
#if defined(__x86_64__)
  if (level == CpuLevel::avx512) return detail::run_loop_avx512(loop, args...);
  if (level == CpuLevel::avx2) return detail::run_loop_avx2(loop, args...);
#endif
  (void)level;
  detail::run_loop(loop, args...);
}

/// run_at_level at cpu_level().
template <class Loop, class... Args>
void run_at_cpu_level(Loop loop, Args... args) {
  run_at_level(cpu_level(), loop, args...);
}

}  // namespace ember::kernels::cpu
