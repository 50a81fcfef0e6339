// test/make_family_models.js GOLDEN_DIR OUT_DIR TOKENIZERS_PKG: model directories and references for
// sql/families.sql (issue 15: DistilBERT and RoBERTa encoders used as embedding models).
//
// - distilbert*: the REAL config.json and tokenizer.json of distilbert-base-uncased-finetuned-sst-2-english,
//   config shrunk to dim 32, 2 layers, 4 heads, hidden_dim 37 (architectures set to DistilBertModel /
//   DistilBertForMaskedLM), RANDOM F32 weights (fixed-seed xorshift) under DistilBERT's tensor names.
// - roberta_tiny*: hf-internal-testing/tiny-random-roberta as it is: its REAL (random-initialised)
//   weights, config and tokenizer; *_files: the same with "roberta." names and vocab.json + merges.txt.
// - roberta_base*: roberta-base's REAL tokenizer (tokenizer.json, or vocab.json + merges.txt) on a
//   shrunk config (hidden 32, 2 layers) with RANDOM weights.
// - refused_*: config.json only (refused before any other file is read).
// refs.jsonl: {"model", "text", "ids", "embedding"}: ids from Hugging Face's Rust tokenizers (npm
// `tokenizers`, TOKENIZERS_PKG is its unpacked folder) with special tokens, untruncated; embedding from
// test/ref/encoder.js on those ids truncated to the model's max_tokens (mean pooling, L2-normalised).
'use strict';
const fs = require('fs');
const path = require('path');
const ref = require('./ref/encoder.js');
const { xorshift, bertTensors, distilbertTensors, safetensors, randomWeights, readJson, generatorArgs } = require('./lib/fixtures.js');

const { out, tokenizers: { Tokenizer }, G, dir } = generatorArgs();

// the same safetensors with every name renamed (and extra tensors appended)
function renamed(buf, rename, extra = []) {
  const hlen = Number(buf.readBigUInt64LE(0)), h = JSON.parse(buf.subarray(8, 8 + hlen).toString());
  const data = buf.subarray(8 + hlen), tensors = [];
  for (const [k, v] of Object.entries(h)) {
    if (k === '__metadata__') continue;
    const f = v.dtype === 'F32' ? (i) => data.readFloatLE(v.data_offsets[0] + 4 * i) : null;
    if (f) tensors.push([rename(k), v.shape, f]);
  }
  return safetensors([...tensors, ...extra]);
}

// ---- DistilBERT
const dcfgReal = readJson(G('distilbert-base-uncased-finetuned-sst-2-english', 'config.json'));
const D = 32, DL = 2, DH = 4, DI = 37;
const dcfg = { ...dcfgReal, dim: D, n_layers: DL, n_heads: DH, hidden_dim: DI, architectures: ['DistilBertModel'] };
delete dcfg.id2label; delete dcfg.label2id;
const dtok = fs.readFileSync(G('distilbert-base-uncased-finetuned-sst-2-english', 'tokenizer.json'));
const dw = randomWeights(distilbertTensors({ V: dcfg.vocab_size, P: dcfg.max_position_embeddings, H: D, I: DI, L: DL }),
  xorshift(0x1234567));
dir('distilbert', { 'config.json': dcfg, 'tokenizer.json': dtok, 'model.safetensors': dw });
// DistilBertForMaskedLM: "distilbert." names plus its MLM head, which pg_tfm does not use
dir('distilbert_mlm', { 'config.json': { ...dcfg, architectures: ['DistilBertForMaskedLM'] }, 'tokenizer.json': dtok,
  'model.safetensors': renamed(dw, (k) => 'distilbert.' + k, [['vocab_transform.weight', [D, D], () => 0.01],
    ['vocab_transform.bias', [D], () => 0], ['vocab_layer_norm.weight', [D], () => 1], ['vocab_layer_norm.bias', [D], () => 0],
    ['vocab_projector.bias', [dcfg.vocab_size], () => 0]]) });
// sinusoidal_pos_embds: the checkpoint stores the sinusoid table (as Hugging Face's save does)
{
  const P = dcfg.max_position_embeddings;
  const sin = (i) => { const pos = Math.floor(i / D), j = i % D, a = pos / 10000 ** (2 * Math.floor(j / 2) / D); return j % 2 ? Math.cos(a) : Math.sin(a); };
  dir('distilbert_sinusoidal', { 'config.json': { ...dcfg, sinusoidal_pos_embds: true }, 'tokenizer.json': dtok,
    'model.safetensors': (() => {
      const hlen = Number(dw.readBigUInt64LE(0)), h = JSON.parse(dw.subarray(8, 8 + hlen).toString());
      return safetensors(Object.entries(h).map(([k, v]) => [k, v.shape, k === 'embeddings.position_embeddings.weight' ? sin :
        (i) => dw.readFloatLE(8 + hlen + v.data_offsets[0] + 4 * i)]));
    })() });
}
dir('refused_distilbert_tokcls', { 'config.json': { ...dcfgReal, architectures: ['DistilBertForTokenClassification'] } });
dir('refused_distilbert_relu', { 'config.json': { ...dcfg, activation: 'relu' } });

// ---- RoBERTa
const rt = G('tiny-random-roberta');
const rtw = fs.readFileSync(path.join(rt, 'model.safetensors'));
const rtcfg = readJson(path.join(rt, 'config.json'));
dir('roberta_tiny', { 'config.json': fs.readFileSync(path.join(rt, 'config.json')), 'tokenizer.json': fs.readFileSync(path.join(rt, 'tokenizer.json')),
  'model.safetensors': rtw });
dir('roberta_tiny_files', { 'config.json': { ...rtcfg, architectures: ['RobertaForMaskedLM'] },
  'vocab.json': fs.readFileSync(path.join(rt, 'vocab.json')), 'merges.txt': fs.readFileSync(path.join(rt, 'merges.txt')),
  'model.safetensors': renamed(rtw, (k) => 'roberta.' + k, [['lm_head.bias', [rtcfg.vocab_size], () => 0]]) });
const rb = G('roberta-base');
const RH = 32, RL = 2, RI = 37;
const rbcfg = { ...rtcfg, _name_or_path: 'roberta-base (shrunk)', vocab_size: 50265, max_position_embeddings: 514,
  hidden_size: RH, num_hidden_layers: RL, num_attention_heads: 4, intermediate_size: RI, type_vocab_size: 1, layer_norm_eps: 1e-5 };
{
  const t = bertTensors({ V: 50265, P: 514, H: RH, I: RI, L: RL, types: 1 });
  const w = randomWeights(t, xorshift(0x7654321));
  dir('roberta_base', { 'config.json': rbcfg, 'tokenizer.json': fs.readFileSync(path.join(rb, 'tokenizer.json')), 'model.safetensors': w });
  dir('roberta_base_files', { 'config.json': rbcfg, 'vocab.json': fs.readFileSync(path.join(rb, 'vocab.json')),
    'merges.txt': fs.readFileSync(path.join(rb, 'merges.txt')), 'model.safetensors': w });
}
dir('refused_xlmr_qa', { 'config.json': { ...rtcfg, model_type: 'xlm-roberta', architectures: ['XLMRobertaForQuestionAnswering'] } });
dir('refused_roberta_tokcls', { 'config.json': { ...rtcfg, architectures: ['RobertaForTokenClassification'] } });
dir('refused_roberta_relative', { 'config.json': { ...rtcfg, position_embedding_type: 'relative_key_query' } });

// ---- texts and references
const texts = [
  '', 'Hello world', 'Hello, world!', "It's a test: don't, won't, we'll, I'd, they're, you've.",
  'The quick brown fox jumps over the lazy dog.', '  leading and trailing spaces  ', 'many     spaces\tand\ttabs\n\nnewlines',
  'Numbers 12345 and 3.14159 and 1,000,000', 'Ünïcödé àccents café naïve', 'Greek ΣΊΣΥΦΟΣ and Cyrillic Привет мир',
  'CJK 日本語のテキスト 中文 한국어', 'emoji 😀👍🏽 👨‍👩‍👧 🇫🇷', 'zero\u200bwidth\u200djoiner', 'control\u0001\u0007chars',
  'Hello <mask> world', 'a   <mask> b', '<s>inside</s> text', 'pad <pad> in the middle', 'an <unk> token',
  'no\u00a0break\u3000ideographic space', 'mixed CASE WoRdS', 'url https://example.com/a?b=c&d=e#f',
  'a'.repeat(300), 'supercalifragilisticexpialidocious antidisestablishmentarianism',
  Array.from({ length: 400 }, (_, i) => `word${i} is here.`).join(' '),
  // hard cases of the byte-level pre-tokenizer and the added tokens
  'nel\u0085line bom\ufeffmark', '   \n\n\t  x', 'trailing    ', "CAPS 'S 'VE 'Re and o'clock", '<mask>', ' <mask>', '<mask><mask>',
  'a<mask>b', '\t<mask>\n', 'a\u00a0<mask> b\u3000\u2003 <mask> c\u0085<mask> d\u200b<mask>', '<s>', 'Thai ภาษาไทย Arabic العربية Hindi हिन्दी', 'combining e\u0301 a\u0308 n\u0303',
  'digits ١٢٣ ¼ ½ ² ⅷ', 'x'.repeat(2000),
  // longer than the window pg_tfm tokenizes first when it truncates (blank runs at its cuts)
  Array.from({ length: 5000 }, (_, i) => `w${i}  <mask>\t ok.`).join('   '), 'snake_case and kebab-case and CamelCase', '!!!???...,,,;;;', 'tab\tsep\tvalues',
];
const models = [['distilbert', 'distilbert'], ['distilbert_mlm', 'distilbert'], ['distilbert_sinusoidal', 'distilbert'],
  ['roberta_tiny', 'roberta_tiny'], ['roberta_tiny_files', 'roberta_tiny'], ['roberta_base', 'roberta_base'],
  ['roberta_base_files', 'roberta_base']];
const maxTokens = { distilbert: 512, roberta_tiny: 510, roberta_base: 512 };
const lines = [];
(async () => {
  for (const [m, tokDir] of models) {
    const tok = Tokenizer.fromFile(path.join(out, tokDir, 'tokenizer.json'));
    const model = ref.load(path.join(out, m));
    for (const text of texts) {
      const ids = (await tok.encode(text)).getIds();
      const max = maxTokens[tokDir];
      const cut = ids.length > max ? [...ids.slice(0, max - 1), ids[ids.length - 1]] : ids;
      const e = ref.embed(model, cut);
      lines.push(JSON.stringify({ model: m, text, ids, embedding: Array.from(e, (v) => +v.toPrecision(9)) }));
    }
  }
  fs.writeFileSync(path.join(out, 'refs.jsonl'), lines.join('\n') + '\n');
})().catch((e) => { console.error(e); process.exit(1); });
