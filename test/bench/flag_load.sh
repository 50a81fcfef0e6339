#!/usr/bin/env bash
# test/bench/flag_load.sh: the tfm_flag trigger under concurrent inserts of real e-mails.
# Imports all-MiniLM-L6-v2 (max_tokens 128), trains a spam head on a few hundred subjects of the
# SpamAssassin corpus, puts tfm_flag on a table and runs pgbench: CLIENTS sessions (default 16)
# insert a random e-mail of a staging table per transaction for DURATION seconds (default 60;
# not SECONDS, which is bash's own clock). Then checks, and exits non-zero if one fails:
#   - every transaction pgbench counted committed exactly one row, and none failed
#   - every flag equals a recomputation tfm_score(text, model, label) >= threshold
#   - the server log gained no ERROR, FATAL, PANIC, deadlock or crashed backend
#   - the postmaster did not restart
# and reports tps and the per-insert latency distribution (p50/p90/p99/max from pgbench --log).
# Starts its own throwaway cluster, or with USE_RUNNING=1 uses the one PGHOST/PGPORT describe
# (server log: PG_TFM_SERVER_LOG, else $PG_TFM_PGDATA/server.log); the TAP test
# test/t/070_flag_load.pl runs it that way. Other knobs: JOBS (pgbench threads, default 4),
# TRAIN_ROWS (subjects trained on, default 300), THRESHOLD (default 0.5), DB (database, default
# flag_load, dropped first), KEEP_DB=1 (keep it afterwards). The last line is machine-readable:
#   result: processed=N failed=N rows=N mismatches=N ... ok=1
source "$(dirname "$0")/../../scripts/lib.sh"
CLIENTS=${CLIENTS:-16}; DURATION=${DURATION:-60}; JOBS=${JOBS:-4}; TRAIN_ROWS=${TRAIN_ROWS:-300}
THRESHOLD=${THRESHOLD:-0.5}; DB=${DB:-flag_load}
[ "$JOBS" -le "$CLIENTS" ] || JOBS=$CLIENTS
PGBENCH=$PGBIN/pgbench
[ -x "$PGBENCH" ] || PGBENCH=/usr/lib/postgresql/15/bin/pgbench

choose_run_dir
fetch_model
fetch_spam
if [ "${USE_RUNNING:-0}" = 1 ]; then
  : "${PGHOST:?USE_RUNNING=1 needs PGHOST and PGPORT of a running cluster}"
  SERVER_LOG=${PG_TFM_SERVER_LOG:-${PG_TFM_PGDATA:?set PG_TFM_SERVER_LOG or PG_TFM_PGDATA}/server.log}
  export PGUSER=${PGUSER:-postgres}
else
  start_cluster
  SERVER_LOG=$RUN/pgdata/server.log
fi
tmp=$(mktemp -d)
cleanup() {
  rm -rf "$tmp"
  [ "${KEEP_DB:-0}" = 1 ] || psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  [ "${USE_RUNNING:-0}" = 1 ] || stop_cluster
}
trap cleanup EXIT
d() { psql -XAtq -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

started=$(psql -XAtq -d postgres -c "SELECT pg_postmaster_start_time()")
log_off=$(stat -c %s "$SERVER_LOG")

log "database $DB: model (max_tokens 128), corpus, spam head on $TRAIN_ROWS subjects"
psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
d <<SQL >/dev/null
SET client_min_messages = warning;
CREATE EXTENSION pg_tfm;
SELECT 1 FROM tfm_import('minilm', '$PG_TFM_MODEL_DIR', '{"max_tokens": 128}');
CREATE TABLE mail (id text, grp text, subject text, body text, label text);
COPY mail FROM '$PG_TFM_SPAM_CSV' WITH (FORMAT csv, HEADER);
-- the staging table pgbench picks from: e-mail n = 1..count, subject and body as one text
CREATE TABLE staging (n int PRIMARY KEY, id text, t text);
INSERT INTO staging SELECT row_number() OVER (ORDER BY id), id,
  subject || E'\n' || regexp_replace(body, '<[^>]*>|&nbsp;|=\n', ' ', 'g') FROM mail;
SET pg_tfm.blas_threads = 2;
CALL tfm_train('spam_flag', 'minilm',
  'SELECT subject, label FROM mail ORDER BY md5(id) LIMIT $TRAIN_ROWS', 'classification', '{"seed": 1}');
CREATE TABLE inbox (id bigserial PRIMARY KEY, src int, client int, t text, flagged bool,
                    at timestamptz DEFAULT clock_timestamp());
CREATE TRIGGER flag_spam BEFORE INSERT OR UPDATE ON inbox FOR EACH ROW
  EXECUTE FUNCTION tfm_flag('spam_flag', 't', 'flagged', 'spam', '$THRESHOLD');
SQL
nmail=$(d -c "SELECT count(*) FROM staging")
d -c "SELECT format('trained: %s rows, validation accuracy %s, max_tokens %s', training->>'rows',
        round((metrics->>'accuracy')::numeric, 3), max_tokens) FROM tfm.models WHERE name = 'spam_flag'"

cat > "$tmp/insert.sql" <<'SQL'
\set r random(1, :nmail)
INSERT INTO inbox (src, client, t) SELECT n, :client_id, t FROM staging WHERE n = :r;
SQL
log "pgbench: $CLIENTS clients, $JOBS threads, $DURATION s, one random e-mail of $nmail per transaction"
(cd "$tmp" && "$PGBENCH" -n -c "$CLIENTS" -j "$JOBS" -T "$DURATION" -f insert.sql -D nmail="$nmail" \
   --log --log-prefix=tx "$DB") > "$tmp/pgbench.out" 2>&1 || { cat "$tmp/pgbench.out"; echo "pgbench failed"; exit 1; }
grep -E "^(number of|latency|tps)" "$tmp/pgbench.out"
processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$tmp/pgbench.out")
failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$tmp/pgbench.out")
tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$tmp/pgbench.out")
failed=${failed:-0}

log "checks"
# per-transaction log: client, transaction no, latency (us), script, epoch s, us [, lag]
cat "$tmp"/tx.* > "$tmp/all.log"
logged=$(wc -l < "$tmp/all.log")
not_done=$(awk '$3 !~ /^[0-9]+$/' "$tmp/all.log" | wc -l)
read -r p50 p90 p99 pmax mean <<< "$(awk '$3 ~ /^[0-9]+$/ {print $3}' "$tmp/all.log" | sort -n | awk '
  { v[NR] = $1; s += $1 }
  function q(p,  i) { i = int(p * NR + 0.999999); if (i < 1) i = 1; return v[i] / 1000 }
  END { if (NR == 0) { print "0 0 0 0 0"; exit } printf "%.1f %.1f %.1f %.1f %.1f\n", q(0.5), q(0.9), q(0.99), v[NR] / 1000, s / NR / 1000 }')"
IFS='|' read -r rows clients_seen null_flags flagged unflagged mismatches <<< "$(d -F '|' -c "
  SELECT count(*), count(DISTINCT client), count(*) FILTER (WHERE flagged IS NULL),
         count(*) FILTER (WHERE flagged), count(*) FILTER (WHERE NOT flagged),
         count(*) FILTER (WHERE flagged IS DISTINCT FROM (tfm_score(t, 'spam_flag', 'spam') >= '$THRESHOLD'::real))
  FROM inbox")"
log_errors=$(tail -c +$((log_off + 1)) "$SERVER_LOG" | grep -cE "ERROR:|FATAL:|PANIC:|deadlock|terminated by signal|was terminated" || true)
[ "$log_errors" = 0 ] || tail -c +$((log_off + 1)) "$SERVER_LOG" | grep -E "ERROR:|FATAL:|PANIC:|deadlock|terminated by signal|was terminated" | head -20
now=$(psql -XAtq -d postgres -c "SELECT pg_postmaster_start_time()")
same_postmaster=0; [ "$now" = "$started" ] && same_postmaster=1

ok=1
check() { # description, condition (a test expression)
  if eval "$2"; then echo "ok: $1"; else echo "NOT OK: $1"; ok=0; fi
}
check "pgbench processed transactions ($processed)" '[ "${processed:-0}" -gt 0 ]'
check "no failed transaction ($failed)" '[ "$failed" = 0 ]'
check "one row per transaction: $rows rows, $processed transactions, $logged logged, $not_done not done" \
  '[ "$rows" = "$processed" ] && [ "$logged" = "$processed" ] && [ "$not_done" = 0 ]'
check "every client inserted ($clients_seen of $CLIENTS)" '[ "$clients_seen" = "$CLIENTS" ]'
check "every flag set ($null_flags NULL)" '[ "$null_flags" = 0 ]'
check "every flag equals tfm_score >= $THRESHOLD ($mismatches mismatches; $flagged flagged, $unflagged not)" \
  '[ "$mismatches" = 0 ]'
check "both flag values occur" '[ "$flagged" -gt 0 ] && [ "$unflagged" -gt 0 ]'
check "server log: no ERROR, FATAL, PANIC, deadlock or crash ($log_errors lines)" '[ "$log_errors" = 0 ]'
check "postmaster unchanged (up since $started)" '[ "$same_postmaster" = 1 ]'
echo "per-insert latency (ms): p50 $p50, p90 $p90, p99 $p99, max $pmax, mean $mean; $tps tps; $CLIENTS clients, $DURATION s"
echo "result: processed=$processed failed=$failed rows=$rows logged=$logged not_done=$not_done clients=$clients_seen" \
  "null_flags=$null_flags flagged=$flagged unflagged=$unflagged mismatches=$mismatches log_errors=$log_errors" \
  "same_postmaster=$same_postmaster tps=$tps p50_ms=$p50 p90_ms=$p90 p99_ms=$p99 max_ms=$pmax mean_ms=$mean ok=$ok"
[ "$ok" = 1 ]
