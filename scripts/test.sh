#!/usr/bin/env bash
# scripts/test.sh: set everything up on this machine and run the whole test suite
source "$(dirname "$0")/lib.sh"

install_deps python3-torch  # torch.save: the reference writer of the pytorch_model.bin fixtures
# PG_TFM_BUILD=0: test what is installed (scripts/asan.sh installs its own build first)
[ "${PG_TFM_BUILD:-1}" = 0 ] || build_install
choose_run_dir
fetch_model
fetch_spam
export PG_TFM_GOLDEN="${PG_TFM_GOLDEN:-$(cd "$REPO/.." && pwd)/shared/golden}"
[ -d "$PG_TFM_GOLDEN" ] || { echo "golden data not found at $PG_TFM_GOLDEN (set PG_TFM_GOLDEN)" >&2; exit 1; }
# the server reads golden files through COPY, so it needs a copy it can reach
# (separate commands: set -e does not stop at a failure inside an && list, only at its last command;
# PG_TFM_GOLDEN may already be that copy, exported by an earlier run: then it is not removed)
golden_src=$(cd "$PG_TFM_GOLDEN" && pwd -P)
if [ "$golden_src" != "$(cd "$RUN" && pwd -P)/golden" ]; then
  rm -rf "$RUN/golden"
  cp -r "$golden_src" "$RUN/golden"
fi
chmod -R a+rX "$RUN/golden"
export PG_TFM_GOLDEN="$RUN/golden"
# test fixtures, made afresh (stale ones from an earlier run must not hide a failure of the generator):
# make_fixture VAR FOLDER GENERATOR INPUT [EXTRA...]: VAR=FOLDER, made by node test/GENERATOR INPUT FOLDER EXTRA...
# (a GENERATOR.py runs under Debian's /usr/bin/python3, whose python3-torch another python3 on PATH lacks)
make_fixture() {
  local var=$1 out=$2 gen=$3 in=$4 run=node; shift 4
  case $gen in *.py) run=/usr/bin/python3 ;; esac
  export "$var=$out"
  rm -rf "$out"
  $run "$REPO/test/$gen" "$in" "$out" "$@" || { echo "test set-up failed: test/$gen" >&2; exit 1; }
  chmod -R a+rX "$out"
}
# broken and odd-shaped variants of MiniLM (sql/errors.sql, shapes, limits, sqlstates, options)
make_fixture PG_TFM_BAD "$RUN/bad" make_bad_models.js "$PG_TFM_MODEL_DIR"
# bge-small-en-v1.5's real config, tokenizer and sentence-transformers files with random weights of a
# shrunk config, and directories refused at import (sql/stconfig.sql)
make_fixture PG_TFM_ST "$RUN/st" make_st_models.js "$PG_TFM_GOLDEN"
# the ms-marco cross-encoder's real config and tokenizer with random weights of a shrunk config, as
# BertForSequenceClassification checkpoints, and the reference logits of test/ref/bert_ref.js (sql/seqcls.sql)
make_fixture PG_TFM_SEQCLS "$RUN/seqcls" make_seqcls_models.js "$PG_TFM_GOLDEN"
# DistilBERT and RoBERTa encoders (real configs and tokenizers, random or tiny real weights) and their
# references: Hugging Face's Rust tokenizers for ids, test/ref/encoder.js for embeddings (sql/families.sql)
fetch_tokenizers
make_fixture PG_TFM_FAMILIES "$RUN/families" make_family_models.js "$PG_TFM_GOLDEN" "$PG_TFM_TOKENIZERS"
# DistilBERT, RoBERTa and XLM-R sequence-classification checkpoints and cross-encoders (real configs and
# tokenizers, tiny-random-roberta's real encoder, random heads) and their references (sql/heads.sql)
make_fixture PG_TFM_HEADS "$RUN/heads" make_head_models.js "$PG_TFM_GOLDEN" "$PG_TFM_TOKENIZERS"
# SentencePiece Unigram tokenizers (t5-small's real tokenizer.json and an XLM-R-shaped derivative) on BERT
# and XLM-R configs with random weights, hostile tokenizer.json files, Hugging Face's ids (sql/unigram.sql)
make_fixture PG_TFM_UNIGRAM "$RUN/unigram" make_unigram_models.js "$PG_TFM_GOLDEN" "$PG_TFM_TOKENIZERS"
# token strings from Hugging Face's Rust tokenizers for the real tokenizer files, and model directories with
# vocab.txt + tokenizer_config.json instead of tokenizer.json (sql/tokens.sql; uses the three fixtures above)
make_fixture PG_TFM_TOKENS "$RUN/tokens" make_token_refs.js "$PG_TFM_GOLDEN" "$PG_TFM_TOKENIZERS" "$PG_TFM_MODEL_DIR"
# scikit-learn's data sets as CSV (id, split, features, label) with a fixed 25 % test split (test/t/089_mlp.pl,
# test/bench/mlp.sh)
make_fixture PG_TFM_TABULAR "$RUN/tabular" make_tabular.js "$SKLEARN_DATA"
# PyTorch checkpoints (pytorch_model.bin) written by torch.save itself: MiniLM (F16, and F32 with strided,
# offset and shared storages), tiny-random-roberta, a seqcls checkpoint, and refused or damaged files
# (sql/torchbin.sql, test/t/084_torchbin_mutate.pl)
make_fixture PG_TFM_TORCH "$RUN/torch" make_torch_models.py "$PG_TFM_GOLDEN" "$PG_TFM_MODEL_DIR" "$PG_TFM_SEQCLS"

passed=0; failed=0
suite() { # name, command...
  local name=$1; shift
  log "$name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $name"; fi
}

# a part of the suite while developing: PG_TFM_REGRESS="import errors" (pg_regress files, "" for
# none), PG_TFM_TAP="test/t/010*.pl" (TAP files, "" for none), PG_TFM_UNIT=0 (skip unit tests),
# PG_TFM_FUZZ=0 (skip the fuzzers; PG_TFM_FUZZ_SECONDS per target, default 10)
[ "${PG_TFM_UNIT:-1}" = 0 ] || suite "unit tests (kernels, tokenizer)" make -C "$REPO" -s unit
[ "${PG_TFM_FUZZ:-1}" = 0 ] || suite "libFuzzer (tokenizers, BPE merges, vocabulary blob checks, safetensors checks)" \
  env FUZZ_SECONDS="${PG_TFM_FUZZ_SECONDS:-10}" "$REPO/scripts/fuzz.sh"
start_cluster
trap stop_cluster EXIT
started=$(psql -XAtq -d postgres -c "SELECT pg_postmaster_start_time()")

run_regress() {
  [ "${PG_TFM_REGRESS-unset}" != "" ] || return 0
  make -C "$REPO" -s installcheck PG_CONFIG=/usr/bin/pg_config \
    ${PG_TFM_REGRESS:+REGRESS="$PG_TFM_REGRESS"} || { cat "$REPO/regression.diffs" 2>/dev/null | head -100; return 1; }
}
suite "pg_regress (SQL surface, golden tokens and embeddings)" run_regress

# set -e is off inside suite's `if`: every set-up step's status is checked by hand
run_pgtap() {
  psql -XAtq -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS tap" -c "CREATE DATABASE tap" >/dev/null \
    || { echo "pgTAP set-up failed: CREATE DATABASE tap"; return 1; }
  psql -XAtq -d tap -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION pg_tfm" \
    -c "SELECT 1 FROM tfm_import('minilm', '$PG_TFM_MODEL_DIR', '{\"max_tokens\": 256}')" >/dev/null \
    || { echo "pgTAP set-up failed: extensions or model import in database tap"; return 1; }
  pg_prove -d tap "$REPO"/test/pgtap/*.sql
}
suite "pgTAP (catalog)" run_pgtap

show_figures() { # figures the training tests measured (held-out metrics, throughput)
  psql -XAtq -d contrib_regression -c "SELECT what || ': ' || value FROM results ORDER BY what" 2>/dev/null || true
}
log "figures measured by the training tests"
show_figures

check_postmaster() {
  local now; now=$(psql -XAtq -d postgres -c "SELECT pg_postmaster_start_time()")
  if [ "$now" != "$started" ] || grep -E "terminated by signal|server process .* was terminated|all server processes terminated" "$RUN/pgdata/server.log"; then
    echo "the postmaster restarted or a backend crashed during the suite"; return 1
  fi
  echo "postmaster up since $started, no backend crashed"
}
suite "server never restarted" check_postmaster

# multi-session tests last: 090_restart.pl restarts the server on purpose
pgctl="$PGBIN/pg_ctl"
[ "$(id -u)" = 0 ] && pgctl="runuser -u postgres -- $PGBIN/pg_ctl"
[ "${PG_TFM_TAP-unset}" = "" ] || suite "TAP (multi-session: concurrency, drop, parallel query, corrupt cache, restart)" \
  env PG_TFM_PGDATA="$RUN/pgdata" PG_TFM_PGCTL="$pgctl" prove ${PG_TFM_TAP-"$REPO"/test/t/*.pl}

echo
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
