#!/usr/bin/env bash
# test/bench/compare.sh: pg_tfm against ONNX Runtime on the same machine, texts and thread count.
#
# Embeds SpamAssassin subjects (short) and bodies (long, truncated at 256 tokens) with all-MiniLM-L6-v2:
#   pg_tfm per row   SELECT count(tfm_embed(t, 'minilm')) FROM texts
#   pg_tfm bulk      SELECT count(*) FROM tfm_embed(ARRAY(SELECT t FROM texts), 'minilm')
#   the same per row and bulk for the model imported with precision bf16 and int8 (PRECISIONS)
#   ORT single       onnxruntime-node, one text per Run() (test/bench/onnx/run.js)
#   ORT batched      onnxruntime-node, length-sorted batches (pg_tfm's bulk policy)
#   PyTorch int8     the int8 peer at 1 thread: dynamic int8 Linear layers of the same weights, one text per
#                    call, on pg_tfm's token ids (test/bench/onnx/torch_int8.py; tokenization not timed)
# ORT's timing includes WordPiece tokenization, pooling and normalisation, like pg_tfm's.
# At 1 thread and 2 cores: pg_tfm per row uses a parallel seq scan (leader + 1 worker), the bulk path
# pg_tfm.blas_threads = 2, ORT intraOpNumThreads = 2. Every figure is the median of REPS runs.
# Prints texts/s, tokens/s, ratios to ORT and the fraction of the fp32 peak (test/bench/onnx/peak.c).
#
#   bash test/bench/compare.sh          (env: N_SUBJECTS=500 N_BODIES=60 REPS=3 THREADS="1 2")
# Setup (first run only): npm onnxruntime-node into test/bench/onnx/node_modules, apt python3-torch,
# the ONNX export (test/bench/onnx/export.py, checked against shared/golden), a throwaway cluster.
source "$(dirname "$0")/../../scripts/lib.sh"
ONNX_DIR="$REPO/test/bench/onnx"
N_SUBJECTS=${N_SUBJECTS:-500}
N_BODIES=${N_BODIES:-60}
REPS=${REPS:-3}
THREADS=${THREADS:-"1 2"}
PRECISIONS=${PRECISIONS:-"bf16 int8"}
GOLDEN=${PG_TFM_GOLDEN_SRC:-$REPO/../shared/golden}

choose_run_dir
fetch_model
fetch_spam

# --- ONNX Runtime side: packages, export, golden check ------------------------------------------
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  log "installing python3-torch (Debian) for the ONNX export"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq python3-torch python3-onnx >/dev/null
fi
if [ ! -d "$ONNX_DIR/node_modules/onnxruntime-node" ]; then
  log "installing onnxruntime-node (npm, pinned in test/bench/onnx/package-lock.json)"
  # --ignore-scripts: the CPU library ships inside the package; the install script only fetches CUDA
  (cd "$ONNX_DIR" && npm ci --ignore-scripts --no-audit --no-fund --silent)
fi
ONNX="$RUN/minilm.onnx"
if [ ! -s "$ONNX" ]; then
  log "exporting the model to ONNX"
  gold=""; [ -d "$GOLDEN/minilm" ] && gold="$GOLDEN/minilm"
  /usr/bin/python3 "$ONNX_DIR/export.py" "$PG_TFM_MODEL_DIR" "$ONNX.tmp" $gold 2>&1 | grep '^export' || true
  [ -s "$ONNX.tmp" ] && mv "$ONNX.tmp" "$ONNX"
  [ -s "$ONNX" ] || { echo "ONNX export failed" >&2; exit 1; }
fi
cc -O2 -mavx2 -mfma -pthread "$ONNX_DIR/peak.c" -lopenblas -o "$RUN/peak"

# --- pg_tfm side ---------------------------------------------------------------------------------
start_cluster
trap stop_cluster EXIT
q() { psql -XAtq -v ON_ERROR_STOP=1 -d bench "$@"; }
psql -XAtq -d postgres -c "CREATE DATABASE bench" >/dev/null
q <<SQL >/dev/null
CREATE EXTENSION pg_tfm;
SELECT 1 FROM tfm_import('minilm', '$PG_TFM_MODEL_DIR', '{"max_tokens": 256}');
$(for p in $PRECISIONS; do echo "SELECT 1 FROM tfm_import('minilm_$p', '$PG_TFM_MODEL_DIR', '{\"max_tokens\": 256, \"precision\": \"$p\"}');"; done)
CREATE TABLE spam (id text, grp text, subject text, body text, label text);
COPY spam FROM '$PG_TFM_SPAM_CSV' (FORMAT csv, HEADER);
-- an even spread over the corpus (spam and ham groups alike); fillfactor 10 spreads the rows over
-- enough pages for a parallel seq scan to share them out
CREATE TABLE subjects WITH (fillfactor = 10) AS
  SELECT row_number() OVER (ORDER BY id) AS id, subject AS t FROM spam
  WHERE subject <> '' ORDER BY md5(id) LIMIT $N_SUBJECTS;
CREATE TABLE bodies WITH (fillfactor = 10) AS
  SELECT row_number() OVER (ORDER BY id) AS id, body AS t FROM spam
  WHERE body <> '' ORDER BY md5(id) LIMIT $N_BODIES;
VACUUM ANALYZE subjects; VACUUM ANALYZE bodies;
SELECT tfm_embed('warm up', 'minilm') IS NOT NULL;
SQL

ms() { # run SQL in a fresh session with settings $1, print the elapsed milliseconds of the last statement
  q -c '\timing on' -c "$1" -c "$2" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
set1="SET max_parallel_workers_per_gather = 0; SET pg_tfm.blas_threads = 1;"
set2="SET max_parallel_workers_per_gather = 1; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
      SET min_parallel_table_scan_size = 0; SET parallel_leader_participation = on; SET pg_tfm.blas_threads = 1;"
setbulk2="SET pg_tfm.blas_threads = 2;"

# --- machine facts -------------------------------------------------------------------------------
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
echo "machine: $(nproc) x $cpu ($(grep -o -w -m1 -E 'avx512f|avx2' /proc/cpuinfo | head -1), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs) model $(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | xargs)); OpenBLAS core: $("$RUN/peak" 0 | awk '/^core/ {print $2}')"
echo "pg_tfm kernels: $(q -c 'SELECT tfm_cpu_info()')"
echo "CPU flags: $(grep -m1 '^flags' /proc/cpuinfo | grep -o -w -E 'avx2|fma|f16c|avx_vnni|avx512f|avx512bw|avx512vl|avx512dq|avx512_vnni|avx512_bf16' | xargs)"
echo "load before: $(uptime | sed 's/.*load average/load average/')"
declare -A PEAK SGEMM
for th in $THREADS; do
  out=$("$RUN/peak" "$th")
  PEAK[$th]=$(echo "$out" | awk '/^fma/ {print $2}')
  SGEMM[$th]=$(echo "$out" | awk '/^sgemm/ {print $2}')
  echo "fp32 peak at $th thread(s): FMA loop ${PEAK[$th]} GFLOP/s, OpenBLAS sgemm 1024^3 ${SGEMM[$th]} GFLOP/s"
done

# --- runs ----------------------------------------------------------------------------------------
TOK="$PG_TFM_MODEL_DIR/tokenizer.json"
printf '\n%-9s %-3s %-15s %9s %10s %8s %8s %7s %7s\n' set thr path texts/s tokens/s "x ORT1" "x ORTb" "%fma" "%sgemm"
for set in subjects bodies; do
  q -c "SELECT json_agg(t ORDER BY id) FROM $set" > "$RUN/$set.json"
  q -c "SELECT json_agg(tfm_tokenize(t, 'minilm') ORDER BY id) FROM $set" > "$RUN/$set.ids.json"
  ntexts=$(q -c "SELECT count(*) FROM $set")
  # tokens after truncation and the encoder's FLOPs (6 layers, C 384, I 1536, unpadded) of the set
  read -r ntok gflop < <(q -c "SELECT sum(n), round(sum(6 * (2.0 * n * (4 * 384 * 384 + 2 * 384 * 1536) + 4.0 * n * n * 384)) / 1e9, 2)
                               FROM (SELECT least(256, array_length(tfm_tokenize(t, 'minilm'), 1)) AS n FROM $set) s" | tr '|' ' ')
  for th in $THREADS; do
    if [ "$th" = 1 ]; then srow=$set1; sbulk=$set1; else srow=$set2; sbulk="$set1 $setbulk2"; fi
    declare -A T=()
    for r in $(seq "$REPS"); do
      T[row]+="$(ms "$srow" "SELECT count(tfm_embed(t, 'minilm')) FROM $set") "
      T[bulk]+="$(ms "$sbulk" "SELECT count(*) FROM tfm_embed(ARRAY(SELECT t FROM $set ORDER BY id), 'minilm')") "
      for p in $PRECISIONS; do
        T[row_$p]+="$(ms "$srow" "SELECT count(tfm_embed(t, 'minilm_$p')) FROM $set") "
        T[bulk_$p]+="$(ms "$sbulk" "SELECT count(*) FROM tfm_embed(ARRAY(SELECT t FROM $set ORDER BY id), 'minilm_$p')") "
      done
      for mode in single batched; do
        js=$(cd "$ONNX_DIR" && node run.js "$ONNX" "$TOK" "$RUN/$set.json" "$th" "$mode")
        jtok=$(echo "$js" | sed 's/.*"tokens":\([0-9]*\).*/\1/')
        [ "$jtok" = "$ntok" ] || echo "warning: ORT saw $jtok tokens, pg_tfm $ntok" >&2
        T[$mode]+="$(echo "$js" | sed 's/.*"seconds":\([0-9.e-]*\).*/\1/' | awk '{print $1 * 1000}') "
      done
      if [ "$th" = 1 ]; then
        pj=$(cd "$ONNX_DIR" && /usr/bin/python3 torch_int8.py "$PG_TFM_MODEL_DIR" "$RUN/$set.ids.json" 1)
        T[torch8]+="$(echo "$pj" | sed 's/.*"seconds": \([0-9.e-]*\).*/\1/' | awk '{print $1 * 1000}') "
      fi
    done
    declare -A M=()
    keys="row bulk $(for p in $PRECISIONS; do echo "row_$p bulk_$p"; done) single batched"
    [ "$th" = 1 ] && keys="$keys torch8"
    for k in $keys; do M[$k]=$(echo "${T[$k]}" | tr ' ' '\n' | grep . | median); done
    for k in $keys; do
      name=$(case $k in row) echo "pg_tfm per-row";; bulk) echo "pg_tfm bulk";; single) echo "ORT single";; batched) echo "ORT batched";; torch8) echo "PyTorch int8 row";;
             row_*) echo "pg_tfm ${k#row_} row";; bulk_*) echo "pg_tfm ${k#bulk_} bulk";; esac)
      awk -v s="$set" -v th="$th" -v n="$name" -v t="${M[$k]}" -v nt="$ntexts" -v tok="$ntok" -v gf="$gflop" \
          -v o1="${M[single]}" -v ob="${M[batched]}" -v pk="${PEAK[$th]}" -v sg="${SGEMM[$th]}" \
          'BEGIN { printf "%-9s %-3s %-15s %9.1f %10.0f %7.2fx %7.2fx %6.0f%% %6.0f%%\n", s, th, n, nt * 1000 / t, tok * 1000 / t,
                   o1 / t, ob / t, 100 * gf * 1000 / t / pk, 100 * gf * 1000 / t / sg }'
    done
    echo "          ($set: $ntexts texts, $ntok tokens, $gflop GFLOP; medians of $REPS, ms: row ${M[row]} bulk ${M[bulk]} ORT1 ${M[single]} ORTb ${M[batched]})"
    [ "$th" = 1 ] && echo "          (PyTorch int8: $(echo "$pj" | sed 's/.*"engine": "\([a-z]*\)".*"cosine_min": \([0-9.]*\).*/engine \1, cosine to its fp32 twin min \2 on 50 texts/'))"
  done
done
echo
echo "load after: $(uptime | sed 's/.*load average/load average/')"
