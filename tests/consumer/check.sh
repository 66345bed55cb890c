#!/usr/bin/env bash
# Checks an installed ember the way users consume it:
#   tests/consumer/check.sh PREFIX        (after: cmake --install build --prefix PREFIX)
#   CXX=clang++ tests/consumer/check.sh PREFIX   (another compiler; default g++)
# 1. the install leaks no private build flags and no private dependency headers;
# 2. every installed header compiles on its own under strict warnings;
# 3. this folder's project builds with find_package(ember) and runs (and, when the install
#    has ember::cuda or ember::dist, its CUDA or MPI consumer too);
# 4. main.cpp builds with `$CXX -std=c++20 ... $(pkg-config --cflags --libs ember)` and runs.
# Headers are included with a plain -I, as pkg-config gives them, so that their warnings show.
set -euo pipefail

if [[ $# -ne 1 || ! -d $1 ]]; then
  echo "usage: $0 INSTALL_PREFIX" >&2
  exit 2
fi
prefix=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cxx=${CXX:-g++}
strict=(-std=c++20 -Wall -Wextra -Wshadow -Wpedantic -Werror)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "check.sh: FAILED: $*" >&2
  exit 1
}
step() { printf '\n-- %s\n' "$*"; }

config=$(find "$prefix" -path '*/cmake/ember/emberConfig.cmake' -print -quit)
pcfile=$(find "$prefix" -path '*/pkgconfig/ember.pc' -print -quit)
[[ -n $config ]] || fail "no emberConfig.cmake under $prefix"
[[ -n $pcfile ]] || fail "no ember.pc under $prefix"
[[ -f $prefix/include/ember/ember.h ]] || fail "no include/ember/ember.h under $prefix"

step "1. Private flags and dependencies stay private"
if grep -nE -- '-march|-mtune|-O[0-3s]|-Werror|-fsanitize' "$(dirname "$config")"/*.cmake "$pcfile"; then
  fail "private compile flags leak into the installed package files above"
fi
if grep -rnE '#[[:space:]]*include[[:space:]]*[<"](Eigen|unsupported/Eigen|nlohmann)/' \
  "$prefix/include/ember"; then
  fail "an installed header includes a private dependency (above)"
fi
echo "ok: no -march/-O/-Werror/-fsanitize in the package files; no Eigen or nlohmann includes"

echo "compiler: $("$cxx" --version | head -n 1)"

step "2. Every installed header compiles on its own (${strict[*]})"
count=0
while read -r header; do
  printf '#include <%s>\n' "$header" |
    "$cxx" "${strict[@]}" -x c++ -fsyntax-only -I"$prefix/include" - ||
    fail "<$header> does not compile on its own (errors above)"
  count=$((count + 1))
done < <(cd "$prefix/include" && find ember -name '*.h' | sort)
echo "ok: $count headers"

step "3. find_package(ember) + target_link_libraries(app PRIVATE ember::ember)"
cmake -S "$here" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER="$cxx"
cmake --build "$work/cmake"
"$work/cmake/consumer"
if [[ -f $(dirname "$config")/emberCudaTargets.cmake ]]; then
  [[ -x $work/cmake/consumer_cuda ]] ||
    fail "the install has ember::cuda, but consumer_cuda was not built"
  "$work/cmake/consumer_cuda"
fi
if [[ -f $(dirname "$config")/emberDistTargets.cmake ]]; then
  [[ -x $work/cmake/consumer_dist ]] ||
    fail "the install has ember::dist, but consumer_dist was not built"
  "$work/cmake/consumer_dist"
fi

step "4. $cxx ${strict[*]} main.cpp \$(pkg-config --cflags --libs ember)"
PKG_CONFIG_PATH="$(dirname "$pcfile")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH
flags=$(pkg-config --cflags --libs ember)
echo "pkg-config --cflags --libs ember: $flags"
[[ " $flags " == *" -I"* && " $flags " != *" -isystem"* ]] ||
  fail "pkg-config's flags should include the headers with a plain -I"
# Libraries after the sources: a static library only resolves symbols needed before it.
# shellcheck disable=SC2086  # $flags is a list of words
"$cxx" "${strict[@]}" "$here/main.cpp" $flags -o "$work/consumer_pkgconfig"
"$work/consumer_pkgconfig"

printf '\nconsumer check passed for %s with %s\n' "$prefix" "$cxx"
