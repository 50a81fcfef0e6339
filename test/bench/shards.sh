#!/usr/bin/env bash
# test/bench/shards.sh: scale-out throughput with postgres_fdw. A coordinator (the throwaway cluster)
# and two shard clusters (initdb'd under /tmp, own ports), each with pg_tfm and the model imported.
# The same N e-mail bodies of the SpamAssassin corpus are embedded:
#   local     SELECT count(tfm_embed(body, 'minilm')) FROM local_mail         (one node, one backend)
#   1 shard   SELECT count(*) FROM dist1 WHERE tfm_embed(body, 'minilm') IS NOT NULL  (all rows on shard 1)
#   2 shards  SELECT count(*) FROM dist2 WHERE tfm_embed(body, 'minilm') IS NOT NULL  (hash-partitioned,
#             async_capable: both shards work at once)
#   2 shards, SELECT-list form: SELECT count(tfm_embed(body, 'minilm')) FROM dist2 (not shipped by
#             PostgreSQL 15: the coordinator embeds)
# Prints texts/s of each and the 2-shard / 1-shard ratio. N (default 200), TOKENS (default 128).
source "$(dirname "$0")/../../scripts/lib.sh"
choose_run_dir
fetch_model
fetch_spam
N=${N:-200}
TOKENS=${TOKENS:-128}
SHARDS=()

stop_all() {
  for d in "${SHARDS[@]}"; do
    as_pg pg_ctl -D "$d/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$d"
  done
  stop_cluster
}
start_cluster
trap stop_all EXIT
bench_db
q -c "CREATE EXTENSION postgres_fdw" -c "SELECT 1 FROM tfm_import('minilm', '$PG_TFM_MODEL_DIR', '{\"max_tokens\": $TOKENS}')" >/dev/null
q -c "CREATE TABLE mail (id text, grp text, subject text, body text, label text)" \
  -c "COPY mail FROM '$PG_TFM_SPAM_CSV' WITH (FORMAT csv, HEADER)" \
  -c "CREATE TABLE local_mail AS SELECT row_number() OVER (ORDER BY md5(id))::int AS id, body FROM mail ORDER BY md5(id) LIMIT $N"

# a shard: its own cluster listening on loopback and a socket in its own directory
for i in 1 2; do
  d=$(mktemp -d /tmp/pg_tfm_shard$i.XXXX); SHARDS+=("$d")
  [ "$(id -u)" = 0 ] && chown postgres: "$d"
  chmod 755 "$d"
  as_pg initdb -D "$d/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  port=$(free_port)
  as_pg pg_ctl -D "$d/data" -l "$d/server.log" -w -o "-p $port -k $d -c listen_addresses=127.0.0.1" start >/dev/null
  psql -XAtq -h "$d" -p "$port" -d postgres -c "CREATE DATABASE shard" >/dev/null
  psql -XAtq -h "$d" -p "$port" -d shard -c "CREATE EXTENSION pg_tfm" \
    -c "SELECT 1 FROM tfm_import('minilm', '$PG_TFM_MODEL_DIR', '{\"max_tokens\": $TOKENS}')" \
    -c "CREATE TABLE docs (id int PRIMARY KEY, body text)" -c "CREATE TABLE docs_all (id int PRIMARY KEY, body text)" >/dev/null
  q -c "CREATE SERVER shard$i FOREIGN DATA WRAPPER postgres_fdw
          OPTIONS (host '$d', port '$port', dbname 'shard', extensions 'pg_tfm', async_capable 'true')" \
    -c "CREATE USER MAPPING FOR CURRENT_USER SERVER shard$i OPTIONS (user 'postgres')"
  # materialise the model's cache file on the shard before timing
  psql -XAtq -h "$d" -p "$port" -d shard -c "SELECT tfm_embed('warm up', 'minilm') IS NOT NULL" >/dev/null
done
q -c "CREATE FOREIGN TABLE dist1 (id int, body text) SERVER shard1 OPTIONS (table_name 'docs_all')" \
  -c "CREATE TABLE dist2 (id int, body text) PARTITION BY HASH (id)" \
  -c "CREATE FOREIGN TABLE dist2_1 PARTITION OF dist2 FOR VALUES WITH (MODULUS 2, REMAINDER 0) SERVER shard1 OPTIONS (table_name 'docs')" \
  -c "CREATE FOREIGN TABLE dist2_2 PARTITION OF dist2 FOR VALUES WITH (MODULUS 2, REMAINDER 1) SERVER shard2 OPTIONS (table_name 'docs')" \
  -c "INSERT INTO dist1 SELECT id, body FROM local_mail" -c "INSERT INTO dist2 SELECT id, body FROM local_mail" >/dev/null
q -c "SELECT tfm_embed('warm up', 'minilm') IS NOT NULL" >/dev/null
echo "rows: $N e-mail bodies (max_tokens $TOKENS, mean $(q -c "SELECT round(avg(least($TOKENS, array_length(tfm_tokenize(body, 'minilm'), 1)))) FROM local_mail") tokens);" \
  "split $(q -c "SELECT string_agg(n::text, ' + ') FROM (SELECT count(*) n FROM dist2_1 UNION ALL SELECT count(*) FROM dist2_2) s") over 2 shards;" \
  "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
q -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM dist2 WHERE tfm_embed(body, 'minilm') IS NOT NULL" | grep -E "Async|Remote SQL" | sed 's/^ */  plan: /'

rate() { awk -v t="$1" -v n="$N" 'BEGIN { printf "%.1f", n * 1000 / t }'; }
t_local=$(ms -c "SELECT count(tfm_embed(body, 'minilm')) FROM local_mail")
t_1=$(ms -c "SELECT count(*) FROM dist1 WHERE tfm_embed(body, 'minilm') IS NOT NULL")
t_2=$(ms -c "SELECT count(*) FROM dist2 WHERE tfm_embed(body, 'minilm') IS NOT NULL")
t_2s=$(ms -c "SELECT count(tfm_embed(body, 'minilm')) FROM dist2")
echo "local, one backend:                       $t_local ms, $(rate "$t_local") texts/s"
echo "1 shard  (WHERE form, shipped):           $t_1 ms, $(rate "$t_1") texts/s"
echo "2 shards (WHERE form, shipped, async):    $t_2 ms, $(rate "$t_2") texts/s"
echo "2 shards (SELECT-list form, coordinator): $t_2s ms, $(rate "$t_2s") texts/s"
awk -v a="$t_1" -v b="$t_2" 'BEGIN { printf "2 shards / 1 shard throughput: %.2fx\n", a / b }'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
