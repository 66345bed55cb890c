#!/usr/bin/env bash
# The `ember` command as a user meets it: a run on the digits, predict and evaluate with the
# saved model, and one clear line with a non-zero exit for every kind of bad input.
#   tests/cli/check_cli.sh EMBER_BINARY DIGITS_CSV_GZ
set -uo pipefail
ember=$(realpath "$1")
digits=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# expect_error NAME EXIT_CODE MESSAGE_PART COMMAND...: the command exits with EXIT_CODE and
# prints exactly one line on stderr, starting "ember: " and containing MESSAGE_PART.
expect_error() {
  local name=$1 code=$2 part=$3
  shift 3
  "$@" >stdout.txt 2>stderr.txt
  local got=$?
  local lines
  lines=$(wc -l <stderr.txt)
  if [[ $got != "$code" ]]; then
    fail "$name: exit $got, expected $code; stderr: $(cat stderr.txt)"
  elif [[ $lines != 1 ]] || ! grep -q '^ember: ' stderr.txt || ! grep -qF -- "$part" stderr.txt; then
    fail "$name: expected one line 'ember: ...$part...', got: $(cat stderr.txt)"
  else
    echo "ok: $name: $(cat stderr.txt)"
  fi
}

# A run on the digits: three tasks, a short budget.
"$ember" train "$digits" --target digit:classes --target odd:binary --target high:binary \
  --hidden 32 --epochs 8 --seed 1 --out run --quiet || fail "train exited $?"
for file in model.safetensors config.json metrics.json metrics.csv checkpoint/trainer.safetensors; do
  [[ -s run/$file ]] || fail "the run folder lacks $file"
done
ls run/tensorboard/events.out.tfevents.* >/dev/null 2>&1 || fail "no TensorBoard event file"
[[ $(wc -l <run/metrics.csv) == 9 ]] || fail "metrics.csv should hold a header and 8 epochs"
grep -q '"digit"' run/metrics.json || fail "metrics.json lacks the digit task"
"$ember" train "$digits" --target digit:classes --epochs 2 --out run2 --json >json.txt ||
  fail "train --json exited $?"
grep -q '"accuracy"' json.txt || fail "--json printed no metrics"

zcat "$digits" | head -n 21 >rows.csv
"$ember" predict run/model.safetensors rows.csv -o predictions.csv || fail "predict exited $?"
[[ $(wc -l <predictions.csv) == 21 ]] || fail "predictions.csv should hold a header and 20 rows"
head -n 1 predictions.csv | grep -q '^digit,digit_p0,' || fail "unexpected predictions header"
"$ember" evaluate run/model.safetensors rows.csv >evaluation.txt || fail "evaluate exited $?"
grep -q '^digit:  accuracy' evaluation.txt || fail "evaluate printed no digit accuracy"
# Rows of odd digits only: ROC AUC of `odd` is undefined there, which evaluate says and goes on.
awk -F, 'NR == 1 || $(NF - 1) == 1' rows.csv >odd_rows.csv
"$ember" evaluate run/model.safetensors odd_rows.csv >odd_evaluation.txt ||
  fail "evaluate on one class exited $?"
grep -q '^odd:.*roc_auc undefined' odd_evaluation.txt || fail "evaluate on one class: $(cat odd_evaluation.txt)"
[[ $failures == 0 ]] && echo "ok: train, predict and evaluate on the digits"

# Multi-task balancing, the other architectures and ensembles: each trains, saves, and
# predicts with the columns its kind of model has.
"$ember" train "$digits" --target digit:classes --target high:binary --hidden 16 --epochs 3 \
  --model mmoe --experts 3 --weighting pcgrad --out mmoe --quiet || fail "train --model mmoe exited $?"
grep -q '"task_weights"' mmoe/metrics.json || fail "metrics.json lacks the task weights"
head -n 1 mmoe/metrics.csv | grep -q "train/digit/weight" || fail "metrics.csv lacks the task weights"
"$ember" train "$digits" --target digit:classes --hidden 16 --epochs 3 --model ple \
  --weighting uncertainty --out ple --quiet || fail "train --model ple exited $?"
grep -q '"sigma"' ple/metrics.json || fail "metrics.json lacks uncertainty weighting's sigma"
"$ember" train "$digits" --target digit:classes --hidden 16 --epochs 3 --ensemble 3 \
  --method bagging --out bagged --quiet || fail "train --ensemble 3 --method bagging exited $?"
grep -q '"members"' bagged/metrics.json || fail "metrics.json lacks the members' metrics"
[[ -s bagged/member_2/metrics.csv ]] || fail "no metrics.csv for member 2"
"$ember" predict bagged/model.safetensors rows.csv -o bagged.csv || fail "predict (ensemble) exited $?"
head -n 1 bagged.csv | grep -q ',digit_entropy,digit_mutual_information$' ||
  fail "ensemble predictions lack the spread columns: $(head -n 1 bagged.csv)"
(printf 'x,y\n'; for i in $(seq 1 60); do echo "$i,$((i * i % 17))"; done) >curve.csv
"$ember" train curve.csv --target y --hidden 8 --epochs 3 --ensemble 3 --method deep_ensemble \
  --out deep --quiet || fail "train --method deep_ensemble exited $?"
"$ember" predict deep/model.safetensors curve.csv | head -n 1 | grep -q '^y,y_std$' ||
  fail "deep ensemble predictions lack y_std"
grep -q '"coverage_95"' deep/metrics.json || fail "deep ensemble metrics lack coverage_95"
"$ember" train curve.csv --target y --hidden 8 --epochs 3 --ensemble 2 --method deep_ensemble \
  --adversarial --out deep_at --quiet || fail "train --method deep_ensemble --adversarial exited $?"
grep -q '"adversarial": true' deep_at/config.json || fail "config.json lacks adversarial: true"
"$ember" train "$digits" --target digit:classes --target odd:binary --hidden 16 --epochs 3 \
  --ensemble 3 --method batch_ensemble --out batch --quiet ||
  fail "train --method batch_ensemble exited $?"
grep -q '"members"' batch/metrics.json || fail "batch ensemble metrics lack the members' metrics"
"$ember" predict batch/model.safetensors rows.csv -o batch.csv || fail "predict (batch ensemble) exited $?"
head -n 1 batch.csv | grep -q ',odd_entropy,odd_mutual_information$' ||
  fail "batch ensemble predictions lack the spread columns: $(head -n 1 batch.csv)"
"$ember" train "$digits" --target digit:classes --target odd:binary --hidden 16 --epochs 3 \
  --ensemble 2 --calibrate --out calibrated --quiet || fail "train --calibrate exited $?"
grep -q '"calibrate": true' calibrated/config.json || fail "config.json lacks calibrate: true"
[[ $(sed -n '/"temperature"/,/}/p' calibrated/metrics.json | grep -cE '"(digit|odd)": [0-9]') == 2 ]] ||
  fail "metrics.json lacks a temperature per classification task"
"$ember" predict calibrated/model.safetensors rows.csv -o calibrated.csv ||
  fail "predict (calibrated) exited $?"
# A snapshot ensemble with the defaults: no early stopping, the 100 epochs rounded down to
# three cycles of 33. An ensemble trained member by member reports each member's best epoch.
"$ember" train curve.csv --target y --hidden 8 --ensemble 3 --method snapshot --out snap --quiet ||
  fail "train --method snapshot with the defaults exited $?"
[[ $(grep -cE '"(epochs": 33|name": "cycle_[012]")' snap/metrics.json) == 6 ]] ||
  fail "snapshot metrics.json should list 3 cycles of 33 epochs: $(cat snap/metrics.json)"
"$ember" train curve.csv --target y --hidden 8 --epochs 4 --ensemble 2 --out voted >voted.txt ||
  fail "train --ensemble 2 exited $?"
grep -qE '^trained 2 members, [0-9]+ epochs in all \(best [1-4], [1-4]\) on ' voted.txt ||
  fail "the voting run's summary line: $(head -n 1 voted.txt)"
[[ $(grep -c '"best_epoch"' voted/metrics.json) == 2 ]] || fail "metrics.json lacks each member's best epoch"
[[ $failures == 0 ]] && echo "ok: balancers, mmoe, ple and ensembles train, save and predict"

# Ctrl-C in the first member of an ensemble: the training stops there (the second member never
# starts), what was trained is scored and saved, a note says so, and the exit status is 130.
"$ember" train curve.csv --target y --hidden 8 --epochs 1000000 --patience 0 --ensemble 2 \
  --out stopped >stopped.txt 2>stopped_err.txt &
pid=$!
for _ in $(seq 1 600); do  # until member 0 has finished an epoch (at most a minute)
  [[ -f stopped/member_0/metrics.csv && $(wc -l <stopped/member_0/metrics.csv) -ge 2 ]] && break
  sleep 0.1
done
kill -INT "$pid"
for _ in $(seq 1 600); do  # a run that ignored the stop would never end: a minute at most
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -KILL "$pid" 2>/dev/null
wait "$pid"
code=$?
if [[ $code == 130 ]] && grep -qF "ember: note: training was interrupted (Ctrl-C) in member_0 of 2, before the runs after it" stopped_err.txt &&
  grep -q '"interrupted": true' stopped/metrics.json && [[ -s stopped/model.safetensors && ! -e stopped/member_1 ]]; then
  echo "ok: Ctrl-C stops an ensemble's training, saves it and exits 130"
else
  fail "Ctrl-C: exit $code, stderr: $(cat stopped_err.txt)"
fi

# A run stopped after 3 of 6 epochs and resumed ends as the run that never stopped: the same
# rows in metrics.csv (but the seconds column) and the same model file.
common=(train "$digits" --target digit:classes --target odd:binary --hidden 16 --seed 2 --quiet
  --threads 1)
"$ember" "${common[@]}" --epochs 6 --out whole || fail "train (whole) exited $?"
"$ember" "${common[@]}" --epochs 3 --out parts || fail "train (first part) exited $?"
"$ember" "${common[@]}" --epochs 6 --out parts --resume || fail "train --resume exited $?"
without_seconds() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "seconds") s = i }
  { line = ""; for (i = 1; i <= NF; i++) if (i != s) line = line $i ","; print line }' "$1"; }
if [[ $(without_seconds whole/metrics.csv) == "$(without_seconds parts/metrics.csv)" ]] &&
  cmp -s whole/model.safetensors parts/model.safetensors; then
  echo "ok: a resumed run equals the run that never stopped"
else
  fail "the resumed run differs: $(diff <(without_seconds whole/metrics.csv) <(without_seconds parts/metrics.csv))"
fi
# --resume takes the run's own options (more epochs and --calibrate aside), or says which differs.
expect_error "resume with another option" 1 \
  "--resume: the run in parts was started with --lr 0.001, and this command gives 0.01; resume with the run's own options (parts/config.json)" \
  "$ember" "${common[@]}" --epochs 6 --lr 0.01 --out parts --resume
expect_error "resume another method" 1 'was started with --method "voting", and this command gives "bagging"' \
  "$ember" train curve.csv --target y --hidden 8 --epochs 4 --ensemble 2 --method bagging --out voted --resume

printf 'a,y\n1,2\nx,3\n' >text.csv
printf 'a,y\n1,0\n2,1.5\n3,1\n' >fraction.csv
printf 'a,y\n1,1\n2,1\n3,1\n' >one_class.csv
printf 'a,y\n1,1\n2,0\n' >tiny.csv
printf 'a,y\n1,nan\n2,0\n' >nan.csv
(printf 'a,y\n'; for i in $(seq 1 40); do echo "$i,$((i % 7))"; done) >line.csv
expect_error "missing file" 1 "cannot open 'nothere.csv'" "$ember" train nothere.csv --target y --out r
expect_error "missing column" 1 "line.csv: no column 'z' (columns: a, y)" "$ember" train line.csv --target z --out r
expect_error "non-numeric cell" 1 "text.csv:3: column 1 ('a'): 'x' is not a number" \
  "$ember" train text.csv --target y --out r
expect_error "non-integer label" 1 "fraction.csv:3: column 'y': class label 1.500000 is not an integer" \
  "$ember" train fraction.csv --target y:classes --out r
expect_error "single class" 1 "column 'y' holds a single class (1)" \
  "$ember" train one_class.csv --target y:binary --out r
expect_error "empty split" 1 \
  "tiny.csv: 2 rows leave none for training after 1 test and 1 validation rows" \
  "$ember" train tiny.csv --target y --out r
expect_error "NaN value" 1 "nan.csv:2: column 'y': NaN" "$ember" train nan.csv --target y --out r
expect_error "non-finite loss" 1 \
  "is infinite at epoch 2, step 2; training stopped, the last checkpoint (epoch 1) is kept" \
  "$ember" train line.csv --target y --optimizer sgd --lr 1e38 --out diverged --quiet
[[ -s diverged/checkpoint/trainer.safetensors ]] || fail "the last good checkpoint is gone"
expect_error "unknown kind" 1 "unknown kind \"ordinal\"" "$ember" train line.csv --target y:ordinal --out r
expect_error "unknown optimizer" 1 "unknown optimizer \"lbfgs\"" \
  "$ember" train line.csv --target y --optimizer lbfgs --out r
expect_error "no target" 2 "--target is required" "$ember" train line.csv --out r
expect_error "bad number" 2 "--epochs" "$ember" train line.csv --target y --epochs x --out r
expect_error "zero threads" 2 "--threads" "$ember" train line.csv --target y --threads 0 --out r
expect_error "unknown weighting" 1 "unknown balancing method 'fair' (known: equal, uncertainty," \
  "$ember" train line.csv --target y --weighting fair --out r
expect_error "unknown model" 1 "unknown model \"cnn\" (mlp, mmoe or ple)" \
  "$ember" train line.csv --target y --model cnn --out r
expect_error "adversarial voting" 1 "--adversarial goes with --method deep_ensemble" \
  "$ember" train line.csv --target y --ensemble 2 --adversarial --out r
expect_error "calibrate regression" 1 \
  "--calibrate fits a temperature per classification target, and there is none" \
  "$ember" train line.csv --target y --calibrate --out r
expect_error "batch ensemble of mmoe" 1 "--method batch_ensemble builds MLPs (--model mlp), not mmoe" \
  "$ember" train line.csv --target y --ensemble 2 --method batch_ensemble --model mmoe --out r
expect_error "unknown method" 1 "unknown --method \"stacking\" (voting, bagging, fusion, snapshot, gradient_boosting, deep_ensemble, mc_dropout or batch_ensemble)" \
  "$ember" train line.csv --target y --ensemble 2 \
  --method stacking --out r
expect_error "weighting with an ensemble" 1 "ensemble members train with equal weighting" \
  "$ember" train line.csv --target y --ensemble 2 --weighting pcgrad --out r
expect_error "mc dropout without dropout" 1 "--method mc_dropout needs --dropout above 0" \
  "$ember" train line.csv --target y --method mc_dropout --out r
expect_error "snapshot epochs" 1 \
  "--method snapshot trains one cycle of equal length per member: --epochs 20 is not a positive multiple of --ensemble 3 (try 18 or 21)" \
  "$ember" train line.csv --target y --ensemble 3 --method snapshot --epochs 20 --out r
expect_error "snapshot patience" 1 "early stopping (--patience 4) would cut one short; pass --patience 0" \
  "$ember" train line.csv --target y --ensemble 3 --method snapshot --epochs 6 --patience 4 --out r
expect_error "boosting a classifier" 1 "gradient" \
  "$ember" train line.csv --target y:classes --ensemble 2 --method gradient_boosting --out r
expect_error "demo without data" 1 "demo: no data file nothere.csv.gz" \
  "$ember" demo --data nothere.csv.gz --out r
# Without a Python that can draw, the demo still prints its tables and says why no pictures.
"$ember" demo --data "$digits" --epochs 2 --out demo --python ./no-python >demo.txt 2>&1 ||
  fail "demo with a missing --python exited $?"
if grep -q '^best ensemble on the validation split' demo.txt && grep -qF "pictures skipped: \`'./no-python' " demo.txt; then
  echo "ok: demo without a Python for the pictures: $(grep -F 'pictures skipped' demo.txt)"
else
  fail "demo with a missing --python: expected its tables and 'pictures skipped', got: $(cat demo.txt)"
fi
expect_error "not a model" 1 "line.csv: not a model saved by ember (load_safetensors: " \
  "$ember" predict line.csv line.csv
expect_error "a run's config.json" 1 "run/config.json: not a model saved by ember" \
  "$ember" predict run/config.json rows.csv
expect_error "a missing model" 1 "load_safetensors: 'nothere.safetensors': cannot read the file" \
  "$ember" predict nothere.safetensors rows.csv
mkdir -p no_model
expect_error "a folder without a model" 1 \
  "no_model: a folder with no model.safetensors in it (give a run's folder or its model.safetensors)" \
  "$ember" evaluate no_model rows.csv
# A run's folder stands for its model.
"$ember" predict run rows.csv -o from_folder.csv || fail "predict with the run's folder exited $?"
cmp -s predictions.csv from_folder.csv || fail "predict with the run's folder differs from its model"
expect_error "model without its columns" 1 "line.csv: no column 'p0' the model reads" \
  "$ember" predict run/model.safetensors line.csv

if [[ $failures != 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all ember command checks passed"
