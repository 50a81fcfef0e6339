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
# pg_tfm.blas_threads = 2, ORT intraOpNumThreads = 2. Every figure is the median of REPS runs, or with
# STAT=best the best of them (the least disturbed run, for a machine other jobs share).
# Prints texts/s, tokens/s, ratios to ORT, the kernel variant each row ran (from tfm_cpu_info(): the level
# in force and the CPU's flags) and its fraction of that variant's peak (test/bench/peak.c, at the same
# threads; the encoder's FLOPs counted as if all were done at the row's precision, attention included),
# and the fraction of OpenBLAS sgemm. CPU_FEATURES=avx2 (etc.) caps pg_tfm's kernels (pg_tfm.cpu_features).
#
#   bash test/bench/compare.sh   (env: N_SUBJECTS=500 N_BODIES=60 REPS=3 THREADS="1 2" STAT=median CPU_FEATURES=auto)
# Setup (first run only): npm onnxruntime-node into test/bench/onnx/node_modules, apt python3-torch,
# the ONNX export (test/bench/onnx/export.py, checked against shared/golden), a throwaway cluster.
source "$(dirname "$0")/../../scripts/lib.sh"
ONNX_DIR="$REPO/test/bench/onnx"
N_SUBJECTS=${N_SUBJECTS:-500}
N_BODIES=${N_BODIES:-60}
REPS=${REPS:-3}
THREADS=${THREADS:-"1 2"}
PRECISIONS=${PRECISIONS:-"bf16 int8"}
STAT=${STAT:-median}
CPU_FEATURES=${CPU_FEATURES:-auto}
GOLDEN=${PG_TFM_GOLDEN_SRC:-$REPO/../shared/golden}

choose_run_dir
fetch_model
fetch_spam

# --- ONNX Runtime side: packages, export, golden check ------------------------------------------
onnx_peer_deps
ONNX="$RUN/minilm.onnx"
if [ ! -s "$ONNX" ]; then
  log "exporting the model to ONNX"
  gold=""; [ -d "$GOLDEN/minilm" ] && gold="$GOLDEN/minilm"
  /usr/bin/python3 "$ONNX_DIR/export.py" "$PG_TFM_MODEL_DIR" "$ONNX.tmp" $gold 2>&1 | grep '^export' || true
  [ -s "$ONNX.tmp" ] && mv "$ONNX.tmp" "$ONNX"
  [ -s "$ONNX" ] || { echo "ONNX export failed" >&2; exit 1; }
fi
cc -O2 -pthread -I"$REPO/src" "$REPO/test/bench/peak.c" "$REPO/src/kernels/cpu.c" -lopenblas -o "$RUN/peak"

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
set1="SET pg_tfm.cpu_features = '$CPU_FEATURES'; SET max_parallel_workers_per_gather = 0; SET pg_tfm.blas_threads = 1;"
set2="SET pg_tfm.cpu_features = '$CPU_FEATURES'; SET max_parallel_workers_per_gather = 1; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
      SET min_parallel_table_scan_size = 0; SET parallel_leader_participation = on; SET pg_tfm.blas_threads = 1;"
setbulk2="SET pg_tfm.blas_threads = 2;"

# the kernel variant (a test/bench/peak.c name) a precision runs at the level in force: from tfm_cpu_info()
# (level, CPU flags) by the choice of src/kernels (fp32 panels; bf16 vdpbf16ps or widening; int8 VNNI, AVX-VNNI
# or vpmaddwd on int16). int8 on AVX512-VNNI runs AVX-VNNI's ymm tiles for up to 8 rows where the CPU has them.
variant() { # precision, tfm_cpu_info() json
  local p=$1 info=$2 level rank
  level=$(echo "$info" | sed 's/.*"level": "\([a-z0-9]*\)".*/\1/')
  rank=$(case $level in scalar) echo 0;; avx2) echo 1;; avx512) echo 2;; avx512vnni) echo 3;; *) echo 4;; esac)
  [ "$rank" = 0 ] && { echo scalar; return; }
  case $p in
    fp32) [ "$rank" -ge 2 ] && echo fp32-avx512 || echo fp32-avx2;;
    bf16) [ "$rank" -ge 4 ] && echo bf16-avx512bf16 || { [ "$rank" -ge 2 ] && echo bf16-avx512 || echo bf16-avx2; };;
    int8) if [ "$rank" -ge 3 ]; then echo int8-avx512vnni
          elif [[ "$info" == *avx_vnni* || "$info" == *avxvnni* ]]; then echo int8-avxvnni
          else echo int8-avx2; fi;;
  esac
}

# --- machine facts -------------------------------------------------------------------------------
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
echo "machine: $(nproc) x $cpu ($(grep -q -w -m1 avx512f /proc/cpuinfo && echo avx512f || echo avx2), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs) model $(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | xargs)); OpenBLAS core: $("$RUN/peak" 0 | awk '/^core/ {print $2}')"
cpuinfo=$(q -c "SET pg_tfm.cpu_features = '$CPU_FEATURES'; SELECT tfm_cpu_info()")
echo "pg_tfm kernels: $cpuinfo"
declare -A VAR
for p in fp32 $PRECISIONS; do VAR[$p]=$(variant "$p" "$cpuinfo"); done
echo "variants: $(for p in fp32 $PRECISIONS; do printf '%s %s  ' "$p" "${VAR[$p]}"; done)"
echo "CPU flags: $(cpu_flags)"
echo "load before: $(uptime | sed 's/.*load average/load average/')"
# PEAK[threads,kernel]: G(FL)OP/s of test/bench/peak.c's kernels; "best-fp32" / "best-int8" the highest of
# a precision (ONNX Runtime's and PyTorch's rows, whose kernels we do not know)
declare -A PEAK SGEMM
for th in $THREADS; do
  out=$("$RUN/peak" "$th")
  echo "peaks at $th thread(s): $(echo "$out" | grep -v -e '^core' -e skipped | awk '{printf "%s %s  ", $1, $2}')"
  echo "$out" | { grep skipped || true; } | sed 's/^/  /'   # none on a CPU with every variant (Zen 5)
  while read -r k v _; do PEAK[$th,$k]=$v; done < <(echo "$out" | grep -v -e '^core' -e skipped)
  SGEMM[$th]=${PEAK[$th,sgemm]}
  for p in fp32 int8; do
    PEAK[$th,best-$p]=$(echo "$out" | awk -v p="$p-" 'index($1, p) == 1 && $2 + 0 > m + 0 {m = $2 + 0} END {print m + 0}')
  done
done

# --- runs ----------------------------------------------------------------------------------------
TOK="$PG_TFM_MODEL_DIR/tokenizer.json"
printf '\n%-9s %-3s %-16s %9s %10s %8s %8s %-16s %6s %7s\n' set thr path texts/s tokens/s "x ORT1" "x ORTb" variant "%peak" "%sgemm"
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
    for k in $keys; do M[$k]=$(echo "${T[$k]}" | tr ' ' '\n' | grep . | bench_stat); done
    for k in $keys; do
      name=$(case $k in row) echo "pg_tfm per-row";; bulk) echo "pg_tfm bulk";; single) echo "ORT single";; batched) echo "ORT batched";; torch8) echo "PyTorch int8 row";;
             row_*) echo "pg_tfm ${k#row_} row";; bulk_*) echo "pg_tfm ${k#bulk_} bulk";; esac)
      v=$(case $k in row|bulk) echo "${VAR[fp32]}";; row_*|bulk_*) echo "${VAR[${k#*_}]}";; torch8) echo best-int8;; *) echo best-fp32;; esac)
      awk -v s="$set" -v th="$th" -v n="$name" -v t="${M[$k]}" -v nt="$ntexts" -v tok="$ntok" -v gf="$gflop" \
          -v o1="${M[single]}" -v ob="${M[batched]}" -v v="$v" -v pk="${PEAK[$th,$v]:-0}" -v sg="${SGEMM[$th]}" \
          'BEGIN { printf "%-9s %-3s %-16s %9.1f %10.0f %7.2fx %7.2fx %-16s %5s%% %6.0f%%\n", s, th, n, nt * 1000 / t, tok * 1000 / t,
                   o1 / t, ob / t, v, (pk > 0 ? sprintf("%.0f", 100 * gf * 1000 / t / pk) : "-"), 100 * gf * 1000 / t / sg }'
    done
    echo "          ($set: $ntexts texts, $ntok tokens, $gflop GFLOP; ${STAT}s of $REPS, ms: row ${M[row]} bulk ${M[bulk]} ORT1 ${M[single]} ORTb ${M[batched]})"
    [ "$th" = 1 ] && echo "          (PyTorch int8: $(echo "$pj" | sed 's/.*"engine": "\([a-z]*\)".*"cosine_min": \([0-9.]*\).*/engine \1, cosine to its fp32 twin min \2 on 50 texts/'))"
  done
done
echo
echo "load after: $(uptime | sed 's/.*load average/load average/')"
