#!/usr/bin/env bash
# test/bench/tokens.sh: tokenizer throughput of each tokenizer type over the SpamAssassin corpus (6,046 real
# e-mails, subjects and bodies, untruncated): tfm_tokenize on one core (no parallel workers), tokens/s and
# MB/s of text, best of 3 runs. WordPiece: all-MiniLM-L6-v2's real tokenizer.json; RoBERTa byte-level BPE:
# roberta-base's real tokenizer.json (test/make_family_models.js's roberta_base, random weights unused);
# GPT-2 byte-level BPE: the golden tiny GPT-2's real vocab.json + merges.txt (50,257 tokens, 50,000 merges);
# SentencePiece Unigram: t5-small's real tokenizer.json on a BERT config (test/make_unigram_models.js's t5_bert),
# then Unigram on one text 1x, 4x and 16x as long (linear: flat ns/byte). Prints one line per figure, and the CPU.
source "$(dirname "$0")/../../scripts/lib.sh"
choose_run_dir
fetch_model
fetch_spam
GOLDEN="${PG_TFM_GOLDEN:-$(cd "$REPO/.." && pwd)/shared/golden}"
if [ ! -s "$RUN/families/roberta_base/model.safetensors" ]; then
  fetch_tokenizers
  node "$REPO/test/make_family_models.js" "$GOLDEN" "$RUN/families" "$PG_TFM_TOKENIZERS" >/dev/null
  chmod -R a+rX "$RUN/families"
fi
if [ ! -s "$RUN/unigram/t5_bert/model.safetensors" ]; then
  fetch_tokenizers
  node "$REPO/test/make_unigram_models.js" "$GOLDEN" "$RUN/unigram" "$PG_TFM_TOKENIZERS" >/dev/null
  chmod -R a+rX "$RUN/unigram"
fi
start_cluster
trap stop_cluster EXIT
bench_db
q -c "SELECT 1 FROM tfm_import('wordpiece', '$PG_TFM_MODEL_DIR')" >/dev/null
q -c "SELECT 1 FROM tfm_import('roberta_bpe', '$RUN/families/roberta_base')" >/dev/null
q -c "SELECT 1 FROM tfm_import('gpt2_bpe', '$GOLDEN/gpt2/tiny')" >/dev/null
q -c "SELECT 1 FROM tfm_import('unigram', '$RUN/unigram/t5_bert')" >/dev/null
q <<SQL >/dev/null
CREATE TABLE mail (id text, grp text, subject text, body text, label text);
COPY mail FROM '$PG_TFM_SPAM_CSV' (FORMAT csv, HEADER);
CREATE TABLE t AS SELECT subject || E'\n\n' || body AS t FROM mail;
SQL
bytes=$(q -c "SELECT sum(octet_length(t)) FROM t")
rows=$(q -c "SELECT count(*) FROM t")
echo "corpus: $rows e-mails, $bytes bytes (subject and body, untruncated)"
# the scan and aggregation alone, to subtract
base=$(for i in 1 2 3; do ms -c "SET max_parallel_workers_per_gather = 0" -c "SELECT sum(octet_length(t)) FROM t"; done | sort -n | head -1)
for m in wordpiece roberta_bpe gpt2_bpe unigram; do
  q -c "SELECT tfm_tokenize('warm up', '$m')" >/dev/null
  ntok=$(q -c "SELECT sum(cardinality(tfm_tokenize(t, '$m'))) FROM t")
  best=$(for i in 1 2 3; do ms -c "SET max_parallel_workers_per_gather = 0" -c "SELECT sum(cardinality(tfm_tokenize(t, '$m'))) FROM t"; done | sort -n | head -1)
  awk -v t="$best" -v b="$base" -v n="$ntok" -v by="$bytes" -v m="$m" 'BEGIN {
    s = (t - b) / 1000; printf "%-12s %9d tokens in %.2f s: %.0f tokens/s, %.1f MB/s of text (scan %.0f ms subtracted)\n", m, n, s, n / s, by / s / 1e6, b }'
done
for k in 1 4 16; do
  t=$(ms -c "SELECT cardinality(tfm_tokenize(repeat((SELECT string_agg(t, ' ') FROM (SELECT t FROM t LIMIT 200) s), $k), 'unigram'))")
  b=$(q -c "SELECT $k * octet_length((SELECT string_agg(t, ' ') FROM (SELECT t FROM t LIMIT 200) s))")
  awk -v t="$t" -v b="$b" 'BEGIN { printf "unigram on one text of %.1f MB: %.0f ms, %.0f ns/byte\n", b / 1e6, t, t * 1e6 / b }'
done
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p'), $(grep -q avx512_bf16 /proc/cpuinfo && echo 'AVX-512 BF16 present' || echo 'no AVX-512 BF16')), $(nproc) CPUs, one backend, no parallel workers"
