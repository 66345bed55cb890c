#!/usr/bin/env bash
# A process that throws brings the whole job down: within LIMIT seconds, with a non-zero exit
# and the line "ember: rank 1 of P: injected failure at step 5" on stderr.
#   tests/dist/check_failure.sh LIMIT MPIEXEC [FLAGS...] FAIL_MID_EPOCH
set -uo pipefail
limit=$1
shift
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s%N)
"$@" >"$log" 2>&1
code=$?
milliseconds=$((($(date +%s%N) - start) / 1000000))
echo "exit $code after $milliseconds ms; output:"
cat "$log"
failures=0
if [[ $code == 0 ]]; then
  echo "FAIL: the job exited 0"
  failures=$((failures + 1))
fi
if ! grep -qE '^ember: rank 1 of [0-9]+: injected failure at step 5$' "$log"; then
  echo "FAIL: no line 'ember: rank 1 of P: injected failure at step 5'"
  failures=$((failures + 1))
fi
if ((milliseconds > limit * 1000)); then
  echo "FAIL: the job took $milliseconds ms, more than $limit s"
  failures=$((failures + 1))
fi
[[ $failures == 0 ]] && echo "ok: the job ended in $milliseconds ms with exit $code and the message"
[[ $failures == 0 ]]
