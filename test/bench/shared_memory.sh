#!/usr/bin/env bash
# test/bench/shared_memory.sh: proportional memory (Pss, /proc/PID/smaps_rollup) of K backends that all
# embedded text, beyond K idle backends, against the size of one model copy. Starts its own cluster.
source "$(dirname "$0")/../../scripts/lib.sh"
K=${K:-8}
choose_run_dir
fetch_model
start_cluster
W=$(mktemp -d)
cleanup() { for f in "$W"/in*; do exec {fd}>&- 2>/dev/null || true; done; stop_cluster; rm -rf "$W"; }
trap cleanup EXIT
psql -XAtq -d postgres -c "CREATE DATABASE bench" >/dev/null
psql -XAtq -d bench -c "CREATE EXTENSION pg_tfm" \
  -c "SELECT 1 FROM tfm_import('minilm', '$PG_TFM_MODEL_DIR', '{\"max_tokens\": 256}')" \
  -c "SELECT tfm_embed('materialise', 'minilm') IS NOT NULL" >/dev/null

# open K sessions that stay connected; fd numbers in FDS, pids in PIDS
open_sessions() {
  FDS=(); PIDS=()
  for i in $(seq "$K"); do
    mkfifo "$W/in$1$i"
    psql -XAtq -d bench < "$W/in$1$i" > "$W/out$1$i" 2>&1 &
    exec {fd}>"$W/in$1$i"
    FDS+=("$fd")
    echo "SELECT pg_backend_pid();" >&"$fd"
  done
  sleep 1
  for i in $(seq "$K"); do PIDS+=("$(head -1 "$W/out$1$i")"); done
}
pss_kb() { local s=0; for p in "$@"; do s=$((s + $(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup))); done; echo $s; }

open_sessions idle; IDLE=("${PIDS[@]}"); IDLE_FDS=("${FDS[@]}")
open_sessions busy; BUSY=("${PIDS[@]}")
for fd in "${FDS[@]}"; do echo "SELECT tfm_embed(repeat('memory probe ', 200), 'minilm') IS NOT NULL;" >&"$fd"; done
sleep 3
idle=$(pss_kb "${IDLE[@]}"); busy=$(pss_kb "${BUSY[@]}")
model_kb=$(( $(stat -c %s "$RUN"/pgdata/pg_tfm/*.bin | head -1) / 1024 ))
echo "Pss of $K idle backends: $((idle / 1024)) MB; of $K backends that embedded: $((busy / 1024)) MB"
awk -v b="$busy" -v i="$idle" -v m="$model_kb" -v k="$K" 'BEGIN {
  printf "extra Pss of %d embedding backends: %.1f MB = %.2f x one model copy (%.1f MB)\n", k, (b-i)/1024, (b-i)/m, m/1024 }'
one=${BUSY[0]}
awk '/^(Rss|Pss|Pss_File|Pss_Anon|Private_Dirty):/ {printf "  one embedding backend %s %.1f MB\n", $1, $2/1024}' /proc/$one/smaps_rollup
for fd in "${FDS[@]}" "${IDLE_FDS[@]}"; do exec {fd}>&-; done
wait
