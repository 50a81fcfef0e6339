#!/usr/bin/env bash
# test/bench/rerank.sh: cross-encoder reranking of the ms-marco-MiniLM-L-12-v2 shape, pg_tfm against ONNX Runtime.
#
# The model: the REAL config.json and tokenizer.json of cross-encoder/ms-marco-MiniLM-L-12-v2 (shared/golden;
# 12 layers, hidden 384, 12 heads, FFN 1536, one label) with RANDOM weights (test/bench/rerank_model.js: fixed
# seed, standard deviation 0.02), because no real weights can be had here; the timings do not depend on the
# values. Imported at precision fp32, bf16 and int8 (PRECISIONS). The pairs: N_QUERIES SpamAssassin subjects as
# queries, N_DOCS documents each (the first DOC_CHARS characters of other e-mails' bodies, whitespace collapsed).
#   tfm_rerank        SELECT count(*) FROM qdocs CROSS JOIN LATERAL tfm_rerank(query, docs, 'ce_P'): one query's
#                     documents per call (batched), per pair
#   tfm_score_pair    SELECT count(tfm_score_pair(query, doc, 'ce_P')) FROM pairs: one pair per row
#   ORT single        onnxruntime-node, one pair per Run() (test/bench/onnx/rerank.js), fp32 graph of the same
#                     weights (test/bench/onnx/export.py --cross-encoder, checked against tfm_score_pair)
#   ORT batched       onnxruntime-node, one query's documents per Run(), padded to the longest
#   MiniLM-L6 row     tfm_embed(query || ' ' || doc, all-MiniLM-L6-v2) per row, fp32: the per-token cost of this
#                     12-layer shape against the 6-layer one, on the same texts
# ORT is fed pg_tfm's pair token ids (tfm_tokenize(query, doc, model)): its time does NOT include tokenization
# (pg_tfm's does; WordPiece is ~0.2 ms per 256 tokens, under 1% of a pair here). At 1 thread: no parallel
# workers, pg_tfm.blas_threads 1, ORT intraOpNumThreads 1; at 2 threads: tfm_score_pair over a parallel seq scan
# (leader + 1 worker), tfm_rerank with pg_tfm.blas_threads 2, ORT intraOpNumThreads 2. Every figure is the
# median of REPS runs, or with STAT=best the best of them (for a machine other jobs share).
# Prints the mean pair length in tokens, pairs/s and ms per pair, ratios to ORT single and batched (ORT's time
# over the row's: above 1 means pg_tfm is faster), tfm_cpu_info() and the CPU flags, the load before and after.
#
#   bash test/bench/rerank.sh   (env: N_QUERIES=20 N_DOCS=10 DOC_CHARS=200 REPS=3 THREADS="1 2" STAT=median
#                                PRECISIONS="fp32 bf16 int8" CPU_FEATURES=auto)
# Setup (first run only): the random model under $RUN/rerank-model, npm onnxruntime-node into
# test/bench/onnx/node_modules, apt python3-torch, the ONNX export, a throwaway cluster.
source "$(dirname "$0")/../../scripts/lib.sh"
ONNX_DIR="$REPO/test/bench/onnx"
N_QUERIES=${N_QUERIES:-20}
N_DOCS=${N_DOCS:-10}
DOC_CHARS=${DOC_CHARS:-200}
REPS=${REPS:-3}
THREADS=${THREADS:-"1 2"}
PRECISIONS=${PRECISIONS:-"fp32 bf16 int8"}
STAT=${STAT:-median}
CPU_FEATURES=${CPU_FEATURES:-auto}
GOLDEN=${PG_TFM_GOLDEN_SRC:-$REPO/../shared/golden}
SRC="$GOLDEN/models/ms-marco-MiniLM-L12-v2"

choose_run_dir
fetch_model
fetch_spam
onnx_peer_deps
CE="$RUN/rerank-model"
if [ ! -s "$CE/model.safetensors" ]; then
  log "writing the random-weight cross-encoder (real ms-marco-MiniLM-L-12-v2 config and tokenizer)"
  node "$REPO/test/bench/rerank_model.js" "$SRC" "$CE.tmp"
  rm -rf "$CE"; mv "$CE.tmp" "$CE"
fi
chmod -R a+rX "$CE"
ALLPREC=$(echo fp32 $PRECISIONS | tr ' ' '\n' | awk '!seen[$0]++' | xargs)   # fp32 always: the ONNX check

# --- pg_tfm side ---------------------------------------------------------------------------------
start_cluster
trap stop_cluster EXIT
bench_db >/dev/null
q -v ON_ERROR_STOP=1 <<SQL >/dev/null
SELECT 1 FROM tfm_import('minilm', '$PG_TFM_MODEL_DIR', '{"max_tokens": 256}');
$(for p in $ALLPREC; do echo "SELECT 1 FROM tfm_import('ce_$p', '$CE', '{\"precision\": \"$p\"}');"; done)
CREATE TABLE spam (id text, grp text, subject text, body text, label text);
COPY spam FROM '$PG_TFM_SPAM_CSV' (FORMAT csv, HEADER);
CREATE TABLE queries AS
  SELECT row_number() OVER (ORDER BY md5(id)) AS qid, subject AS query FROM spam
  WHERE length(subject) >= 10 ORDER BY md5(id) LIMIT $N_QUERIES;
-- other e-mails' bodies, N_DOCS per query; fillfactor 10 spreads the rows over enough pages for a
-- parallel seq scan to share them out
CREATE TABLE pairs WITH (fillfactor = 10) AS
  SELECT (d.rn - 1) / $N_DOCS + 1 AS qid, d.rn AS did, q.query, d.doc
  FROM (SELECT row_number() OVER (ORDER BY md5(id || 'doc')) AS rn,
               left(btrim(regexp_replace(body, '\s+', ' ', 'g')), $DOC_CHARS) AS doc
        FROM spam WHERE length(body) >= 2 * $DOC_CHARS ORDER BY md5(id || 'doc') LIMIT $N_QUERIES * $N_DOCS) d
  JOIN queries q ON q.qid = (d.rn - 1) / $N_DOCS + 1;
CREATE TABLE qdocs AS SELECT qid, min(query) AS query, array_agg(doc ORDER BY did) AS docs FROM pairs GROUP BY qid;
VACUUM ANALYZE pairs; VACUUM ANALYZE qdocs;
-- the first call of a model after import writes its cache file (panels at its precision): not timed
$(for p in $ALLPREC; do echo "SELECT tfm_score_pair('warm', 'up', 'ce_$p') IS NOT NULL;"; done)
SELECT tfm_embed('warm up', 'minilm') IS NOT NULL;
SQL
read -r npairs ntok tmin tmax < <(q -c "SELECT count(*), sum(n), min(n), max(n)
  FROM (SELECT array_length(tfm_tokenize(query, doc, 'ce_fp32'), 1) AS n FROM pairs) s" | tr '|' ' ')
read -r l6tok < <(q -c "SELECT sum(array_length(tfm_tokenize(query || ' ' || doc, 'minilm'), 1)) FROM pairs")
# the pair ids for ONNX Runtime (an array per query), pg_tfm's fp32 scores for the export check
q -c "SELECT json_agg(ids ORDER BY qid) FROM (SELECT qid, json_agg(tfm_tokenize(query, doc, 'ce_fp32') ORDER BY did) AS ids
      FROM pairs GROUP BY qid) s" > "$RUN/rerank.ids.json"
q -c "SELECT json_build_object('ids', tfm_tokenize(query, doc, 'ce_fp32'), 'score', tfm_score_pair(query, doc, 'ce_fp32'))
      FROM pairs ORDER BY qid, did" > "$RUN/rerank.check.jsonl"

# --- ONNX Runtime side: export, checked against pg_tfm -------------------------------------------
ONNX="$RUN/rerank-ce.onnx"
if [ ! -s "$ONNX" ] || [ "$ONNX" -ot "$CE/model.safetensors" ]; then
  log "exporting the cross-encoder to ONNX"
  # the torch twin against pg_tfm's fp32 tfm_score_pair on 20 pairs (within 1e-4)
  head -20 "$RUN/rerank.check.jsonl" > "$RUN/rerank.check20.jsonl"
  /usr/bin/python3 "$ONNX_DIR/export.py" --cross-encoder "$CE" "$ONNX.tmp" "$RUN/rerank.check20.jsonl" 2>&1 | grep '^export' || true
  [ -s "$ONNX.tmp" ] && mv "$ONNX.tmp" "$ONNX"
  [ -s "$ONNX" ] || { echo "ONNX export failed" >&2; exit 1; }
fi
# ONNX Runtime's logits against pg_tfm's fp32 scores, every pair
ortdiff=$(cd "$ONNX_DIR" && node rerank.js "$ONNX" "$RUN/rerank.ids.json" 1 check |
  paste - <(sed 's/.*"score" *: *\([-0-9.e]*\).*/\1/' "$RUN/rerank.check.jsonl") |
  awk '{d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d} END {printf "%.1e", m}')

# --- machine facts -------------------------------------------------------------------------------
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
echo "machine: $(nproc) x $cpu (family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs) model $(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | xargs))"
echo "pg_tfm kernels: $(q -c "SET pg_tfm.cpu_features = '$CPU_FEATURES'; SELECT tfm_cpu_info()")"
echo "CPU flags: $(cpu_flags)"
echo "model: ms-marco-MiniLM-L-12-v2 shape (real config.json and tokenizer.json), RANDOM weights; $npairs pairs ($N_QUERIES queries x $N_DOCS documents of $DOC_CHARS characters)"
echo "pair length: mean $(awk -v t="$ntok" -v n="$npairs" 'BEGIN {printf "%.1f", t / n}') tokens (min $tmin, max $tmax); max |ORT logit - pg_tfm fp32 tfm_score_pair| $ortdiff over $npairs pairs"
echo "load before: $(uptime | sed 's/.*load average/load average/')"

# --- runs ----------------------------------------------------------------------------------------
set1="SET pg_tfm.cpu_features = '$CPU_FEATURES'; SET max_parallel_workers_per_gather = 0; SET pg_tfm.blas_threads = 1;"
set2="SET pg_tfm.cpu_features = '$CPU_FEATURES'; SET max_parallel_workers_per_gather = 1; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
      SET min_parallel_table_scan_size = 0; SET parallel_leader_participation = on; SET pg_tfm.blas_threads = 1;"
run_ms() { ms -v ON_ERROR_STOP=1 -c "$1" -c "$2"; }   # settings, statement: elapsed ms of the statement
printf '\n%-3s %-28s %8s %9s %8s %8s\n' thr path pairs/s ms/pair "x ORT1" "x ORTb"
for th in $THREADS; do
  if [ "$th" = 1 ]; then srow=$set1; sbulk=$set1; else srow=$set2; sbulk="$set1 SET pg_tfm.blas_threads = 2;"; fi
  declare -A T=()
  for r in $(seq "$REPS"); do
    for p in $PRECISIONS; do
      T[rerank_$p]+="$(run_ms "$sbulk" "SELECT count(*) FROM qdocs CROSS JOIN LATERAL tfm_rerank(query, docs, 'ce_$p')") "
      T[pair_$p]+="$(run_ms "$srow" "SELECT count(tfm_score_pair(query, doc, 'ce_$p')) FROM pairs") "
    done
    T[l6]+="$(run_ms "$srow" "SELECT count(tfm_embed(query || ' ' || doc, 'minilm')) FROM pairs") "
    for mode in single batched; do
      js=$(cd "$ONNX_DIR" && node rerank.js "$ONNX" "$RUN/rerank.ids.json" "$th" "$mode")
      jtok=$(echo "$js" | sed 's/.*"tokens":\([0-9]*\).*/\1/')
      [ "$jtok" = "$ntok" ] || echo "warning: ORT saw $jtok tokens, pg_tfm $ntok" >&2
      T[$mode]+="$(echo "$js" | sed 's/.*"seconds":\([0-9.e-]*\).*/\1/' | awk '{print $1 * 1000}') "
    done
  done
  declare -A M=()
  keys="$(for p in $PRECISIONS; do echo "rerank_$p pair_$p"; done) single batched l6"
  for k in $keys; do M[$k]=$(echo "${T[$k]}" | tr ' ' '\n' | grep . | bench_stat); done
  for k in $keys; do
    name=$(case $k in rerank_*) echo "tfm_rerank ${k#*_}";; pair_*) echo "tfm_score_pair ${k#*_} per row";;
           single) echo "ORT fp32 single";; batched) echo "ORT fp32 batched (per query)";; l6) echo "MiniLM-L6 fp32 tfm_embed row";; esac)
    awk -v th="$th" -v n="$name" -v t="${M[$k]}" -v np="$npairs" -v o1="${M[single]}" -v ob="${M[batched]}" \
        'BEGIN { printf "%-3s %-28s %8.1f %9.2f %7.2fx %7.2fx\n", th, n, np * 1000 / t, t / np, o1 / t, ob / t }'
  done
  # per token: the 12-layer fp32 row against MiniLM-L6's fp32 row on the same texts
  awk -v a="${M[pair_fp32]:-0}" -v ta="$ntok" -v b="${M[l6]}" -v tb="$l6tok" 'BEGIN { if (a > 0)
    printf "    per token, tfm_score_pair fp32 costs %.2fx MiniLM-L6 tfm_embed fp32 (%.3f vs %.3f ms/token)\n", (a / ta) / (b / tb), a / ta, b / tb }'
  echo "    (${STAT}s of $REPS, ms: $(for k in $keys; do printf '%s %s  ' "$k" "${M[$k]}"; done))"
done
echo
echo "load after: $(uptime | sed 's/.*load average/load average/')"
