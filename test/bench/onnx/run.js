// test/bench/onnx/run.js MODEL.onnx TOKENIZER.json TEXTS.json THREADS MODE [MAX_TOKENS]
// Embeds the texts (a JSON array of strings) with ONNX Runtime, the way a user next to Postgres would:
// WordPiece tokenization (wordpiece.js), truncation at MAX_TOKENS (256), the encoder, mean pooling and
// L2 normalisation (both inside the exported graph). MODE:
//   single   one text per Run() call (what a per-row caller does)
//   batched  length-sorted batches of at most 64 texts and 4096 padded tokens (pg_tfm's bulk policy)
// Timing covers tokenization + inference + pooling, after a warm-up. Prints one JSON line:
// {"mode","threads","texts","tokens","seconds","checksum"}.
// With MODE "check" it prints the embeddings of the texts as JSON lines instead (for golden checks).
'use strict';
const fs = require('fs');
const { ort, openSession } = require('./session');
const { WordPiece } = require('./wordpiece');

const [modelPath, tokPath, textsPath, threadsArg, mode, maxArg] = process.argv.slice(2);
const threads = Number(threadsArg || 1);
const maxTokens = Number(maxArg || 256);
const BATCH_MAX = 64, BATCH_TOKENS = 4096;

// one Run() on padded id rows; returns the (B, hidden) embeddings
async function embedBatch(session, rows) {
  const B = rows.length;
  const T = rows.reduce((m, r) => Math.max(m, r.length), 1);
  const ids = new BigInt64Array(B * T), mask = new BigInt64Array(B * T);
  rows.forEach((r, b) => r.forEach((id, t) => { ids[b * T + t] = BigInt(id); mask[b * T + t] = 1n; }));
  const out = await session.run({
    input_ids: new ort.Tensor('int64', ids, [B, T]),
    attention_mask: new ort.Tensor('int64', mask, [B, T]),
  });
  return out.sentence_embedding;
}

// embed all texts; returns {tokens, checksum, embs?}
async function embedAll(session, wp, texts, batched, keep) {
  let tokens = 0, checksum = 0;
  const embs = keep ? new Array(texts.length) : null;
  const add = (e, b, i) => {
    const d = e.dims[1];
    checksum += e.data[b * d];
    if (keep) embs[i] = Array.from(e.data.subarray(b * d, (b + 1) * d));
  };
  if (!batched) {
    for (let i = 0; i < texts.length; i++) {
      const ids = wp.encode(texts[i], maxTokens);
      tokens += ids.length;
      add(await embedBatch(session, [ids]), 0, i);
    }
    return { tokens, checksum, embs };
  }
  const enc = texts.map((t) => wp.encode(t, maxTokens));
  const order = enc.map((_, i) => i).sort((a, b) => enc[a].length - enc[b].length);
  for (let i = 0; i < order.length;) {
    let B = 0;
    while (i + B < order.length && B < BATCH_MAX && (B + 1) * enc[order[i + B]].length <= BATCH_TOKENS) B++;
    B = Math.max(B, 1);
    const idx = order.slice(i, i + B);
    const e = await embedBatch(session, idx.map((j) => enc[j]));
    idx.forEach((j, b) => { tokens += enc[j].length; add(e, b, j); });
    i += B;
  }
  return { tokens, checksum, embs };
}

async function main() {
  const session = await openSession(modelPath, threads);
  const wp = new WordPiece(tokPath);
  const texts = JSON.parse(fs.readFileSync(textsPath, 'utf8'));
  if (mode === 'check') {
    const r = await embedAll(session, wp, texts, false, true);
    texts.forEach((t, i) => process.stdout.write(JSON.stringify({ text: t, embedding: r.embs[i] }) + '\n'));
    return;
  }
  const batched = mode === 'batched';
  await embedAll(session, wp, texts.slice(0, 8), batched, false); // warm-up
  const t0 = process.hrtime.bigint();
  const r = await embedAll(session, wp, texts, batched, false);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ mode, threads, texts: texts.length, tokens: r.tokens, seconds, checksum: r.checksum }));
}

main().catch((e) => { console.error(e); process.exit(1); });
