// test/make_head_models.js GOLDEN_DIR OUT_DIR TOKENIZERS_PKG: DistilBERT, RoBERTa and XLM-RoBERTa
// *ForSequenceClassification checkpoints for sql/heads.sql (issue 15), and their references.
//
// - distil_*: the REAL config.json (DistilBertForSequenceClassification, id2label NEGATIVE/POSITIVE) and
//   tokenizer.json of distilbert-base-uncased-finetuned-sst-2-english, config shrunk to dim 32, 2 layers,
//   4 heads, hidden_dim 37, with RANDOM F32 weights (fixed-seed xorshift) under the real tensor names
//   (distilbert.embeddings.*, distilbert.transformer.layer.N.*, pre_classifier.*, classifier.*).
// - roberta_*, xlmr_cls, xlmr_embed: the REAL weights, config and tokenizer of
//   hf-internal-testing/tiny-random-roberta (its weights are random-initialised by its authors; our
//   checks compare computations, not predictions) under RobertaForSequenceClassification's names
//   ("roberta." prefix, the I64 position_ids buffer, no pooler), with a RANDOM classifier head
//   (classifier.dense, classifier.out_proj); xlmr_*: the same as model_type "xlm-roberta".
// - roberta_ce: roberta-base's REAL tokenizer on a shrunk config (hidden 32, 2 layers) with RANDOM
//   weights, a one-label cross-encoder; xlmr_ce: tiny-random-roberta as an XLM-R cross-encoder whose
//   tokenizer.json has XLM-R's TemplateProcessing post-processor instead of RobertaProcessing.
// - *_noprefix: the encoder's tensors without the task prefix; roberta_files_ce: a cross-encoder with
//   vocab.json + merges.txt and no tokenizer.json; refused_*: one thing broken each.
// expected.csv: model, a, b (empty: one text), ids (Hugging Face's Rust tokenizers, npm `tokenizers`
// from TOKENIZERS_PKG, truncated longest_first to the model's max_tokens), the same untruncated, logits and probabilities
// (softmax, sigmoid for multi-label, the logit itself for one output) of test/ref/encoder.js on the
// files written here; embedding rows (xlmr_embed) hold the reference embedding in logits.
'use strict';
const fs = require('fs');
const path = require('path');
const ref = require('./ref/encoder.js');
const { xorshift, bertTensors, distilbertTensors, randomValue, safetensors, readJson, generatorArgs } = require('./lib/fixtures.js');

const { out, tokenizers: { Tokenizer }, G, dir } = generatorArgs();

// random F32 tensors [name, shape, init] for [name, shape] pairs; the output layer larger, so that logits
// are of order 1 and a 1e-4 tolerance is tight
function random(list, rnd) {
  return list.map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1), a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = randomValue(name, rnd, () => (/(^classifier\.weight|out_proj\.weight)$/.test(name) ? 4 : 0.6));
    return [name, shape, (i) => a[i]];
  });
}
// the tensors of a safetensors file as [name, shape, bytes, dtype], in file order
function tensorsOf(buf) {
  const hlen = Number(buf.readBigUInt64LE(0)), h = JSON.parse(buf.subarray(8, 8 + hlen).toString());
  return Object.entries(h).filter(([k]) => k !== '__metadata__')
    .map(([k, v]) => [k, v.shape, buf.subarray(8 + hlen + v.data_offsets[0], 8 + hlen + v.data_offsets[1]), v.dtype]);
}
const rename = (list, f) => list.map(([k, ...rest]) => [f(k), ...rest]);
const labelsX = { 0: 'sports', 1: 'business', 2: 'arts' };        // id order differs from sorted order
const inv = (m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [v, Number(k)]));
// config.json variants of one checkpoint's head
function heads(base) {
  const plain = { ...base };
  delete plain.id2label; delete plain.label2id; delete plain.problem_type;
  return {
    multi: { ...plain, id2label: labelsX, label2id: inv(labelsX), problem_type: 'multi_label_classification' },
    reg: { ...plain, id2label: { 0: 'LABEL_0' }, label2id: { LABEL_0: 0 }, problem_type: 'regression' },
    ce: { ...plain, id2label: { 0: 'LABEL_0' }, label2id: { LABEL_0: 0 }, sbert_ce_default_activation_function: 'torch.nn.modules.linear.Identity' },
  };
}

// ---- DistilBERT: real sst-2 config shrunk, random weights
const dreal = readJson(G('distilbert-base-uncased-finetuned-sst-2-english', 'config.json'));
const dtok = fs.readFileSync(G('distilbert-base-uncased-finetuned-sst-2-english', 'tokenizer.json'));
const D = 32, dcfg = { ...dreal, dim: D, n_layers: 2, n_heads: 4, hidden_dim: 37 };
const dHead = (K) => [['pre_classifier.weight', [D, D]], ['pre_classifier.bias', [D]], ['classifier.weight', [K, D]], ['classifier.bias', [K]]];
const dEnc = random(distilbertTensors({ prefix: 'distilbert.', V: dcfg.vocab_size, P: dcfg.max_position_embeddings, H: D, I: 37, L: 2 }),
  xorshift(0x2545f491));
const dh = heads(dcfg), dK2 = random(dHead(2), xorshift(0x9e3779b9)), dK3 = random(dHead(3), xorshift(0x85ebca6b)),
  dK1 = random(dHead(1), xorshift(0xc2b2ae35));
const models = {};   // name -> {dir, tokDir, kind: 'softmax'|'sigmoid'|'one'|'embed', pairs}
function model(name, files, kind, tokDir = name) {
  dir(name, files);
  models[name] = { kind, tokDir };
}
model('distil_sst2', { 'config.json': dcfg, 'tokenizer.json': dtok, 'model.safetensors': safetensors([...dEnc, ...dK2]) }, 'softmax');
model('distil_noprefix', { 'config.json': dcfg, 'tokenizer.json': dtok,
  'model.safetensors': safetensors([...rename(dEnc, (k) => k.replace(/^distilbert\./, '')), ...dK2]) }, 'softmax', 'distil_sst2');
model('distil_multi', { 'config.json': dh.multi, 'tokenizer.json': dtok, 'model.safetensors': safetensors([...dEnc, ...dK3]) }, 'sigmoid', 'distil_sst2');
model('distil_reg', { 'config.json': dh.reg, 'tokenizer.json': dtok, 'model.safetensors': safetensors([...dEnc, ...dK1]) }, 'one', 'distil_sst2');
model('distil_ce', { 'config.json': dh.ce, 'tokenizer.json': dtok, 'model.safetensors': safetensors([...dEnc, ...dK1]) }, 'pair', 'distil_sst2');

// ---- RoBERTa and XLM-R: tiny-random-roberta's real encoder, random classifier
const rt = G('tiny-random-roberta');
const rtcfg = readJson(path.join(rt, 'config.json')), rttok = fs.readFileSync(path.join(rt, 'tokenizer.json'));
const R = rtcfg.hidden_size;
const rHead = (K) => [['classifier.dense.weight', [R, R]], ['classifier.dense.bias', [R]], ['classifier.out_proj.weight', [K, R]],
  ['classifier.out_proj.bias', [K]]];
// RobertaForSequenceClassification has no pooler (add_pooling_layer=False)
const rEnc = rename(tensorsOf(fs.readFileSync(path.join(rt, 'model.safetensors'))).filter(([k]) => !k.startsWith('pooler.')),
  (k) => 'roberta.' + k);
const rK3 = random(rHead(3), xorshift(0x27d4eb2f)), rK1 = random(rHead(1), xorshift(0x165667b1));
const rcfg = { ...rtcfg, architectures: ['RobertaForSequenceClassification'], id2label: labelsX, label2id: inv(labelsX) };
const rh = heads(rcfg);
model('roberta_cls', { 'config.json': rcfg, 'tokenizer.json': rttok, 'model.safetensors': safetensors([...rEnc, ...rK3]) }, 'softmax');
model('roberta_noprefix', { 'config.json': rcfg, 'tokenizer.json': rttok,
  'model.safetensors': safetensors([...rename(rEnc, (k) => k.replace(/^roberta\./, '')), ...rK3]) }, 'softmax', 'roberta_cls');
model('roberta_multi', { 'config.json': rh.multi, 'tokenizer.json': rttok, 'model.safetensors': safetensors([...rEnc, ...rK3]) }, 'sigmoid', 'roberta_cls');
model('roberta_reg', { 'config.json': rh.reg, 'tokenizer.json': rttok, 'model.safetensors': safetensors([...rEnc, ...rK1]) }, 'one', 'roberta_cls');
// XLM-R: the same architecture under model_type xlm-roberta (tiny-random-roberta's BPE tokenizer: pg_tfm
// does not read XLM-R's SentencePiece Unigram tokenizer yet)
const xcfg = { ...rcfg, model_type: 'xlm-roberta', architectures: ['XLMRobertaForSequenceClassification'] };
model('xlmr_cls', { 'config.json': xcfg, 'tokenizer.json': rttok, 'model.safetensors': safetensors([...rEnc, ...rK3]) }, 'softmax', 'roberta_cls');
model('xlmr_embed', { 'config.json': { ...rtcfg, model_type: 'xlm-roberta', architectures: ['XLMRobertaModel'] }, 'tokenizer.json': rttok,
  'model.safetensors': fs.readFileSync(path.join(rt, 'model.safetensors')) }, 'embed', 'roberta_cls');
// an XLM-R cross-encoder whose tokenizer.json has XLM-R's TemplateProcessing post-processor
const special = (id, n) => ({ SpecialToken: { id, type_id: n } }), seq = (id) => ({ Sequence: { id, type_id: 0 } });
const xtok = { ...JSON.parse(rttok), post_processor: { type: 'TemplateProcessing',
  single: [special('<s>', 0), seq('A'), special('</s>', 0)],
  pair: [special('<s>', 0), seq('A'), special('</s>', 0), special('</s>', 0), seq('B'), special('</s>', 0)],
  special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } } } };
model('xlmr_ce', { 'config.json': { ...xcfg, ...heads(xcfg).ce }, 'tokenizer.json': xtok, 'model.safetensors': safetensors([...rEnc, ...rK1]) }, 'pair');
// the same cross-encoder on tiny-random-roberta with vocab.json + merges.txt instead of tokenizer.json
model('roberta_files_ce', { 'config.json': rh.ce, 'vocab.json': fs.readFileSync(path.join(rt, 'vocab.json')),
  'merges.txt': fs.readFileSync(path.join(rt, 'merges.txt')), 'model.safetensors': safetensors([...rEnc, ...rK1]) }, 'pair', 'roberta_cls');
// roberta-base's real tokenizer, shrunk config, random weights: a cross-encoder
const rb = G('roberta-base');
const rbcfg = { ...rh.ce, _name_or_path: 'roberta-base (shrunk)', vocab_size: 50265, max_position_embeddings: 514, hidden_size: 32,
  num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 37, type_vocab_size: 1, layer_norm_eps: 1e-5 };
const rbw = safetensors([...random(bertTensors({ prefix: 'roberta.', V: 50265, P: 514, H: 32, I: 37, L: 2, types: 1 }), xorshift(0x61c88647)),
  ...random(rHead(1), xorshift(0x7feb352d))]);
model('roberta_ce', { 'config.json': rbcfg, 'tokenizer.json': fs.readFileSync(path.join(rb, 'tokenizer.json')), 'model.safetensors': rbw }, 'pair');

// ---- refused
const noPre = [...dEnc, ...dK2.filter(([k]) => !k.startsWith('pre_classifier'))];
const bertPair = { ...xtok, post_processor: { ...xtok.post_processor,
  pair: [special('<s>', 0), seq('A'), special('</s>', 0), { Sequence: { id: 'B', type_id: 1 } }, special('</s>', 1)] } };
for (const [name, files] of Object.entries({
  refused_no_pre_classifier: { 'config.json': dcfg, 'tokenizer.json': dtok, 'model.safetensors': safetensors(noPre) },
  refused_out_proj_shape: { 'config.json': rcfg, 'tokenizer.json': rttok, 'model.safetensors': safetensors([...rEnc, ...random(rHead(2), xorshift(7))]) },
  refused_bert_pair_template: { 'config.json': { ...xcfg, ...heads(xcfg).ce }, 'tokenizer.json': bertPair,
    'model.safetensors': safetensors([...rEnc, ...rK1]) },
  // config.json only: refused before any other file is read
  refused_xlmr_ce_tokcls: { 'config.json': { ...heads(xcfg).ce, architectures: ['XLMRobertaForTokenClassification'] } },
  refused_roberta_distil_head: { 'config.json': { ...rcfg, architectures: ['DistilBertForSequenceClassification'] } },
})) dir(name, files);

// ---- texts and references
const texts = ['', 'Hello world', 'I loved this movie, it was great!', 'Terrible. I want my money back.',
  "It's a test: don't, won't, we'll.", 'Ünïcödé àccents café naïve', 'CJK 日本語のテキスト 中文', 'emoji 😀👍🏽',
  '  leading and trailing spaces  ', 'Hello <mask> world', 'mixed CASE WoRdS and 12345',
  // longer than the models' 512 (DistilBERT) and 510 (tiny RoBERTa) tokens: truncated
  Array.from({ length: 300 }, (_, i) => `word${i} is here.`).join(' ')];
const pairs = [['How many people live in Berlin?', 'Berlin has 3.5 million inhabitants.'],
  ['How many people live in Berlin?', 'Paris is the capital of France.'], ['a', ''], ['', 'only the second text'],
  ['What is a cat?', 'A cat is a small domesticated carnivorous mammal with soft fur.'],
  ['Ünïcödé query 日本', 'emoji 😀 answer <mask> here'],
  ['short', Array.from({ length: 40 }, (_, i) => `doc${i}`).join(' ')],
  // both cut to half an odd budget: the longer first text keeps the odd token while the second is
  // shorter than max_tokens, the second text keeps it once that alone has max_tokens tokens or more
  [Array.from({ length: 30 }, (_, i) => `q${i}`).join(' '), Array.from({ length: 12 }, (_, i) => `d${i}`).join(' ')],
  [Array.from({ length: 30 }, (_, i) => `q${i}`).join(' '), Array.from({ length: 7 }, (_, i) => `d${i}`).join(' ')],
  [Array.from({ length: 30 }, (_, i) => `q ${i}`).join(' '), Array.from({ length: 9 }, (_, i) => `d ${i}`).join(' ')],
  // longer than 512 tokens together: longest_first cuts the document
  ['long document query', Array.from({ length: 400 }, (_, i) => `sentence ${i} of the document.`).join(' ')]];
const maxTokens = (m) => { const c = readJson(path.join(out, m, 'config.json')); return c.model_type === 'distilbert' ? c.max_position_embeddings : c.max_position_embeddings - c.pad_token_id - 1; };
const csv = (x) => (x === null ? '' : '"' + String(x).replace(/"/g, '""') + '"');
const arr = (a) => '{' + Array.from(a, (v) => (Number.isInteger(v) ? v : v.toPrecision(9))).join(',') + '}';
const probs = (kind, z) => (kind === 'softmax' ? ref.softmax(z) : kind === 'sigmoid' ? ref.sigmoid(z) : z);
(async () => {
  const rows = [];
  for (const [m, { kind, tokDir }] of Object.entries(models)) {
    const r = ref.load(path.join(out, m));
    const tok = Tokenizer.fromFile(path.join(out, tokDir, 'tokenizer.json')), full = Tokenizer.fromFile(path.join(out, tokDir, 'tokenizer.json'));
    // pairs at the model's own max_tokens, and (model name + "16") imported with max_tokens 16
    for (const [suffix, max] of kind === 'pair' ? [['', maxTokens(m)], ['16', 16]] : [['', maxTokens(m)]]) {
      tok.setTruncation(max, { strategy: 'LongestFirst' });
      for (const [a, b] of kind === 'pair' ? pairs : texts.map((t) => [t, null])) {
        const enc = (t) => (b === null ? t.encode(a) : t.encode(a, b));
        const ids = (await enc(tok)).getIds(), all = (await enc(full)).getIds();
        const z = kind === 'embed' ? Array.from(ref.embed(r, ids)) : ref.logits(r, ids);
        rows.push([m + suffix, a, b, arr(ids), arr(all), arr(z), arr(probs(kind, z))]);
      }
    }
  }
  fs.writeFileSync(path.join(out, 'expected.csv'), rows.map((r) => r.map(csv).join(',') + '\n').join(''));
})().catch((e) => { console.error(e); process.exit(1); });
