#!/usr/bin/env bash
# Runs an example and checks that it prints what its source says it prints, so that output
# shown in the README stays true:
#
#   tests/check_example_output.sh <executable> <source file>
#
# The expected output is the trailing comment of each source line that writes to std::cout,
# in order: `std::cout << "b = " << b << "\n";  // b = tensor(0.3000, requires_grad=True)`
# expects the line `b = tensor(0.3000, requires_grad=True)`. The program must print exactly
# those lines. Exits 1 with a diff otherwise.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <executable> <source file>" >&2
  exit 2
fi
expected=$(sed -n 's|^.*std::cout.*;  // ||p' "$2")
if [ -z "$expected" ]; then
  echo "$2: no std::cout line with a trailing comment saying what it prints" >&2
  exit 1
fi
actual=$("$1")
printf '%s\n' "$actual"
if [ "$actual" != "$expected" ]; then
  echo "$2: the output above differs from the comments in the source:"
  diff <(printf '%s\n' "$expected") <(printf '%s\n' "$actual") || true
  exit 1
fi
echo "$2: output matches its comments"
