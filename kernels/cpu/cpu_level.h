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

}  // namespace ember::kernels::cpu
