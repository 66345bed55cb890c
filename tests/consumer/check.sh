#!/usr/bin/env bash
# Checks an installed ember the way users consume it:
#   tests/consumer/check.sh PREFIX        (after: cmake --install build --prefix PREFIX)
# 1. the install leaks no private build flags and no private dependency headers;
# 2. every installed header compiles on its own;
# 3. this folder's project builds with find_package(ember) and runs;
# 4. main.cpp builds with `g++ -std=c++20 ... $(pkg-config --cflags --libs ember)` and runs.
set -euo pipefail

if [[ $# -ne 1 || ! -d $1 ]]; then
  echo "usage: $0 INSTALL_PREFIX" >&2
  exit 2
fi
prefix=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cxx=${CXX:-g++}
strict=(-std=c++20 -Wall -Wextra -Wpedantic -Werror)
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

step "2. Every installed header compiles on its own"
count=0
while read -r header; do
  printf '#include <%s>\n' "$header" |
    "$cxx" "${strict[@]}" -x c++ -fsyntax-only -I"$prefix/include" - ||
    fail "<$header> does not compile on its own (errors above)"
  count=$((count + 1))
done < <(cd "$prefix/include" && find ember -name '*.h' -not -path 'ember/kernels/cuda/*' | sort)
echo "ok: $count headers"

step "3. find_package(ember) + target_link_libraries(app PRIVATE ember::ember)"
cmake -S "$here" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER="$cxx"
cmake --build "$work/cmake"
"$work/cmake/consumer"

step "4. g++ -std=c++20 main.cpp \$(pkg-config --cflags --libs ember)"
PKG_CONFIG_PATH="$(dirname "$pcfile")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH
flags=$(pkg-config --cflags --libs ember)
echo "pkg-config --cflags --libs ember: $flags"
# Libraries after the sources: a static library only resolves symbols needed before it.
# shellcheck disable=SC2086  # $flags is a list of words
"$cxx" "${strict[@]}" "$here/main.cpp" $flags -o "$work/consumer_pkgconfig"
"$work/consumer_pkgconfig"

printf '\nconsumer check passed for %s\n' "$prefix"
