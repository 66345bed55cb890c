# Convenience wrapper around CMake. The build itself is plain CMake; this file only chains
# the usual steps and installs the Debian packages ember needs.
#
#   make test           install missing packages, configure build/ (Release, -Werror), build, ctest
#   make demo           same setup, then build and run the demo ($(DEMO_CMD))
#   make bench          same setup plus the peers' packages, then the scoreboard: ember against
#                       its peers in one run, markdown tables, build/bench/results.json, charts
#   make bench-smoke    the scoreboard at its smallest sizes, one sample each (seconds; CI)
#   make bench-all      every benchmark executable in build/bench, and the PyTorch scripts
#   make sanitize       ASan + UBSan build in build-sanitize/, then ctest
#   make fuzz           libFuzzer build (clang, ASan + UBSan) in build-fuzz/, then each fuzzer
#                       of tests/fuzz runs $(FUZZ_SECONDS) s and must find nothing
#   make tsan           ThreadSanitizer build of the thread tests in build-tsan/, then run them
#   make format         clang-format -i every C++ file in the repository
#   make format-check   fail if any C++ file is not clang-formatted
#   make clean          remove build/, build-sanitize/, build-fuzz/ and build-tsan/
#
# Another compiler gets its own build folder (CMake reads CXX when it first configures one):
#   CXX=clang++ make test BUILD_DIR=build-clang
#
# Variables (override on the command line, e.g. `make test BUILD_DIR=build-gcc`):

BUILD_DIR ?= build
BUILD_TYPE ?= Release
# Extra arguments for the configure step, e.g. CMAKE_ARGS=-DEMBER_NATIVE=OFF
CMAKE_ARGS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_JOBS ?= 2

SANITIZE_BUILD_DIR ?= build-sanitize
SANITIZERS ?= address,undefined
# ON with clang (as CI builds it); g++'s -O1 sanitizer builds warn falsely (-Wmaybe-uninitialized).
SANITIZE_WERROR ?= OFF
TSAN_BUILD_DIR ?= build-tsan

FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := fuzz_load_safetensors fuzz_module_load

# The demo: the CMake target to build, then the command that runs it.
DEMO_TARGET ?= seed_models train_multitask ember_cli
DEMO_CMD ?= $(BUILD_DIR)/examples/seed_models && $(BUILD_DIR)/examples/train_multitask && \
	echo && $(BUILD_DIR)/apps/ember demo --out $(BUILD_DIR)/demo --python /usr/bin/python3
# The benchmarks: the CMake targets to build (empty: everything), then the command that runs
# them (default: the scoreboard, bench/scoreboard/main.cpp, then its charts).
BENCH_TARGETS ?= bench_scoreboard
BENCH_CMD ?= $(RUN_SCOREBOARD)

# Sub-makes (CMake's generated Makefiles) need not announce every directory they enter.
MAKEFLAGS += --no-print-directory

# Debian 12 packages: to build and test, and to check formatting.
TEST_PACKAGES := cmake g++ make libeigen3-dev catch2 nlohmann-json3-dev pkg-config zlib1g-dev \
  libcli11-dev
FORMAT_PACKAGES := clang-format git
# clang with its libFuzzer and sanitizer runtimes, and its OpenMP runtime for the library.
FUZZ_PACKAGES := clang libclang-rt-14-dev libomp-dev
# The demo's pictures (apps/plot_demo.py).
DEMO_PACKAGES := python3-matplotlib

# C++ sources formatted by `make format`: git's files (tracked, plus new ones not ignored),
# or every such file outside build folders when this is not a git checkout.
FORMAT_GLOBS := '*.h' '*.hpp' '*.cpp' '*.cc' '*.cu' '*.cuh'
LIST_CXX_FILES := if git -c safe.directory='*' rev-parse --is-inside-work-tree >/dev/null 2>&1; \
	then git -c safe.directory='*' ls-files -z --cached --others --exclude-standard -- $(FORMAT_GLOBS); \
	else find . \( -name '.git' -o -name 'build*' \) -prune -o -type f \
	  \( -name '*.h' -o -name '*.hpp' -o -name '*.cpp' -o -name '*.cc' -o -name '*.cu' \
	     -o -name '*.cuh' \) -print0; fi

# -- the scoreboard (make bench, make bench-smoke) ---------------------------------------------
# Its peers are optional; as root, `make bench` installs them all: OpenBLAS (which the library's
# default build then uses for large products), libxsmm, libtorch, PyTorch, and matplotlib for the
# charts. BENCH_ARGS go to bench_scoreboard, e.g. BENCH_ARGS="--sections steps,gemm".
BENCH_PACKAGES := libopenblas-dev libxsmm-dev libtorch-dev python3-torch python3-matplotlib
BENCH_ARGS ?=
RUN_SCOREBOARD := $(BUILD_DIR)/bench/bench_scoreboard --out $(BUILD_DIR)/bench $(BENCH_ARGS) && \
	if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then \
	  /usr/bin/python3 bench/plot_scoreboard.py $(BUILD_DIR)/bench/results.json; \
	else echo "charts skipped: apt-get install python3-matplotlib to draw them"; fi

RUN_ALL_BENCHMARKS := set -e; found=0; \
	for b in $$(find $(BUILD_DIR)/bench -maxdepth 1 -type f -perm -u+x | sort); do \
	  found=1; echo "== $$b"; "$$b"; done; \
	[ $$found = 1 ] || { echo "no benchmark executables in $(BUILD_DIR)/bench" >&2; exit 1; }; \
	if /usr/bin/python3 -c 'import torch' 2>/dev/null; then \
	  echo "== bench/torch_small_ops.py, bench/torch_seed_step.py (the PyTorch peer)"; \
	  /usr/bin/python3 bench/torch_small_ops.py; /usr/bin/python3 bench/torch_seed_step.py; \
	else echo "== PyTorch peer skipped: apt-get install python3-torch to compare"; fi

# Installs the given packages when some are missing (as root on Debian), or prints the one
# command to run. Quick when everything is present: one `dpkg -s` per package.
define ensure_packages
	@missing=""; \
	if command -v dpkg >/dev/null 2>&1; then \
	  for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	else \
	  echo "make: not a Debian system; make sure these are installed: $(1)"; \
	fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make: installing$$missing"; \
	    apt-get update && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	  else \
	    echo "make: missing Debian packages; install them with:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends$$missing"; \
	    exit 1; \
	  fi; \
	fi
endef

.PHONY: all deps format-deps configure build test demo bench sanitize fuzz tsan format \
  format-check clean
.PHONY: bench-deps bench-smoke bench-all

all: build

deps:
	$(call ensure_packages,$(TEST_PACKAGES))

format-deps:
	$(call ensure_packages,$(FORMAT_PACKAGES))

configure: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DEMBER_WERROR=ON $(CMAKE_ARGS)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure --no-tests=error -j $(CTEST_JOBS)

demo: configure
	$(call ensure_packages,$(DEMO_PACKAGES))
	cmake --build $(BUILD_DIR) -j $(JOBS) --target $(DEMO_TARGET)
	$(DEMO_CMD)

# Optional: without root (or a package mirror) the scoreboard runs with the peers it finds.
bench-deps:
	-$(call ensure_packages,$(BENCH_PACKAGES))

# bench-deps first: OpenBLAS changes how the library is configured (EMBER_BLAS=AUTO).
bench: bench-deps
	$(MAKE) configure
	cmake --build $(BUILD_DIR) -j $(JOBS) $(if $(strip $(BENCH_TARGETS)),--target $(BENCH_TARGETS))
	$(BENCH_CMD)

bench-smoke: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target bench_scoreboard
	$(BUILD_DIR)/bench/bench_scoreboard --smoke --out $(BUILD_DIR)/bench-smoke

bench-all: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)
	$(RUN_ALL_BENCHMARKS)

# Sanitizers catch at run time what -Werror cannot; their own false-positive warnings are
# not errors here. Portable code (no -march=native) so reports match any machine.
# -O1 -g1 (line tables only): sanitizer reports keep their file:line backtraces, and the build
# takes far less time than at -O2 -g. The examples are run by the Release builds instead.
sanitize: deps
	cmake -S . -B $(SANITIZE_BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
	  -DEMBER_SANITIZE=$(SANITIZERS) -DEMBER_NATIVE=OFF -DEMBER_WERROR=$(SANITIZE_WERROR) \
	  -DEMBER_BUILD_BENCH=OFF -DEMBER_BUILD_EXAMPLES=OFF $(CMAKE_ARGS)
	cmake --build $(SANITIZE_BUILD_DIR) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(SANITIZE_BUILD_DIR) --output-on-failure --no-tests=error -j $(CTEST_JOBS)

# Only the library (its core/, kernels/ and nn/) and the two fuzzers are built, at -O1 -g1 like
# `make sanitize`. New inputs libFuzzer finds go to $(FUZZ_BUILD_DIR)/corpus/<fuzzer>, never
# into the committed seeds of tests/fuzz/corpus. -malloc_limit_mb: no input of at most 4 KB
# (the default -max_len for these seeds) may make a single allocation above 64 MB; -timeout:
# none may take 10 s.
fuzz: deps
	$(call ensure_packages,$(FUZZ_PACKAGES))
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DEMBER_FUZZ=ON -DEMBER_NATIVE=OFF \
	  -DEMBER_WERROR=OFF -DEMBER_CUDA=OFF $(CMAKE_ARGS)
	cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS) --target $(FUZZ_TARGETS)
	@for fuzzer in $(FUZZ_TARGETS); do \
	  echo "== $$fuzzer: $(FUZZ_SECONDS) s"; \
	  mkdir -p $(FUZZ_BUILD_DIR)/corpus/$$fuzzer && \
	  $(FUZZ_BUILD_DIR)/tests/fuzz/$$fuzzer $(FUZZ_BUILD_DIR)/corpus/$$fuzzer tests/fuzz/corpus \
	    -dict=tests/fuzz/safetensors.dict -max_total_time=$(FUZZ_SECONDS) -malloc_limit_mb=64 \
	    -timeout=10 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD_DIR)/$$fuzzer- || exit 1; \
	done

# ThreadSanitizer on the thread tests (tests/test_threads.cpp), the only ones that start
# threads: building just the library and that executable keeps it cheap. OpenMP is off because
# libgomp is not instrumented (its synchronisation would be reported as races); the tests start
# their own std::threads instead. Any report fails the run (halt_on_error, and exit code 66).
tsan: deps
	cmake -S . -B $(TSAN_BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
	  -DEMBER_SANITIZE=thread -DEMBER_OPENMP=OFF -DEMBER_NATIVE=OFF -DEMBER_WERROR=OFF \
	  -DEMBER_BUILD_BENCH=OFF -DEMBER_BUILD_EXAMPLES=OFF -DEMBER_BUILD_APPS=OFF $(CMAKE_ARGS)
	cmake --build $(TSAN_BUILD_DIR) -j $(JOBS) --target ember_thread_tests
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 $(TSAN_BUILD_DIR)/tests/ember_thread_tests

format: format-deps
	@$(LIST_CXX_FILES) | xargs -0 -r clang-format -i
	@echo "formatted with $$(clang-format --version)"

format-check: format-deps
	@$(LIST_CXX_FILES) | xargs -0 -r clang-format --dry-run --Werror
	@echo "format-check: all C++ files are clang-formatted"

clean:
	rm -rf $(BUILD_DIR) $(SANITIZE_BUILD_DIR) $(FUZZ_BUILD_DIR) $(TSAN_BUILD_DIR)
