#!/usr/bin/env bash
# Checks the Markdown links of README.md and docs/*.md:
# 1. every relative link (outside code blocks) points at a file or folder that exists;
# 2. every chapter docs/*.md is linked from docs/README.md and from README.md's
#    "## Read next" section, so a new or renamed chapter cannot be left out.
#
#   tests/check_doc_links.sh <source root>
#
# Exits 1 naming file:line of each broken link and each chapter left out, 0 otherwise.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 <source root>" >&2
  exit 2
fi
cd "$1"

markdown=(README.md docs/*.md)
failures=0

# "file<TAB>line<TAB>target<TAB>section" for every link [text](target), where section is the
# last "## " heading above it.
links=$(awk '
  FNR == 1 { in_code = 0; section = "" }
  /^[ \t]*```/ { in_code = !in_code; next }
  in_code { next }
  /^## / { section = substr($0, 4) }
  {
    rest = $0
    while (match(rest, /\]\([^) \t]+\)/)) {
      printf "%s\t%d\t%s\t%s\n", FILENAME, FNR, substr(rest, RSTART + 2, RLENGTH - 3), section
      rest = substr(rest, RSTART + RLENGTH)
    }
  }
' "${markdown[@]}")

while IFS=$'\t' read -r file line target _; do
  case "$target" in http://* | https://* | mailto:* | '#'*) continue ;; esac
  path=${target%%#*}
  if [ ! -e "$(dirname "$file")/$path" ]; then
    echo "FAIL $file:$line: link to '$target', which does not exist"
    failures=$((failures + 1))
  fi
done <<<"$links"

for chapter in docs/*.md; do
  name=${chapter#docs/}
  [ "$name" = README.md ] && continue
  if ! awk -F'\t' -v t="$name" '$1 == "docs/README.md" && $3 == t { found = 1 }
                                END { exit !found }' <<<"$links"; then
    echo "FAIL docs/README.md: does not link the chapter $chapter"
    failures=$((failures + 1))
  fi
  if ! awk -F'\t' -v t="$chapter" '$1 == "README.md" && $3 == t && $4 == "Read next" {
                                     found = 1 } END { exit !found }' <<<"$links"; then
    echo "FAIL README.md: its \"Read next\" section does not link the chapter $chapter"
    failures=$((failures + 1))
  fi
done

echo "checked $(wc -l <<<"$links") links in ${#markdown[@]} Markdown files; $failures failed"
[ $failures -eq 0 ]
