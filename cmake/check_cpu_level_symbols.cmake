# cmake -DNM=<nm> -DOBJECT=<file.o> -DLEVEL=<level> -P check_cpu_level_symbols.cmake
#
# Fails when the object compiled for one CPU level (cmake/cpu_levels.cmake) defines a symbol
# that another object could define too: an inline function or template instantiation outside
# the level's own namespaces. The linker keeps one copy of such a symbol for the whole program,
# so a copy compiled for AVX-512 could end up called on a CPU without it. The level's names are
# ember::kernels::cpu::<level> and eigen_<level> (Eigen's namespace, renamed).

execute_process(COMMAND ${NM} --defined-only --extern-only ${OBJECT}
  OUTPUT_VARIABLE symbols RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${NM} failed on ${OBJECT}")
endif()
string(LENGTH "${LEVEL}" length)
string(LENGTH "eigen_${LEVEL}" eigen_length)
string(REPLACE "\n" ";" lines "${symbols}")
set(shared "")
foreach(line IN LISTS lines)
  # Two exceptions, the same in every object: GCC's DW.ref.__gxx_personality_v0 is a pointer,
  # and clang's __clang_call_terminate two calls (__cxa_begin_catch, std::terminate).
  if(line STREQUAL "" OR line MATCHES "5ember7kernels3cpu${length}${LEVEL}"
     OR line MATCHES "${eigen_length}eigen_${LEVEL}"
     OR line MATCHES " DW\\.ref\\.__gxx_personality_v0$"
     OR line MATCHES " __clang_call_terminate$")
    continue()
  endif()
  string(APPEND shared "  ${line}\n")
endforeach()
if(shared)
  message(FATAL_ERROR "${OBJECT} (CPU level ${LEVEL}) defines symbols other objects may "
    "define too:\n${shared}")
endif()
message(STATUS "${OBJECT}: every external symbol is in the ${LEVEL} namespaces")
