#!/usr/bin/env bash
# test/bench/tokenize.sh: tokenization throughput per tokenizer type on the spam corpus (6,046 real
# e-mails, subject + body): WordPiece (all-MiniLM-L6-v2), Unigram (t5-small's tokenizer.json on a
# BERT config, from the fixtures of test/make_unigram_models.js) and RoBERTa's byte-level BPE
# (roberta-base's tokenizer, from test/make_family_models.js). tfm_tokenize untruncated over every
# e-mail, best of 3; then Unigram on one text 1x, 4x and 16x as long (linear: flat ns/byte).
# Run after scripts/test.sh (fixtures); starts its own throwaway cluster. Prints one line per figure.
source "$(dirname "$0")/../../scripts/lib.sh"
choose_run_dir
fetch_model
fetch_spam
start_cluster
trap stop_cluster EXIT
bench_db
q -c "SELECT 1 FROM tfm_import('minilm', '$PG_TFM_MODEL_DIR')" >/dev/null
q -c "SELECT 1 FROM tfm_import('t5', '$RUN/unigram/t5_bert')" >/dev/null
q -c "SELECT 1 FROM tfm_import('roberta', '$RUN/families/roberta_base')" >/dev/null
q -c "CREATE TABLE spam (id text, grp text, subject text, body text, label text)" \
  -c "\\copy spam FROM '$PG_TFM_SPAM_CSV' WITH (FORMAT csv, HEADER)" \
  -c "CREATE TABLE mail AS SELECT coalesce(subject, '') || E'\n' || coalesce(body, '') AS t FROM spam"
bytes=$(q -c "SELECT sum(octet_length(t)) FROM mail")
for m in minilm t5 roberta; do
  q -c "SELECT tfm_tokenize('warm up', '$m')" >/dev/null
  ntok=$(q -c "SELECT sum(cardinality(tfm_tokenize(t, '$m'))) FROM mail")
  best=$(for i in 1 2 3; do ms -c "SELECT sum(cardinality(tfm_tokenize(t, '$m'))) FROM mail"; done | sort -n | head -1)
  awk -v m="$m" -v t="$best" -v n="$ntok" -v b="$bytes" 'BEGIN { printf "%s: %d tokens of %.1f MB in %.0f ms: %.0f tokens/s, %.1f MB/s\n", m, n, b/1e6, t, n*1000/t, b/1e3/t }'
done
for k in 1 4 16; do
  t=$(ms -c "SELECT cardinality(tfm_tokenize(repeat((SELECT string_agg(t, ' ') FROM (SELECT t FROM mail LIMIT 200) s), $k), 't5'))")
  b=$(q -c "SELECT $k * octet_length((SELECT string_agg(t, ' ') FROM (SELECT t FROM mail LIMIT 200) s))")
  awk -v k="$k" -v t="$t" -v b="$b" 'BEGIN { printf "t5 Unigram on one text of %.1f MB: %.0f ms, %.0f ns/byte\n", b/1e6, t, t*1e6/b }'
done
