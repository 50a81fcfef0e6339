// test/bench/onnx/rerank.js MODEL.onnx IDS.json THREADS MODE: ONNX Runtime's side of test/bench/rerank.sh.
// Scores query-document pairs with the cross-encoder graph of export.py --cross-encoder. IDS.json is an
// array of queries, each an array of its documents' pair token ids ([CLS] query [SEP] document [SEP], as
// pg_tfm's tfm_tokenize(query, document, model) gives them): tokenization is not timed. Token types are
// 0 up to the first [SEP] (the pair's last id) and 1 after it. MODE:
//   single   one pair per Run() call (what a per-row tfm_score_pair caller does)
//   batched  one query's documents per Run(), padded to the longest (what tfm_rerank(query, documents) does)
//   check    the logits of every pair, one JSON line each, in order
// Timing covers building the tensors and Run(), after a warm-up. Prints one JSON line:
// {"mode","threads","pairs","tokens","seconds","checksum"}.
'use strict';
const fs = require('fs');
const { ort, openSession } = require('./session');

const [modelPath, idsPath, threadsArg, mode] = process.argv.slice(2);
const threads = Number(threadsArg || 1);

// one Run() on padded pair rows; returns the B logits
async function scoreBatch(session, rows) {
  const B = rows.length;
  const T = rows.reduce((m, r) => Math.max(m, r.length), 1);
  const ids = new BigInt64Array(B * T), mask = new BigInt64Array(B * T), types = new BigInt64Array(B * T);
  rows.forEach((r, b) => {
    const first = r.indexOf(r[r.length - 1]);
    r.forEach((id, t) => { ids[b * T + t] = BigInt(id); mask[b * T + t] = 1n; types[b * T + t] = t > first ? 1n : 0n; });
  });
  const out = await session.run({
    input_ids: new ort.Tensor('int64', ids, [B, T]),
    attention_mask: new ort.Tensor('int64', mask, [B, T]),
    token_type_ids: new ort.Tensor('int64', types, [B, T]),
  });
  return Array.from({ length: B }, (_, b) => out.logits.data[b * out.logits.dims[1]]);
}

// score all pairs, one per Run() or one query per Run(); returns {pairs, tokens, checksum, logits}
async function scoreAll(session, queries, batched) {
  let pairs = 0, tokens = 0, checksum = 0;
  const logits = [];
  for (const docs of queries) {
    const z = [];
    if (batched) z.push(...await scoreBatch(session, docs));
    else for (const d of docs) z.push(...await scoreBatch(session, [d]));
    docs.forEach((d, i) => { pairs++; tokens += d.length; checksum += z[i]; logits.push(z[i]); });
  }
  return { pairs, tokens, checksum, logits };
}

async function main() {
  const session = await openSession(modelPath, threads);
  const queries = JSON.parse(fs.readFileSync(idsPath, 'utf8'));
  if (mode === 'check') {
    (await scoreAll(session, queries, false)).logits.forEach((z) => process.stdout.write(JSON.stringify(z) + '\n'));
    return;
  }
  const batched = mode === 'batched';
  await scoreAll(session, queries.slice(0, 2), batched); // warm-up
  const t0 = process.hrtime.bigint();
  const r = await scoreAll(session, queries, batched);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ mode, threads, pairs: r.pairs, tokens: r.tokens, seconds, checksum: r.checksum }));
}

main().catch((e) => { console.error(e); process.exit(1); });
