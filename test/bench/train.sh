#!/usr/bin/env bash
# test/bench/train.sh: training throughput (examples/s, tokens/s), time per epoch and peak backend memory
# (VmHWM) for head and full fine-tuning on the SpamAssassin corpus. Starts its own throwaway cluster.
# N (rows for full fine-tuning, default 256), THREADS (pg_tfm.blas_threads, default 2), TOKENS (default 128).
source "$(dirname "$0")/../../scripts/lib.sh"
N=${N:-256}; THREADS=${THREADS:-2}; TOKENS=${TOKENS:-128}
choose_run_dir
fetch_model
fetch_spam
start_cluster
trap stop_cluster EXIT
psql -XAtq -d postgres -c "CREATE DATABASE bench" >/dev/null
psql -XAtq -d bench -v ON_ERROR_STOP=1 <<SQL >/dev/null
CREATE EXTENSION pg_tfm;
SELECT 1 FROM tfm_import('minilm', '$PG_TFM_MODEL_DIR', '{"max_tokens": 256}');
CREATE TABLE mail (id text, grp text, subject text, body text, label text);
COPY mail FROM '$PG_TFM_SPAM_CSV' WITH (FORMAT csv, HEADER);
SQL

run() { # name, query, options: trains in one session and reports throughput and the backend's peak memory
  local out
  out=$(psql -XAtq -d bench -v ON_ERROR_STOP=1 <<SQL
SET client_min_messages = warning;
SET pg_tfm.blas_threads = $THREADS;
CALL tfm_train('$1', 'minilm', \$q\$$2\$q\$, 'classification', '$3');
SELECT substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\s*(\d+)');
SQL
)
  local hwm; hwm=$(echo "$out" | tail -1)
  psql -XAtq -d bench -c "SELECT format('%s (%s): %s rows, encode %s s, epochs %s s for %s epochs (%s s/epoch), %s examples/s, %s tokens/s, validation accuracy %s',
      name, training->>'fine_tune', training->>'rows', training->>'encode_seconds', training->>'seconds', training->>'epochs_run',
      round(((training->>'seconds')::numeric / (training->>'epochs_run')::numeric), 2),
      training->>'examples_per_second', training->>'tokens_per_second', round((metrics->>'accuracy')::numeric, 4))
    FROM tfm.models WHERE name = '$1'"
  echo "  peak backend memory (VmHWM of the training backend): $((hwm / 1024)) MB"
}
body="subject || E'\n' || regexp_replace(body, '<[^>]*>|&nbsp;|=\n', ' ', 'g')"
log "head training, every e-mail, $TOKENS tokens, $THREADS BLAS threads"
run spam_head "SELECT $body, label FROM mail" "{\"max_tokens\": $TOKENS}"
log "full fine-tuning, $N e-mails, $TOKENS tokens, 1 epoch"
run spam_full "SELECT $body, label FROM mail ORDER BY md5(id) LIMIT $N" "{\"max_tokens\": $TOKENS, \"fine_tune\": \"full\", \"epochs\": 1}"
