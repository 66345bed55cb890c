#!/usr/bin/env bash
# `ember train` started by mpiexec with 2 processes, as a user runs it:
# 1. ensemble-parallel (bagging, 3 members over 2 ranks) saves the very model.safetensors one
#    process saves, bit for bit, with each member's metrics.csv in the run folder;
# 2. data-parallel (one network) writes one complete run folder and prints its summary once;
# 3. an error ends the job with a non-zero exit and "ember: rank R of 2: <the error>".
#   tests/dist/check_cli_mpi.sh EMBER_BINARY DIGITS_CSV_GZ MPIEXEC [FLAGS...] (for 2 processes)
set -uo pipefail
ember=$(realpath "$1")
digits=$(realpath "$2")
shift 2
launch=("$@")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

common=(train "$digits" --target digit:classes --target odd:binary --hidden 16 --epochs 3
  --seed 3 --quiet)
"$ember" "${common[@]}" --ensemble 3 --method bagging --out alone || fail "train alone exited $?"
"${launch[@]}" "$ember" "${common[@]}" --ensemble 3 --method bagging --out parallel ||
  fail "ensemble-parallel train exited $?"
cmp alone/model.safetensors parallel/model.safetensors ||
  fail "the ensemble-parallel model differs from the single-process one"
for k in 0 1 2; do
  [[ $(wc -l <"parallel/member_$k/metrics.csv") == 4 ]] ||
    fail "member_$k/metrics.csv should hold a header and 3 epochs"
done
[[ $failures == 0 ]] && echo "ok: ensemble-parallel bagging saves the single-process model, bit for bit"

"${launch[@]}" "$ember" train "$digits" --target digit:classes --hidden 16 --epochs 3 --seed 3 \
  --out data_parallel >stdout.txt || fail "data-parallel train exited $?"
for file in model.safetensors config.json metrics.json metrics.csv checkpoint/trainer.safetensors; do
  [[ -s data_parallel/$file ]] || fail "the data-parallel run folder lacks $file"
done
[[ $(grep -c '^run folder: ' stdout.txt) == 1 ]] || fail "the summary should be printed once: $(cat stdout.txt)"
[[ $(wc -l <data_parallel/metrics.csv) == 4 ]] || fail "metrics.csv should hold a header and 3 epochs"
[[ $failures == 0 ]] && echo "ok: data-parallel training writes one run folder and prints once"

"${launch[@]}" "$ember" train missing.csv --target y --out broken >stdout.txt 2>stderr.txt
code=$?
[[ $code != 0 ]] || fail "a run on a missing file exited 0"
grep -qE '^ember: rank [01] of 2: .*missing\.csv' stderr.txt ||
  fail "expected 'ember: rank R of 2: ...missing.csv...', got: $(cat stderr.txt)"
[[ $failures == 0 ]] && echo "ok: an error ends the job (exit $code): $(grep '^ember: ' stderr.txt | head -n 1)"
[[ $failures == 0 ]]
