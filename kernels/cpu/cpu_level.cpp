#include <ember/kernels/cpu/cpu_level.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace ember::kernels::cpu {

namespace {

constexpr CpuLevel kLevels[] = {CpuLevel::baseline, CpuLevel::avx2, CpuLevel::avx512,
                                CpuLevel::native};

// The levels this build compiled (cmake/cpu_levels.cmake defines one of these macros).
bool compiled(CpuLevel level) {
#if defined(EMBER_CPU_LEVELS_NATIVE)
  return level == CpuLevel::native;
#elif defined(EMBER_CPU_LEVELS_X86_64)
  return level != CpuLevel::native;
#else
  return level == CpuLevel::baseline;
#endif
}

// Whether this CPU (and its operating system, which must save the wider registers) runs the
// level's instructions. __builtin_cpu_supports checks both. The avx2 level is -march=x86-64-v3,
// which also allows F16C, LZCNT and MOVBE; every CPU with AVX2, FMA and BMI2 has those too.
bool supported(CpuLevel level) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  switch (level) {
    case CpuLevel::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
    case CpuLevel::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vl");
    case CpuLevel::baseline:
    case CpuLevel::native:
      return true;
  }
  return false;
#else
  return level == CpuLevel::baseline || level == CpuLevel::native;
#endif
}

CpuLevel choose_level() {
  CpuLevel best = CpuLevel::baseline;
  for (const CpuLevel level : kLevels) {
    if (cpu_level_available(level)) best = level;
  }
  const char* requested = std::getenv("EMBER_CPU");
  if (requested == nullptr || *requested == '\0') return best;
  for (const CpuLevel level : kLevels) {
    if (requested == std::string_view(cpu_level_name(level)) && cpu_level_available(level)) {
      return level;
    }
  }
  std::fprintf(stderr,
               "ember: EMBER_CPU=%s is not available on this CPU or in this build; using %s\n",
               requested, cpu_level_name(best));
  return best;
}

}  // namespace

bool cpu_level_available(CpuLevel level) { return compiled(level) && supported(level); }

CpuLevel cpu_level() {
  static const CpuLevel level = choose_level();
  return level;
}

const char* cpu_level_name(CpuLevel level) {
  switch (level) {
    case CpuLevel::baseline:
      return "baseline";
    case CpuLevel::avx2:
      return "avx2";
    case CpuLevel::avx512:
      return "avx512";
    case CpuLevel::native:
      return "native";
  }
  return "unknown";
}

}  // namespace ember::kernels::cpu
