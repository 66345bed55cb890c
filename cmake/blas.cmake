# EMBER_BLAS (top-level CMakeLists.txt): whether large matrix products go to OpenBLAS.
#   AUTO  OpenBLAS when CMake finds it (Debian: libopenblas-dev), Eigen's own GEMM otherwise
#   ON    OpenBLAS, or stop with the package to install
#   OFF   Eigen's own GEMM for every product
# With OpenBLAS, kernels/cpu/gemm_blas.cpp (Eigen's BLAS backend, EIGEN_USE_BLAS) joins the
# library and gemm.cpp sends it the products it used to split across threads; small and
# medium products keep ember's direct kernel and Eigen's. AUTO is the default because OpenBLAS
# is the faster of the two on large products on the machines measured (docs/09-performance.md).
# Sets EMBER_BLAS_FOUND; cmake/install.cmake passes the dependency on to consumers.

string(TOUPPER "${EMBER_BLAS}" _ember_blas)
if(NOT _ember_blas MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "EMBER_BLAS must be AUTO, ON or OFF, got '${EMBER_BLAS}'")
endif()
set(EMBER_BLAS_FOUND OFF)
if(NOT _ember_blas STREQUAL "OFF")
  # FindBLAS defines the imported target BLAS::BLAS; only OpenBLAS is asked for, because
  # gemm_blas.cpp sets OpenBLAS's thread count (openblas_set_num_threads).
  set(BLA_VENDOR OpenBLAS)
  find_package(BLAS QUIET)
  unset(BLA_VENDOR)
  if(BLAS_FOUND)
    set(EMBER_BLAS_FOUND ON)
  elseif(_ember_blas STREQUAL "ON")
    ember_require(BLAS_FOUND libopenblas-dev)
  endif()
endif()

if(EMBER_BLAS_FOUND)
  target_sources(ember PRIVATE ${PROJECT_SOURCE_DIR}/kernels/cpu/gemm_blas.cpp)
  set_source_files_properties(${PROJECT_SOURCE_DIR}/kernels/cpu/gemm_blas.cpp PROPERTIES
    COMPILE_OPTIONS "${EMBER_EIGEN_FLAGS}")
  target_compile_definitions(ember PRIVATE EMBER_HAVE_BLAS)
  target_link_libraries(ember PRIVATE BLAS::BLAS)
  message(STATUS "ember: large matrix products through OpenBLAS (${BLAS_LIBRARIES})")
else()
  message(STATUS "ember: every matrix product through Eigen (EMBER_BLAS=${EMBER_BLAS})")
endif()
