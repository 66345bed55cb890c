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
  # Exceptions, the same in every object and free of vector instructions: GCC's
  # DW.ref.__gxx_personality_v0 is a pointer; clang's __clang_call_terminate two calls
  # (__cxa_begin_catch, std::terminate); type_info objects and names (_ZTI, _ZTS, weak data,
  # which clang's -fsanitize=function emits for function types); and std::bad_alloc's
  # constructor, one pointer store that an instrumented build leaves out of line.
  if(line STREQUAL "" OR line MATCHES "5ember7kernels3cpu${length}${LEVEL}"
     OR line MATCHES "${eigen_length}eigen_${LEVEL}"
     OR line MATCHES " DW\\.ref\\.__gxx_personality_v0$"
     OR line MATCHES " __clang_call_terminate$"
     OR line MATCHES " V _ZT[IS]"
     OR line MATCHES " W _ZNSt9bad_allocC[12]Ev$")
    continue()
  endif()
  string(APPEND shared "  ${line}\n")
endforeach()
if(shared)
  message(FATAL_ERROR "${OBJECT} (CPU level ${LEVEL}) defines symbols other objects may "
    "define too:\n${shared}")
endif()
message(STATUS "${OBJECT}: every external symbol is in the ${LEVEL} namespaces")
