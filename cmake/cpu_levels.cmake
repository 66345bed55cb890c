# The CPU GEMM (kernels/cpu/gemm_kernel.cpp) compiled once per instruction-set level, included
# by the top-level CMakeLists.txt after the ember target. gemm.cpp picks a level at run time
# (kernels/cpu/cpu_level.h), so the default build runs on any x86-64 and still multiplies
# with AVX2 or AVX-512 where the CPU has them. With -DEMBER_NATIVE=ON the whole library,
# this GEMM included, is built once with -march=native.
#
# Each level is an object library whose objects go into libember itself, so installing and
# exporting ember needs nothing more. EMBER_CPU_LEVEL names the level's C++ namespace.

if(EMBER_NATIVE)
  set(EMBER_CPU_LEVELS native)
  set(_ember_flags_native "")  # EMBER_COMPILE_OPTIONS already holds -march=native
  set(_ember_levels_macro EMBER_CPU_LEVELS_NATIVE)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$" AND CMAKE_SIZEOF_VOID_P EQUAL 8)
  set(EMBER_CPU_LEVELS baseline avx2 avx512)
  # GCC 11 and clang 12 name the x86-64 microarchitecture levels; baseline is the compiler's
  # default, x86-64 with SSE2.
  set(_ember_flags_baseline "")
  set(_ember_flags_avx2 -march=x86-64-v3)
  set(_ember_flags_avx512 -march=x86-64-v4)
  set(_ember_levels_macro EMBER_CPU_LEVELS_X86_64)
else()
  set(EMBER_CPU_LEVELS baseline)
  set(_ember_flags_baseline "")
  set(_ember_levels_macro EMBER_CPU_LEVELS_BASELINE)
endif()
# Only the two files that list the levels need to know which were built.
set_source_files_properties(${PROJECT_SOURCE_DIR}/kernels/cpu/cpu_level.cpp
  ${PROJECT_SOURCE_DIR}/kernels/cpu/gemm.cpp PROPERTIES COMPILE_DEFINITIONS ${_ember_levels_macro})

foreach(level IN LISTS EMBER_CPU_LEVELS)
  set(target ember_gemm_${level})
  add_library(${target} OBJECT ${PROJECT_SOURCE_DIR}/kernels/cpu/gemm_kernel.cpp)
  target_compile_definitions(${target} PRIVATE EMBER_CPU_LEVEL=${level})
  target_compile_options(${target} PRIVATE ${EMBER_COMPILE_OPTIONS} ${EMBER_EIGEN_FLAGS}
    ${_ember_flags_${level}})
  target_compile_features(${target} PRIVATE cxx_std_20)
  target_include_directories(${target} PRIVATE ${PROJECT_BINARY_DIR}/include)
  target_include_directories(${target} SYSTEM PRIVATE
    $<TARGET_PROPERTY:Eigen3::Eigen,INTERFACE_INCLUDE_DIRECTORIES>)
  if(OpenMP_CXX_FOUND)
    # Eigen's GEMM splits large products across cores with OpenMP.
    target_link_libraries(${target} PRIVATE OpenMP::OpenMP_CXX)
  endif()
  if(BUILD_SHARED_LIBS)
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  endif()
  target_sources(ember PRIVATE $<TARGET_OBJECTS:${target}>)
endforeach()

# The levels must not share code through the linker (cmake/check_cpu_level_symbols.cmake).
if(EMBER_BUILD_TESTS AND NOT EMBER_NATIVE)
  enable_testing()
  foreach(level IN LISTS EMBER_CPU_LEVELS)
    add_test(NAME cpu_level_${level}_shares_no_code
      COMMAND ${CMAKE_COMMAND} -DNM=${CMAKE_NM} -DOBJECT=$<TARGET_OBJECTS:ember_gemm_${level}>
        -DLEVEL=${level} -P ${PROJECT_SOURCE_DIR}/cmake/check_cpu_level_symbols.cmake)
  endforeach()
endif()
