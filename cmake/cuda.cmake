# Optional CUDA GEMM kernels (kernels/cuda), their tests and benchmark; included by the
# top-level CMakeLists.txt before tests/ and bench/.
#
#   -DEMBER_CUDA=AUTO   on when CMake finds a CUDA compiler (nvcc), off otherwise; the
#                       default when ember is the top-level project
#   -DEMBER_CUDA=ON     required: configuring fails without nvcc
#   -DEMBER_CUDA=OFF    nothing CUDA is configured or built; the default when a parent
#                       project includes ember with add_subdirectory (it sets AUTO or ON
#                       to get ember::cuda)
#   -DEMBER_CUDA_VERBOSE=ON   print ptxas's report of every kernel's registers, shared
#                             memory and stack while building
#   -DCMAKE_CUDA_ARCHITECTURES=...   default 90 (H100/H200); the kernels need 80 or newer
#                                    (cp.async, TF32 mma.sync). Never "native" by default:
#                                    it fails on a machine without a GPU.
#
# When on, it adds
#   ember_cuda (alias ember::cuda)   static library: kernels/cuda/*.cu, cudart and cuBLAS;
#                                    installed and exported as ember::cuda (cmake/install.cmake)
#   ember_cuda_tests                 [cuda] tests on a device; they skip without one
#   ember_cuda_emulator_tests        the kernels run on the CPU by tests/cuda/emulator
#   gemm_cuda (in bench/)            every kernel against cuBLAS
#
# A spill or any local-memory use in a kernel is a build error, so every kernel always
# compiles clean.

if(PROJECT_IS_TOP_LEVEL)
  set(_ember_cuda_default AUTO)
else()
  set(_ember_cuda_default OFF)
endif()
set(EMBER_CUDA ${_ember_cuda_default} CACHE STRING "Build the CUDA GEMM kernels: AUTO, ON or OFF")
option(EMBER_CUDA_VERBOSE "Print ptxas's resource report of every CUDA kernel" OFF)
set_property(CACHE EMBER_CUDA PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${EMBER_CUDA}" _ember_cuda_mode)
if(NOT _ember_cuda_mode MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "ember: EMBER_CUDA must be AUTO, ON or OFF, not '${EMBER_CUDA}'")
endif()

# Sanitizer flags are added to every compile (add_compile_options) and nvcc rejects them;
# the CUDA runtime also maps memory where AddressSanitizer keeps its shadow. A sanitizer
# build therefore leaves CUDA out; the Release build compiles and tests it.
if(EMBER_SANITIZE AND NOT _ember_cuda_mode STREQUAL "OFF")
  if(_ember_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "ember: EMBER_CUDA=ON cannot be combined with EMBER_SANITIZE "
                        "(nvcc does not take -fsanitize); use EMBER_CUDA=AUTO or OFF")
  endif()
  message(STATUS "ember: CUDA kernels off in this sanitizer build")
  set(_ember_cuda_mode OFF)
endif()

if(_ember_cuda_mode STREQUAL "AUTO")
  # CMake looks for nvcc on PATH only; the toolkit's default location counts too.
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND "$ENV{CUDACXX}" STREQUAL "")
    find_program(_ember_nvcc nvcc)
    if(NOT _ember_nvcc AND EXISTS /usr/local/cuda/bin/nvcc)
      set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc CACHE FILEPATH "CUDA compiler")
    endif()
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(_ember_cuda_mode ON)
  else()
    message(STATUS "ember: no CUDA compiler found; CUDA kernels off")
    set(_ember_cuda_mode OFF)
  endif()
elseif(_ember_cuda_mode STREQUAL "ON" AND NOT DEFINED CMAKE_CUDA_COMPILER
       AND "$ENV{CUDACXX}" STREQUAL "" AND EXISTS /usr/local/cuda/bin/nvcc)
  find_program(_ember_nvcc nvcc)
  if(NOT _ember_nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc CACHE FILEPATH "CUDA compiler")
  endif()
endif()

if(NOT _ember_cuda_mode STREQUAL "ON")
  set(EMBER_CUDA_ENABLED OFF)
  return()
endif()
set(EMBER_CUDA_ENABLED ON)

# enable_language() picks an old default architecture when none is set, so set ours first.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND "$ENV{CUDAARCHS}" STREQUAL "")
  set(CMAKE_CUDA_ARCHITECTURES 90 CACHE STRING "CUDA architectures (90: H100/H200)")
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
foreach(_arch IN LISTS CMAKE_CUDA_ARCHITECTURES)
  if(_arch MATCHES "^([0-9]+)" AND CMAKE_MATCH_1 LESS 80)
    message(FATAL_ERROR "ember: CUDA architecture ${_arch} is too old; the kernels use "
                        "cp.async and TF32 mma.sync, which need 80 (A100) or newer")
  endif()
endforeach()
message(STATUS "ember: CUDA kernels on (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, "
               "architectures ${CMAKE_CUDA_ARCHITECTURES})")

# One CUDA runtime for every target: the shared one, which the library links explicitly.
set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)

# -warn-spills and -warn-lmem-usage make ptxas warn about spills and local memory, and its
# -Werror turns those into errors; -v (EMBER_CUDA_VERBOSE) adds each kernel's registers,
# shared memory, stack and spills to the build output.
set(EMBER_CUDA_FLAGS -Xptxas=-warn-spills,-warn-lmem-usage,-Werror -lineinfo
    -Xcompiler=-Wall,-Wextra)
if(EMBER_CUDA_VERBOSE)
  list(APPEND EMBER_CUDA_FLAGS -Xptxas=-v)
endif()
if(EMBER_WERROR)
  list(APPEND EMBER_CUDA_FLAGS --Werror=all-warnings -Xcompiler=-Werror)
endif()

file(GLOB _ember_cuda_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/kernels/cuda/*.cu)
add_library(ember_cuda STATIC ${_ember_cuda_sources})
add_library(ember::cuda ALIAS ember_cuda)
# CUDA sources are C++17: CMake 3.25 does not know how to ask nvcc for C++20.
set_target_properties(ember_cuda PROPERTIES
  CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON CUDA_EXTENSIONS OFF
  POSITION_INDEPENDENT_CODE ON EXPORT_NAME cuda)
# The kernels need only <ember/error.h> (header-only) besides their own headers, so
# ember::cuda does not link ember::ember.
target_include_directories(ember_cuda PUBLIC
  $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
  $<INSTALL_INTERFACE:include>)
# <ember/kernels/cuda/gemm.h> is C++17 (inline constexpr, std::string_view).
target_compile_features(ember_cuda INTERFACE cxx_std_17)
target_compile_options(ember_cuda PRIVATE ${EMBER_CUDA_FLAGS})
target_link_libraries(ember_cuda PUBLIC CUDA::cudart PRIVATE CUDA::cublas)

if(EMBER_BUILD_TESTS)
  enable_testing()
  add_subdirectory(${PROJECT_SOURCE_DIR}/tests/cuda ${PROJECT_BINARY_DIR}/tests/cuda)
endif()

if(EMBER_BUILD_BENCH)
  # Beside the other benchmarks, so `make bench` runs it too (without a device it says so
  # and exits 0).
  add_executable(gemm_cuda ${PROJECT_SOURCE_DIR}/bench/gemm_cuda.cu)
  set_target_properties(gemm_cuda PROPERTIES
    CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON CUDA_EXTENSIONS OFF
    RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
  target_compile_options(gemm_cuda PRIVATE ${EMBER_CUDA_FLAGS})
  target_link_libraries(gemm_cuda PRIVATE ember::cuda)
endif()
