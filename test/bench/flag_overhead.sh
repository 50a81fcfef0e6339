#!/usr/bin/env bash
# test/bench/flag_overhead.sh: what the tfm_flag trigger costs per inserted row beyond the model.
# One session inserts ROWS rows (INSERT ... SELECT, one statement) into tables that differ only in
# their trigger: none (a plain insert), tfm_flag (C, src/sql/flag.c), and flag_ref, the PL/pgSQL body it
# replaced (taken from sql/flag.sql); and runs the model alone (SELECT tfm_score(...) over the same
# rows). Two models: an MLP on a real[] feature vector (the model costs microseconds, so the trigger's
# own cost shows) and a MiniLM spam head on short texts (TEXT_ROWS rows; max_tokens 32). Prints µs
# per row, the best of REPEAT runs, and the overhead of each trigger = trigger - plain - model alone.
# Starts its own throwaway cluster, or with USE_RUNNING=1 uses the one PGHOST/PGPORT describe.
# Knobs: ROWS (default 20000), TEXT_ROWS (default 500), REPEAT (default 3), DB (default flag_overhead).
source "$(dirname "$0")/../../scripts/lib.sh"
ROWS=${ROWS:-20000}; TEXT_ROWS=${TEXT_ROWS:-500}; REPEAT=${REPEAT:-3}; DB=${DB:-flag_overhead}

choose_run_dir
fetch_model
if [ "${USE_RUNNING:-0}" = 1 ]; then
  : "${PGHOST:?USE_RUNNING=1 needs PGHOST and PGPORT of a running cluster}"
  export PGUSER=${PGUSER:-postgres}
else
  start_cluster
fi
cleanup() {
  psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  [ "${USE_RUNNING:-0}" = 1 ] || stop_cluster
}
trap cleanup EXIT
# one process: a parallel "model alone" SELECT would be compared with single-process inserts
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning -c max_parallel_workers_per_gather=0"
d() { psql -XAtq -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

log "database $DB: MLP and MiniLM spam head, flag_ref from sql/flag.sql"
psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
# flag_ref: from its CREATE FUNCTION line to the line that ends its body
sed -n '/^CREATE FUNCTION flag_ref()/,/^END \$\$ LANGUAGE plpgsql/p' "$REPO/sql/flag.sql" > "$RUN/flag_ref.sql"
d <<SQL >/dev/null
CREATE EXTENSION pg_tfm;
\i $RUN/flag_ref.sql
SELECT setseed(0.5);
CREATE TABLE tx AS SELECT ARRAY[random() * 6, random() * 3, random(), random()]::real[] AS v FROM generate_series(1, 2000);
CALL tfm_train('fx', 'mlp', 'SELECT v, v[1] + v[2] > 4 FROM tx', 'classification', '{"hidden": [16], "seed": 1}');
CREATE TABLE vsrc AS SELECT ARRAY[random() * 6, random() * 3, random(), random()]::real[] AS v FROM generate_series(1, $ROWS);
SELECT 1 FROM tfm_import('minilm', '$PG_TFM_MODEL_DIR', '{"max_tokens": 32}');
CREATE TABLE mail AS SELECT CASE WHEN i % 2 = 0 THEN 'cheap pills, buy now ' || i ELSE 'notes from the meeting ' || i END AS t,
  CASE WHEN i % 2 = 0 THEN 'spam' ELSE 'ham' END AS label FROM generate_series(1, 60) i;
CALL tfm_train('spam', 'minilm', 'SELECT t, label FROM mail', 'classification', '{"epochs": 3, "seed": 1}');
CREATE TABLE tsrc AS SELECT 'a short e-mail about the meeting, number ' || i AS t FROM generate_series(1, $TEXT_ROWS) i;
SQL

# best-of-REPEAT milliseconds of one statement (after one warm-up run); setup runs before each
best_ms() {
  local setup=$1 stmt=$2 best="" ms
  for i in $(seq 0 "$REPEAT"); do
    ms=$(d -c "$setup" -c '\timing on' -c "$stmt" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
    [ "$i" = 0 ] && continue
    if [ -z "$best" ] || awk "BEGIN{exit !($ms < $best)}"; then best=$ms; fi
  done
  echo "$best"
}

# one model: µs per row of plain insert, model alone, C trigger, PL/pgSQL trigger
measure() { # label, column definition, source table, column, rows, model, label, score expression
  local what=$1 coldef=$2 src=$3 col=$4 n=$5 model=$6 lbl=$7 score=$8
  local mk="DROP TABLE IF EXISTS dst; CREATE TABLE dst ($coldef, flagged bool)"
  local ins="INSERT INTO dst ($col) SELECT $col FROM $src"
  local plain model_only c ref
  plain=$(best_ms "$mk" "$ins")
  model_only=$(best_ms "SELECT 1" "SELECT count($score) FROM $src")
  c=$(best_ms "$mk; CREATE TRIGGER f BEFORE INSERT ON dst FOR EACH ROW EXECUTE FUNCTION tfm_flag('$model', '$col', 'flagged', '$lbl')" "$ins")
  ref=$(best_ms "$mk; CREATE TRIGGER f BEFORE INSERT ON dst FOR EACH ROW EXECUTE FUNCTION flag_ref('$model', '$col', 'flagged', '$lbl')" "$ins")
  awk -v w="$what" -v n="$n" -v p="$plain" -v m="$model_only" -v c="$c" -v r="$ref" 'BEGIN {
    u = 1000 / n;
    printf "%s, %d rows: plain insert %.1f µs/row, model alone %.1f, C trigger %.1f, PL/pgSQL trigger %.1f\n", w, n, p*u, m*u, c*u, r*u;
    printf "%s: overhead beyond plain insert + model: C %.1f µs/row, PL/pgSQL %.1f µs/row (%.1fx)\n", w, (c-p-m)*u, (r-p-m)*u, (r-p-m)/((c-p-m) > 0.001 ? (c-p-m) : 0.001) }'
}

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
fam=$(lscpu | sed -n 's/^CPU family: *//p' | head -1); mod=$(lscpu | sed -n 's/^Model: *//p' | head -1)
log "CPU: $cpu (family $fam, model $mod), $(nproc) cores; best of $REPEAT"
measure "MLP on real[]" "v real[]" vsrc v "$ROWS" fx true "tfm_score(v, 'fx', 'true')"
measure "MiniLM head on text" "t text" tsrc t "$TEXT_ROWS" spam spam "tfm_score(t, 'spam', 'spam')"
