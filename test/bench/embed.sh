#!/usr/bin/env bash
# test/bench/embed.sh: per-call tfm_embed latency (short and long texts), import and materialisation
# time, first call in a new connection, and backend memory. Run after scripts/demo.sh or scripts/test.sh
# (it starts its own throwaway cluster). Prints one line per figure.
source "$(dirname "$0")/../../scripts/lib.sh"
choose_run_dir
fetch_model
start_cluster
trap stop_cluster EXIT
N=${N:-200}
bench_db
t_import=$(ms -c "SELECT 1 FROM tfm_import('minilm', '$PG_TFM_MODEL_DIR', '{\"max_tokens\": 256}')")
t_mat=$(ms -c "SELECT tfm_embed('warm up', 'minilm') IS NOT NULL")
echo "import (read + validate + store 45 MB fp16 safetensors): $t_import ms"
echo "first call after import (materialise 91 MB fp32 cache file + embed): $t_mat ms"

# first call in fresh connections, cache file present (median of 10)
for i in $(seq 10); do ms -c "SELECT tfm_embed('hello world', 'minilm') IS NOT NULL"; done | sort -n | sed -n 5p |
  xargs -I{} echo "first tfm_embed in a new connection (cache file exists, library load included), median of 10: {} ms"

short="Re: your account has been suspended, verify now"
long=$(printf 'The committee reviewed the quarterly figures and agreed to postpone the decision until more data is available. %.0s' $(seq 30))
ntok_short=$(q -c "SELECT array_length(tfm_tokenize('$short', 'minilm'), 1)")
ntok_long=$(q -c "SELECT least(256, array_length(tfm_tokenize('$long', 'minilm'), 1))")
for kind in short long; do
  text=${!kind}
  ntok=$(eval echo \$ntok_$kind)
  t=$(ms -c "SELECT count(tfm_embed('$text' || g::text, 'minilm')) FROM generate_series(1, $N) g")
  awk -v t="$t" -v n="$N" -v k="$kind" -v tok="$ntok" 'BEGIN { printf "tfm_embed per call, %s text (%d tokens): %.2f ms (%.0f texts/s, %.0f tokens/s)\n", k, tok, t/n, n*1000/t, n*tok*1000/t }'
done

echo "backend memory: see test/bench/shared_memory.sh (Pss across backends)"
