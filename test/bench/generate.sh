#!/usr/bin/env bash
# test/bench/generate.sh: tfm_generate tokens/s with and without the KV cache at 20 and 100 new tokens on the
# tiny GPT-2 of ../shared/golden (2 layers, 64 wide, GPT-2's 50,257-token vocabulary), then the sgemm and
# matrix-vector GFLOP/s of this CPU and a FLOP-based estimate for GPT-2 small (124M). Starts its own
# throwaway cluster. Prints one line per figure.
source "$(dirname "$0")/../../scripts/lib.sh"
GOLDEN=${PG_TFM_GOLDEN:-$REPO/../shared/golden}
choose_run_dir
start_cluster
trap stop_cluster EXIT
R=${R:-10}
rm -rf "$RUN/golden-gpt2" && mkdir -p "$RUN/golden-gpt2" && cp -r "$GOLDEN/gpt2/tiny" "$RUN/golden-gpt2/" && chmod -R a+rX "$RUN/golden-gpt2"
bench_db
t_import=$(ms -c "SELECT 1 FROM tfm_import('tiny', '$RUN/golden-gpt2/tiny')")
t_mat=$(ms -c "SELECT tfm_generate('warm up', 'tiny', 1) IS NOT NULL")
echo "import of the tiny GPT-2 (13 MB fp32 safetensors, vocab.json + merges.txt): $t_import ms"
echo "first call after import (materialise the cache file + 1 token): $t_mat ms"

prompt="ARRAY[464, 2068, 7586, 21831]"   # "The quick brown fox"
for n in 20 100; do
  for kv in true false; do
    # greedy ids, so the count of generated tokens is exact (eos would stop early)
    sql="SELECT sum(array_length(tfm._gpt2_generate($prompt, 'tiny', $n, '{\"kv_cache\": $kv}'), 1)) FROM generate_series(1, $R)"
    tokens=$(q -c "$sql")
    t=$(ms -c "$sql")
    awk -v t="$t" -v n="$n" -v kv="$kv" -v tok="$tokens" -v r="$R" 'BEGIN {
      printf "tiny GPT-2, %d new tokens after a 4-token prompt, kv_cache %s: %.2f ms per call, %.0f tokens/s\n", n, kv, t/r, tok*1000/t }'
  done
done
t=$(ms -c "SELECT count(tfm_generate('The quick brown fox', 'tiny', 20, jsonb_build_object('seed', g, 'top_k', 40))) FROM generate_series(1, $R) g")
awk -v t="$t" -v r="$R" 'BEGIN { printf "tiny GPT-2, tfm_generate text, 20 sampled tokens (top_k 40), tokenize + decode included: %.2f ms per call\n", t/r }'

# this CPU's GEMM rates through pg_tfm's kernels, and the GPT-2 small estimate
cc -O2 -I"$REPO/src" -I/usr/include/x86_64-linux-gnu -o "$RUN/gemm_rate" "$REPO/test/bench/gemm_rate.c" \
   "$REPO"/src/kernels/[a-z]*.c -lopenblas -lm
"$RUN/gemm_rate"
