# Optional MPI: dist/ (ember::dist), data-parallel and ensemble-parallel training across
# processes (docs/14-distributed.md); included by the top-level CMakeLists.txt before tests/,
# apps/ and bench/.
#
#   -DEMBER_MPI=AUTO   on when find_package(MPI) finds MPI for C++ (Debian: libopenmpi-dev);
#                      the default when ember is the top-level project
#   -DEMBER_MPI=ON     required: configuring fails without MPI
#   -DEMBER_MPI=OFF    nothing MPI is configured or built; the default when a parent project
#                      includes ember with add_subdirectory
#
# When on, it adds
#   ember_dist (alias ember::dist)   static library: dist/*.cpp over ember::ember and MPI's C
#                                    API; installed and exported as ember::dist
#                                    (cmake/install.cmake)
#   EMBER_MPIEXEC_PREFLAGS           the launcher's flags for tests/: MPIEXEC_PREFLAGS, plus
#                                    --oversubscribe (more processes than cores) where the
#                                    launcher is Open MPI's (its mpiexec says "OpenRTE")
# ember::ember itself never links MPI: without it, everything else builds and works alike.

if(PROJECT_IS_TOP_LEVEL)
  set(_ember_mpi_default AUTO)
else()
  set(_ember_mpi_default OFF)
endif()
set(EMBER_MPI ${_ember_mpi_default} CACHE STRING "Build dist/ (training across processes): AUTO, ON or OFF")
set_property(CACHE EMBER_MPI PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${EMBER_MPI}" _ember_mpi_mode)
if(NOT _ember_mpi_mode MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "ember: EMBER_MPI must be AUTO, ON or OFF, not '${EMBER_MPI}'")
endif()
if(_ember_mpi_mode STREQUAL "OFF")
  return()
endif()

# Only MPI's C API: the C++ bindings (libmpi_cxx) were deprecated in MPI 2.2 and removed in 3.0.
set(MPI_CXX_SKIP_MPICXX ON CACHE BOOL "Do not link MPI's deprecated C++ bindings")
find_package(MPI COMPONENTS CXX QUIET)
if(NOT MPI_CXX_FOUND)
  if(_ember_mpi_mode STREQUAL "ON")
    ember_require(MPI_CXX_FOUND "libopenmpi-dev openmpi-bin")
  endif()
  message(STATUS "ember: MPI not found; dist/ (training across processes) is off "
                 "(apt-get install libopenmpi-dev openmpi-bin to build it)")
  return()
endif()
message(STATUS "ember: MPI ${MPI_CXX_VERSION} found; building dist/ (ember::dist)")

file(GLOB EMBER_DIST_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/dist/*.cpp)
add_library(ember_dist ${EMBER_DIST_SOURCES})
add_library(ember::dist ALIAS ember_dist)
set_target_properties(ember_dist PROPERTIES EXPORT_NAME dist)
target_link_libraries(ember_dist PUBLIC ember::ember PRIVATE MPI::MPI_CXX)
target_compile_options(ember_dist PRIVATE ${EMBER_COMPILE_OPTIONS})

execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE _ember_mpiexec_version
  ERROR_QUIET)
set(EMBER_MPIEXEC_PREFLAGS ${MPIEXEC_PREFLAGS})
if(_ember_mpiexec_version MATCHES "Open MPI|OpenRTE")
  list(APPEND EMBER_MPIEXEC_PREFLAGS --oversubscribe)
endif()
