#!/usr/bin/env bash
# The CUDA GEMM check for a machine with an NVIDIA GPU, run from anywhere in the checkout:
#
#   bash bench/gpu_check.sh            build, [cuda] tests, benchmark at 1024..8192
#   bash bench/gpu_check.sh 4096       the benchmark at the sizes given
#
# 1. Finds nvcc (PATH or /usr/local/cuda/bin); as root, installs missing Debian packages
#    (tried for at most a minute: a GPU image may have no package mirror).
# 2. Builds the CUDA targets only, in build-gpu/ (Release): with CMake when the project
#    configures (-DEMBER_CUDA=ON), else (or with GPU_CHECK_DIRECT=1) directly with nvcc
#    and g++, which needs no CPU dependency but Catch2's header (catch2/catch.hpp in
#    /usr/include or $CATCH2_INCLUDE).
# 3. Runs the [cuda] tests on the device, then on the CPU emulator (skipped, loudly, when
#    Catch2 is missing: the benchmark still compares every kernel with cuBLAS).
# 4. Runs the benchmark; its table is printed last.
# Exits non-zero when a step fails; a test failure is reported before the benchmark runs.
# Budget on 16 cores: under a minute to build, about one to test, two to three to bench.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR=${BUILD_DIR:-build-gpu}
CUDA_ARCH=${CUDA_ARCH:-90}
JOBS=$(nproc 2>/dev/null || echo 4)
started=$SECONDS
section() { printf '\n========== %s  [%ds] ==========\n' "$*" "$((SECONDS - started))"; }
die() {
  echo "gpu_check: $*" >&2
  exit 1
}

section "Toolchain"
NVCC=$(command -v nvcc || true)
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
[ -n "$NVCC" ] || die "no nvcc on PATH or in /usr/local/cuda/bin"
CUDA_HOME=$(cd "$(dirname "$NVCC")/.." && pwd)
"$NVCC" --version | tail -n 2
command -v nvidia-smi >/dev/null 2>&1 &&
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv

# The project's own list of Debian packages (Makefile), or the usual one.
packages=$(sed -n 's/^TEST_PACKAGES := //p' Makefile 2>/dev/null)
[ -n "$packages" ] || packages="cmake g++ make libeigen3-dev catch2 nlohmann-json3-dev"
missing=""
if command -v dpkg >/dev/null 2>&1; then
  for p in $packages; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
fi
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing:$missing"
  timeout 60 apt-get update -q >/dev/null 2>&1 &&
    DEBIAN_FRONTEND=noninteractive timeout 120 \
      apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 ||
    echo "gpu_check: could not install$missing; building without them where possible"
fi

# Catch2 v2's single header, for the tests.
CATCH2_INCLUDE=${CATCH2_INCLUDE:-}
if [ -z "$CATCH2_INCLUDE" ]; then
  for dir in /usr/include /usr/local/include; do
    [ -f "$dir/catch2/catch.hpp" ] && CATCH2_INCLUDE=$dir && break
  done
fi

section "Build the CUDA targets ($BUILD_DIR, sm_$CUDA_ARCH, $JOBS jobs)"
mkdir -p "$BUILD_DIR"
LOG="$BUILD_DIR/cuda-build.log"
TESTS="$BUILD_DIR/tests/cuda/ember_cuda_tests"
EMULATOR_TESTS="$BUILD_DIR/tests/cuda/ember_cuda_emulator_tests"
BENCH="$BUILD_DIR/bench/gemm_cuda"
if [ "${GPU_CHECK_DIRECT:-0}" != 1 ] && cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DEMBER_CUDA=ON \
  -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" \
  -DEMBER_CUDA_VERBOSE=ON -DEMBER_BUILD_TESTS=ON -DEMBER_BUILD_BENCH=ON >"$LOG" 2>&1; then
  echo "with CMake"
  cmake --build "$BUILD_DIR" -j "$JOBS" --target ember_cuda ember_cuda_tests \
    ember_cuda_emulator_tests gemm_cuda >>"$LOG" 2>&1 || die "build failed; see $LOG"
else
  # The same sources and flags as cmake/cuda.cmake, without the CPU library's dependencies.
  echo "CMake could not configure the project (see $LOG); building directly with nvcc"
  out="$BUILD_DIR/direct"
  mkdir -p "$out/include" "$out/obj" "$BUILD_DIR/tests/cuda" "$BUILD_DIR/bench"
  ln -sfn "$PWD" "$out/include/ember"
  cuda_flags=(-O3 -std=c++17 "-arch=sm_$CUDA_ARCH" -lineinfo -I"$out/include"
    -Xptxas=-v,-warn-spills,-warn-lmem-usage,-Werror -Xcompiler=-Wall,-Wextra)
  pids=()
  for source in kernels/cuda/*.cu bench/gemm_cuda.cu; do
    "$NVCC" "${cuda_flags[@]}" -c "$source" -o "$out/obj/$(basename "$source").o" \
      >"$out/obj/$(basename "$source").log" 2>&1 &
    pids+=($!)
  done
  failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  cat "$out"/obj/*.log >>"$LOG"
  [ "$failed" = 0 ] || die "nvcc failed; see $LOG"
  kernels=("$out"/obj/0*.cu.o "$out/obj/gemm.cu.o")
  cuda_libs=(-L"$CUDA_HOME/lib64" -lcublas -lcudart -Wl,-rpath,"$CUDA_HOME/lib64")
  g++ -O2 "$out/obj/gemm_cuda.cu.o" "${kernels[@]}" "${cuda_libs[@]}" -o "$BENCH" ||
    die "linking gemm_cuda failed"
  if [ -n "$CATCH2_INCLUDE" ]; then
    cxx=(g++ -O2 -std=c++20 -Wall -Wextra -I"$out/include" -I"$CATCH2_INCLUDE")
    "${cxx[@]}" -I"$CUDA_HOME/include" tests/cuda/main.cpp tests/cuda/test_gemm_arguments.cpp \
      tests/cuda/test_gemm_device.cpp "${kernels[@]}" "${cuda_libs[@]}" -o "$TESTS" ||
      die "building ember_cuda_tests failed"
    emulated=()
    for source in kernels/cuda/0*.cu; do emulated+=(-x c++ "$source"); done
    "${cxx[@]}" -DEMBER_CUDA_EMULATOR -Itests/cuda/emulator -Wno-unknown-pragmas \
      tests/cuda/main.cpp tests/cuda/emulator/emulator.cpp \
      tests/cuda/emulator/test_emulated_kernels.cpp "${emulated[@]}" -o "$EMULATOR_TESTS" || die "building ember_cuda_emulator_tests failed"
  fi
fi
# ptxas's resource report: registers, shared memory and spills of every kernel.
grep -E "ptxas (info *: (Function properties|Used)|error)|spill" "$LOG" |
  grep -v "^ *0 bytes stack" | (command -v c++filt >/dev/null && c++filt || cat) || true

tests_ok=1
if [ -x "$TESTS" ]; then
  section "[cuda] tests on the device"
  timeout 300 "$TESTS" "[cuda]" || tests_ok=0
  section "[cuda] tests on the CPU emulator"
  timeout 300 "$EMULATOR_TESTS" "[cuda]" || tests_ok=0
else
  section "TESTS NOT BUILT: no Catch2 header (set CATCH2_INCLUDE); the benchmark still checks results"
  tests_ok=0
fi

if [ "$tests_ok" = 1 ]; then
  section "Tests passed; benchmark"
else
  section "TESTS FAILED OR MISSING (see above); benchmark anyway"
fi
bench_ok=1
timeout 420 "$BENCH" "$@" || bench_ok=0

[ "$tests_ok" = 1 ] && [ "$bench_ok" = 1 ]
