#!/usr/bin/env bash
# test/bench/precision.sh: pg_tfm's embedding speed per precision and CPU level (no peers; see
# compare.sh for ONNX Runtime). all-MiniLM-L6-v2 imported three times (precision fp32, bf16, int8),
# SpamAssassin subjects and bodies (max_tokens 256) as in compare.sh, 1 thread (no parallel
# workers, pg_tfm.blas_threads 1), per row (SELECT count(tfm_embed(t, m)) FROM set) and bulk
# (tfm_embed(ARRAY(...))). Prints texts/s, best of REPS (other jobs share the machine: the best
# run is the least disturbed), for each precision at the levels in LEVELS, and tfm_cpu_info().
#   PG_TFM_PREFIX=... bash test/bench/precision.sh   (env: N_SUBJECTS=500 N_BODIES=60 REPS=3 LEVELS="auto avx2"
#   ALTERNATE=0: with N > 0, also per-row medians of the precisions run in turn N times)
source "$(dirname "$0")/../../scripts/lib.sh"
N_SUBJECTS=${N_SUBJECTS:-500}
N_BODIES=${N_BODIES:-60}
REPS=${REPS:-3}
LEVELS=${LEVELS:-"auto avx2"}

choose_run_dir
fetch_model
fetch_spam
build_install
start_cluster
trap stop_cluster EXIT
bench_db
q <<SQL >/dev/null
SELECT 1 FROM tfm_import('minilm', '$PG_TFM_MODEL_DIR', '{"max_tokens": 256}');
SELECT 1 FROM tfm_import('minilm_int8', '$PG_TFM_MODEL_DIR', '{"max_tokens": 256, "precision": "int8"}');
SELECT 1 FROM tfm_import('minilm_bf16', '$PG_TFM_MODEL_DIR', '{"max_tokens": 256, "precision": "bf16"}');
CREATE TABLE spam (id text, grp text, subject text, body text, label text);
COPY spam FROM '$PG_TFM_SPAM_CSV' (FORMAT csv, HEADER);
CREATE TABLE subjects AS SELECT row_number() OVER (ORDER BY id) AS id, subject AS t FROM spam
  WHERE subject <> '' ORDER BY md5(id) LIMIT $N_SUBJECTS;
CREATE TABLE bodies AS SELECT row_number() OVER (ORDER BY id) AS id, body AS t FROM spam
  WHERE body <> '' ORDER BY md5(id) LIMIT $N_BODIES;
SQL
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs) model $(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "tfm_cpu_info(): $(q -c 'SELECT tfm_cpu_info()')"
echo "load before: $(uptime | sed 's/.*load average/load average/')"
set1="SET max_parallel_workers_per_gather = 0; SET pg_tfm.blas_threads = 1;"
best() { sort -g | head -1; }
printf '%-9s %-11s %-7s %10s %10s\n' set model level "row t/s" "bulk t/s"
for set in subjects bodies; do
  n=$(q -c "SELECT count(*) FROM $set")
  for m in minilm minilm_bf16 minilm_int8; do
    for lv in $LEVELS; do
      s="$set1 SET pg_tfm.cpu_features = '$lv'; SELECT tfm_embed('warm up', '$m') IS NOT NULL;"
      row=$(for r in $(seq "$REPS"); do ms -c "$s" -c "SELECT count(tfm_embed(t, '$m')) FROM $set"; done | best)
      bulk=$(for r in $(seq "$REPS"); do ms -c "$s" -c "SELECT count(*) FROM tfm_embed(ARRAY(SELECT t FROM $set ORDER BY id), '$m')"; done | best)
      awk -v s="$set" -v m="$m" -v l="$lv" -v n="$n" -v a="$row" -v b="$bulk" \
        'BEGIN { printf "%-9s %-11s %-7s %10.1f %10.1f\n", s, m, l, n * 1000 / a, n * 1000 / b }'
    done
  done
done
# ALTERNATE=N: per row, the three precisions in turn N times over (each run a new session), medians:
# on a machine whose single runs move by 15 %, alternated medians compare precisions more fairly
if [ "${ALTERNATE:-0}" -gt 0 ]; then
  printf '\nalternated %d times, per row, median ms (ratio fp32 / precision):\n' "$ALTERNATE"
  median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
  for set in subjects bodies; do
    for lv in $LEVELS; do
      : > "$RUN/alt.txt"
      for r in $(seq "$ALTERNATE"); do
        for m in minilm minilm_bf16 minilm_int8; do
          echo "$m $(ms -c "$set1 SET pg_tfm.cpu_features = '$lv'; SELECT tfm_embed('warm up', '$m') IS NOT NULL;" \
            -c "SELECT count(tfm_embed(t, '$m')) FROM $set")" >> "$RUN/alt.txt"
        done
      done
      f=$(awk '$1 == "minilm" { print $2 }' "$RUN/alt.txt" | median)
      for m in minilm minilm_bf16 minilm_int8; do
        v=$(awk -v m="$m" '$1 == m { print $2 }' "$RUN/alt.txt" | median)
        awk -v s="$set" -v m="$m" -v l="$lv" -v v="$v" -v f="$f" 'BEGIN { printf "%-9s %-11s %-7s %10.1f ms  %.2fx\n", s, m, l, v, f / v }'
      done
    done
  done
fi
echo "load after: $(uptime | sed 's/.*load average/load average/')"
