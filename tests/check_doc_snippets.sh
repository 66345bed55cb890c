#!/usr/bin/env bash
# Checks every C++ snippet (```cpp fence) in README.md and docs/*.md: each one either is a
# file of the project, or an excerpt of one, or compiles against ember's headers.
#
#   tests/check_doc_snippets.sh <source root> <c++ compiler> [compiler flags, e.g. -I...]
#
# An HTML comment right before the fence (blank lines between are allowed) says how the
# snippet is checked; GitHub does not render it:
#
#   <!-- snippet: file examples/fit_line.cpp -->     byte-identical to that whole file
#   <!-- snippet: excerpt core/ops/binary.cpp -->    its lines occur, consecutively, in it
#   <!-- snippet: declarations -->                   compiled at namespace scope
#   (no comment), <!-- snippet: statements -->       compiled as the body of a function
#
# The two compiled kinds may carry hidden context: code lines after the first line of the
# comment, up to a line holding only `-->`, placed at namespace scope before the snippet
# (declarations the snippet uses but the reader need not see; `#include` lines too):
#
#   <!-- snippet: statements
#   Tensor prediction = randn({8}), target = randn({8});
#   -->
#
# Every compiled snippet sees <ember/ember.h>, a few standard headers and
# `using namespace ember;`, and is compiled with -fsyntax-only -Wall -Wextra -Werror
# (unused names allowed). All snippets are first compiled as one translation unit (each in
# its own namespace, so they cannot clash); when that fails, each is compiled alone, so the
# report names every snippet at fault. #line directives make compiler messages point into
# the Markdown file. Exits 1 naming file:line of each snippet that fails, 0 otherwise.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 <source root> <c++ compiler> [compiler flags...]" >&2
  exit 2
fi
root=$1
cxx=$2
shift 2
cd "$root"

work=$(mktemp -d "${TMPDIR:-/tmp}/ember-snippets.XXXXXX")
trap 'rm -rf "$work"' EXIT

markdown=(README.md)
for page in docs/*.md; do [ -e "$page" ] && markdown+=("$page"); done

# Extraction: snippet i becomes $work/i.code (its lines), $work/i.context (hidden context)
# and one line of $work/index: "i<TAB>file<TAB>line of the first code line<TAB>mode<TAB>
# argument<TAB>line of the first context line". Problems with the markers themselves go to
# $work/problems as "file:line: what".
: >"$work/index"
: >"$work/problems"
awk -v work="$work" '
  function problem(where, what) { print where ": " what >> (work "/problems") }
  function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
  function unused_marker(file) {
    problem(file ":" marker_line, "snippet comment not followed by a ```cpp fence")
    pending = 0
  }
  function end_of_file(file) {
    if (fence == "cpp" || in_context) problem(file, "ends inside a snippet or its comment")
    if (pending) unused_marker(file)
    fence = ""; in_context = 0
  }
  FNR == 1 && NR > 1 { end_of_file(previous) }
  { previous = FILENAME }
  in_context {
    if (trim($0) == "-->") { in_context = 0; next }
    print > context_file
    next
  }
  fence == "cpp" {
    if ($0 ~ /^[ \t]*```[ \t]*$/) { fence = ""; close(code_file); next }
    line = $0
    if (indent > 0) line = substr(line, indent + 1)
    print line > code_file
    next
  }
  fence == "other" { if ($0 ~ /^[ \t]*```[ \t]*$/) fence = ""; next }
  /^[ \t]*<!--[ \t]*snippet:/ {
    if (pending) unused_marker(FILENAME)
    spec = $0
    sub(/^[ \t]*<!--[ \t]*snippet:[ \t]*/, "", spec)
    single_line = sub(/[ \t]*-->[ \t]*$/, "", spec)
    split(trim(spec), words, /[ \t]+/)
    mode = words[1]; argument = (2 in words) ? words[2] : "-"
    if (mode != "file" && mode != "excerpt" && mode != "declarations" && mode != "statements") {
      problem(FILENAME ":" FNR, "unknown snippet kind \"" mode "\"" \
              " (file, excerpt, declarations, statements)")
    } else if ((mode == "file" || mode == "excerpt") && (argument == "-" || !single_line)) {
      problem(FILENAME ":" FNR, "\"" mode "\" takes a path and no context, on one line")
    }
    count++
    context_file = work "/" count ".context"
    printf "" > context_file
    context_line = FNR + 1
    pending = 1; marker_line = FNR
    if (!single_line) in_context = 1
    next
  }
  /^[ \t]*```/ {
    opening = $0
    indent = match(opening, /```/) - 1
    language = trim(substr(opening, indent + 4))
    if (language != "cpp" && language != "c++") {
      if (pending) unused_marker(FILENAME)
      fence = "other"; next
    }
    if (!pending) {
      count++
      context_file = work "/" count ".context"
      printf "" > context_file
      mode = "statements"; argument = "-"; context_line = FNR
    }
    close(context_file)
    pending = 0; fence = "cpp"
    code_file = work "/" count ".code"
    printf "" > code_file
    printf "%d\t%s\t%d\t%s\t%s\t%d\n", count, FILENAME, FNR + 1, mode, argument, \
           context_line >> (work "/index")
    next
  }
  pending && trim($0) != "" { unused_marker(FILENAME) }
  END { end_of_file(previous) }
' "${markdown[@]}"

failures=0
fail() {
  echo "FAIL $1"
  failures=$((failures + 1))
}

# Writes to stdout one translation unit holding the given snippets (ids), each in its own
# namespace. `#include` lines are hoisted to the top (blank lines keep the numbering).
translation_unit() {
  local id file line mode argument context_line
  printf '#include <ember/ember.h>\n\n#include <cstdint>\n#include <cstdio>\n'
  printf '#include <iostream>\n#include <string>\n#include <utility>\n#include <vector>\n'
  for id in "$@"; do
    grep -h '^[ \t]*#[ \t]*include' "$work/$id.context" "$work/$id.code" || true
  done
  printf 'using namespace ember;\n'
  for id in "$@"; do
    IFS=$'\t' read -r _ file line mode argument context_line < <(awk -F'\t' -v id="$id" \
      '$1 == id' "$work/index")
    printf 'namespace snippet_%s {\n#line %s "%s"\n' "$id" "$context_line" "$file"
    sed 's/^[ \t]*#[ \t]*include.*$//' "$work/$id.context"
    if [ "$mode" = statements ]; then printf 'void body() {\n'; fi
    printf '#line %s "%s"\n' "$line" "$file"
    sed 's/^[ \t]*#[ \t]*include.*$//' "$work/$id.code"
    if [ "$mode" = statements ]; then printf '}\n'; fi
    printf '}  // namespace snippet_%s\n' "$id"
  done
}

compile() {  # compile <output file> <snippet ids...>
  local log=$1
  shift
  translation_unit "$@" >"$work/unit.cpp"
  "$cxx" -std=c++20 "${flags[@]}" -fsyntax-only -Wall -Wextra -Werror -Wno-unused \
    -x c++ "$work/unit.cpp" >"$log" 2>&1
}

flags=("$@")
compiled=()
checked=0
while IFS=$'\t' read -r id file line mode argument _; do
  checked=$((checked + 1))
  where="$file:$((line - 1))"  # the fence line
  case "$mode" in
    file | excerpt) [ "$argument" = - ] && continue ;;  # reported as a problem already
  esac
  case "$mode" in
    file)
      if [ ! -f "$argument" ]; then
        fail "$where: snippet names '$argument', which does not exist"
      elif ! cmp -s "$work/$id.code" "$argument"; then
        fail "$where: snippet differs from $argument (it must be the whole file, byte for byte):"
        diff -u "$argument" "$work/$id.code" --label "$argument" --label "$where" || true
      fi
      ;;
    excerpt)
      if [ ! -f "$argument" ]; then
        fail "$where: snippet names '$argument', which does not exist"
      elif ! awk 'NR == FNR { want[++n] = $0; next }
                  { text[++m] = $0 }
                  END {
                    for (start = 1; start + n - 1 <= m; start++) {
                      for (i = 1; i <= n && text[start + i - 1] == want[i]; i++) {}
                      if (i > n) exit 0
                    }
                    exit 1
                  }' "$work/$id.code" "$argument"; then
        fail "$where: snippet is not an excerpt of $argument (its lines must occur there, in a row)"
      fi
      ;;
    statements | declarations) compiled+=("$id") ;;
  esac
done <"$work/index"

while IFS= read -r problem; do fail "$problem"; done <"$work/problems"

if [ ${#compiled[@]} -gt 0 ] && ! compile "$work/all.log" "${compiled[@]}"; then
  for id in "${compiled[@]}"; do
    if ! compile "$work/one.log" "$id"; then
      IFS=$'\t' read -r _ file line _ < <(awk -F'\t' -v id="$id" '$1 == id' "$work/index")
      fail "$file:$((line - 1)): snippet does not compile:"
      cat "$work/one.log"
    fi
  done
  if [ $failures -eq 0 ]; then  # only together: say so rather than pass
    fail "the snippets compile one by one but not together:"
    cat "$work/all.log"
  fi
fi

echo "checked $checked C++ snippets in ${#markdown[@]} Markdown files" \
  "(${#compiled[@]} compiled); $failures failed"
[ $failures -eq 0 ]
