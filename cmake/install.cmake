# Install rules for ember, included at the end of the top-level CMakeLists.txt.
#
#   cmake --install build --prefix /opt/ember
#
# installs
#   lib/libember.a                         the library
#   include/ember/...                      public headers, folders kept (<ember/core/tensor.h>)
#   lib/cmake/ember/emberConfig*.cmake     for find_package(ember CONFIG) + ember::ember
#   lib/pkgconfig/ember.pc                 for pkg-config --cflags --libs ember
# and, when the CUDA kernels are built (cmake/cuda.cmake),
#   lib/libember_cuda.a                    ember::cuda, <ember/kernels/cuda/gemm.h>
#   lib/cmake/ember/emberCudaTargets.cmake find_package(ember COMPONENTS cuda) + ember::cuda
# and, when dist/ is built (cmake/mpi.cmake),
#   lib/libember_dist.a                    ember::dist, <ember/dist/...>
#   lib/cmake/ember/emberDistTargets.cmake find_package(ember COMPONENTS dist) + ember::dist
#
# Only the public interface travels to consumers: the include directory, C++20 and, for a
# static library, its link dependencies (OpenMP, zlib, and OpenBLAS when EMBER_BLAS found it).
# Private flags (-O3, -march=native, warnings, Eigen and nlohmann-json include paths) stay
# inside this build.

option(EMBER_INSTALL "Generate ember's install rules" ${PROJECT_IS_TOP_LEVEL})
if(NOT EMBER_INSTALL)
  return()
endif()

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The target's INSTALL_INTERFACE include directory is "include"; headers go below it.
set(EMBER_INSTALL_INCLUDEDIR include)
set(EMBER_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/ember)
set(EMBER_INSTALL_PKGCONFIGDIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

get_target_property(_ember_type ember TYPE)
set(_ember_static OFF)
if(_ember_type STREQUAL "STATIC_LIBRARY")
  set(_ember_static ON)
endif()
set(_ember_openmp OFF)
if(OpenMP_CXX_FOUND)
  set(_ember_openmp ON)
endif()

# -- library ---------------------------------------------------------------------------------
install(TARGETS ember EXPORT emberTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# -- public headers --------------------------------------------------------------------------
# Every *.h of the public layers plus the top-level ones (the umbrella header, error.h), at
# the same relative path under include/ember/. CONFIGURE_DEPENDS picks up headers added
# after the first configure.
file(GLOB_RECURSE _ember_headers CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}
  ${PROJECT_SOURCE_DIR}/core/*.h
  ${PROJECT_SOURCE_DIR}/kernels/*.h
  ${PROJECT_SOURCE_DIR}/nn/*.h
  ${PROJECT_SOURCE_DIR}/optim/*.h
  ${PROJECT_SOURCE_DIR}/models/*.h
  ${PROJECT_SOURCE_DIR}/train/*.h)
# core/ops/common.h, kernels/cpu/eigen_product.h and models/multitask/qp.h hold helpers
# private to their folders; kernels/cuda's header belongs to ember::cuda and is installed only
# with it.
list(FILTER _ember_headers EXCLUDE REGEX
  "^(core/ops|kernels/cuda)/|^models/multitask/qp\\.h$|^kernels/cpu/eigen_product\\.h$")
if(TARGET ember_cuda)
  list(APPEND _ember_headers kernels/cuda/gemm.h)
endif()
if(TARGET ember_dist)
  file(GLOB _ember_dist_headers CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}
    ${PROJECT_SOURCE_DIR}/dist/*.h)
  list(APPEND _ember_headers ${_ember_dist_headers})
endif()
file(GLOB _ember_top_headers CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}
  ${PROJECT_SOURCE_DIR}/*.h)
foreach(_header IN LISTS _ember_top_headers _ember_headers)
  cmake_path(GET _header PARENT_PATH _dir)
  install(FILES ${PROJECT_SOURCE_DIR}/${_header}
    DESTINATION ${EMBER_INSTALL_INCLUDEDIR}/ember/${_dir})
endforeach()

# -- CMake package ---------------------------------------------------------------------------
install(EXPORT emberTargets
  NAMESPACE ember::
  FILE emberTargets.cmake
  DESTINATION ${EMBER_INSTALL_CMAKEDIR})

# ember::cuda has its own export file: it needs the CUDA toolkit (cudart, cuBLAS) on the
# consumer's machine, and ember::ember must stay usable where there is none.
if(TARGET ember_cuda)
  install(TARGETS ember_cuda EXPORT emberCudaTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT emberCudaTargets
    NAMESPACE ember::
    FILE emberCudaTargets.cmake
    DESTINATION ${EMBER_INSTALL_CMAKEDIR})
endif()

# ember::dist too: it links MPI, which the consumer's machine must have to use it, and
# ember::ember must stay usable where MPI is absent.
if(TARGET ember_dist)
  install(TARGETS ember_dist EXPORT emberDistTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT emberDistTargets
    NAMESPACE ember::
    FILE emberDistTargets.cmake
    DESTINATION ${EMBER_INSTALL_CMAKEDIR})
endif()

# A static library carries its private link dependencies into the consumer's link line
# ($<LINK_ONLY:OpenMP::OpenMP_CXX>), so the consumer must be able to resolve that target.
set(EMBER_CONFIG_DEPENDENCIES "")
if(_ember_static AND _ember_openmp)
  string(APPEND EMBER_CONFIG_DEPENDENCIES "find_dependency(OpenMP COMPONENTS CXX)")
endif()
if(_ember_static)
  string(APPEND EMBER_CONFIG_DEPENDENCIES "\nfind_dependency(ZLIB)")
endif()
# With EMBER_BLAS (cmake/blas.cmake), the link line also names BLAS::BLAS, which FindBLAS
# defines once told the vendor; the consumer's own BLA_VENDOR is put back afterwards.
if(_ember_static AND EMBER_BLAS_FOUND)
  string(APPEND EMBER_CONFIG_DEPENDENCIES [[

set(_ember_saved_bla_vendor "${BLA_VENDOR}")
set(BLA_VENDOR OpenBLAS)
find_dependency(BLAS)
set(BLA_VENDOR "${_ember_saved_bla_vendor}")]])
endif()
file(CONFIGURE OUTPUT ${PROJECT_BINARY_DIR}/cmake/emberConfig.cmake @ONLY CONTENT [[
# ember @PROJECT_VERSION@: find_package(ember CONFIG REQUIRED), then link ember::ember.
# With the CUDA kernels: find_package(ember CONFIG REQUIRED COMPONENTS cuda), then link
# ember::cuda (defined whenever this install has it and the CUDA toolkit is found).
# With dist/: find_package(ember CONFIG REQUIRED COMPONENTS dist), then link ember::dist
# (defined whenever this install has it and MPI is found).
include(CMakeFindDependencyMacro)
@EMBER_CONFIG_DEPENDENCIES@
include("${CMAKE_CURRENT_LIST_DIR}/emberTargets.cmake")

set(ember_cuda_FOUND FALSE)
set(_ember_cuda_missing "this ember was installed without its CUDA kernels (EMBER_CUDA=OFF)")
if(EXISTS "${CMAKE_CURRENT_LIST_DIR}/emberCudaTargets.cmake")
  find_package(CUDAToolkit QUIET)
  if(CUDAToolkit_FOUND)
    include("${CMAKE_CURRENT_LIST_DIR}/emberCudaTargets.cmake")
    set(ember_cuda_FOUND TRUE)
  endif()
  set(_ember_cuda_missing "the CUDA toolkit (cudart, cuBLAS) was not found")
endif()
# ember::dist (a static library) links MPI's C API, MPI::MPI_CXX without the C++ bindings as
# ember was built, so the consumer must find MPI for its link line. Asked for, the component
# needs it (find_dependency); otherwise ember::dist is defined where MPI is found, and
# ember::ember alone where it is not.
set(ember_dist_FOUND FALSE)
set(_ember_dist_missing "this ember was installed without dist/ (built without MPI)")
if(EXISTS "${CMAKE_CURRENT_LIST_DIR}/emberDistTargets.cmake")
  if(NOT DEFINED MPI_CXX_SKIP_MPICXX)
    set(MPI_CXX_SKIP_MPICXX ON)
  endif()
  if(ember_FIND_REQUIRED_dist)
    find_dependency(MPI COMPONENTS CXX)
  else()
    find_package(MPI QUIET COMPONENTS CXX)
  endif()
  if(MPI_CXX_FOUND)
    include("${CMAKE_CURRENT_LIST_DIR}/emberDistTargets.cmake")
    set(ember_dist_FOUND TRUE)
  endif()
  set(_ember_dist_missing "MPI was not found (Debian: libopenmpi-dev)")
endif()
foreach(_ember_component IN LISTS ember_FIND_COMPONENTS)
  if(NOT _ember_component MATCHES "^(cuda|dist)$")
    set(ember_FOUND FALSE)
    set(ember_NOT_FOUND_MESSAGE "unknown component '${_ember_component}' (ember has: cuda, dist)")
  elseif(ember_FIND_REQUIRED_cuda AND NOT ember_cuda_FOUND)
    set(ember_FOUND FALSE)
    set(ember_NOT_FOUND_MESSAGE "component 'cuda' is not available: ${_ember_cuda_missing}")
  elseif(ember_FIND_REQUIRED_dist AND NOT ember_dist_FOUND)
    set(ember_FOUND FALSE)
    set(ember_NOT_FOUND_MESSAGE "component 'dist' is not available: ${_ember_dist_missing}")
  endif()
endforeach()
]])
# 0.x releases: only the same minor version is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/emberConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/cmake/emberConfig.cmake
  ${PROJECT_BINARY_DIR}/cmake/emberConfigVersion.cmake
  DESTINATION ${EMBER_INSTALL_CMAKEDIR})

# -- pkg-config ------------------------------------------------------------------------------
# Paths are relative to the .pc file itself (${pcfiledir}), so the install stays correct when
# `cmake --install --prefix` picks another prefix than the one configured.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(EMBER_PC_PREFIX ${CMAKE_INSTALL_PREFIX})
  set(EMBER_PC_LIBDIR ${CMAKE_INSTALL_LIBDIR})
else()
  file(RELATIVE_PATH _ember_up /_prefix/${EMBER_INSTALL_PKGCONFIGDIR} /_prefix)
  string(REGEX REPLACE "/$" "" _ember_up "${_ember_up}")
  set(EMBER_PC_PREFIX "\${pcfiledir}/${_ember_up}")
  set(EMBER_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
# A static library needs its dependencies on every link line, so they go in Libs; a shared
# one records them itself, so they are only Libs.private.
set(EMBER_PC_DEPENDENCY_LIBS "")
if(_ember_openmp)
  set(EMBER_PC_DEPENDENCY_LIBS "${OpenMP_CXX_FLAGS}")
endif()
if(ZLIB_FOUND)
  string(APPEND EMBER_PC_DEPENDENCY_LIBS " -lz")
endif()
if(EMBER_BLAS_FOUND)
  # FindBLAS gives full paths to the libraries (and flags, often none).
  list(JOIN BLAS_LIBRARIES " " _ember_blas_libs)
  string(STRIP "${BLAS_LINKER_FLAGS} ${_ember_blas_libs}" _ember_blas_libs)
  string(APPEND EMBER_PC_DEPENDENCY_LIBS " ${_ember_blas_libs}")
endif()
set(EMBER_PC_LIBS "Libs: -L\${libdir} -lember")
if(EMBER_PC_DEPENDENCY_LIBS AND _ember_static)
  string(APPEND EMBER_PC_LIBS " ${EMBER_PC_DEPENDENCY_LIBS}")
elseif(EMBER_PC_DEPENDENCY_LIBS)
  string(APPEND EMBER_PC_LIBS "\nLibs.private: ${EMBER_PC_DEPENDENCY_LIBS}")
endif()
file(CONFIGURE OUTPUT ${PROJECT_BINARY_DIR}/ember.pc @ONLY CONTENT [[
prefix=@EMBER_PC_PREFIX@
libdir=@EMBER_PC_LIBDIR@
includedir=${prefix}/@EMBER_INSTALL_INCLUDEDIR@

Name: ember
Description: A small, readable C++20 tensor and reverse-mode autograd library
Version: @PROJECT_VERSION@
Cflags: -I${includedir}
@EMBER_PC_LIBS@
]])
install(FILES ${PROJECT_BINARY_DIR}/ember.pc DESTINATION ${EMBER_INSTALL_PKGCONFIGDIR})
