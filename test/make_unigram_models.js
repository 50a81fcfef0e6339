// test/make_unigram_models.js GOLDEN_DIR OUT_DIR TOKENIZERS_PKG: model directories and reference ids for
// sql/unigram.sql (issue 14: SentencePiece Unigram tokenizers).
//
// - t5_bert: a BERT-shaped config (hidden 32, 2 layers, vocab_size 32100) with RANDOM F32 weights and the
//   REAL t5-small tokenizer.json (Unigram, Precompiled normalizer, WhitespaceSplit + Metaspace, $A </s>).
// - xlmr: an XLM-RoBERTa config (model_type xlm-roberta, hidden 32, 2 layers, pad_token_id 1) with RANDOM
//   weights and the t5-small tokenizer.json in XLM-R's shape, DERIVED here (a real XLM-R file is not in the
//   golden data): piece 0 renamed <s>, normalizer Sequence [Precompiled, Replace " {2,}" -> " "],
//   pre-tokenizer Metaspace (prepend_scheme always, split), post-processor <s> $A </s>, and
//   <extra_id_99> with lstrip and rstrip.
// - first: t5_bert with Metaspace alone, prepend_scheme "first", split false, a Strip normalizer after
//   Precompiled and an added token matched in normalized text ("ok.", normalized true).
// - first_ws: WhitespaceSplit + Metaspace prepend_scheme "first"; never: Metaspace prepend_scheme never
//   (and add_prefix_space false, which must agree) after Precompiled + NFKC.
// - bytes: t5_bert with byte_fallback and 256 <0xXX> pieces in place of 256 of its rare pieces (DERIVED).
// - bad_*: the t5_bert directory with a hostile or unsupported tokenizer.json (refused at import).
// refs.jsonl: {"model", "text", "ids"}: ids from Hugging Face's Rust tokenizers (npm `tokenizers`,
// TOKENIZERS_PKG is its unpacked folder) reading the same tokenizer.json, special tokens included, untruncated.
'use strict';
const fs = require('fs');
const path = require('path');
const { xorshift, bertTensors, randomWeights } = require('./lib/fixtures.js');

const [golden, out, tokPkg] = process.argv.slice(2);
const { Tokenizer } = require(path.resolve(tokPkg));
const tokFile = path.join(golden, 'models', 't5-small-tokenizer', 'tokenizer.json');
const t5 = JSON.parse(fs.readFileSync(tokFile, 'utf8'));
const clone = (o) => JSON.parse(JSON.stringify(o));

const V = 32100, H = 32, L = 2, I = 37;
const weightsFile = path.join(out, 'weights.safetensors');
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(weightsFile, randomWeights(bertTensors({ V, P: 514, H, I, L, types: 2 }), xorshift(0x5eed14)));
const xlmrWeights = randomWeights(bertTensors({ prefix: 'roberta.', V, P: 514, H, I, L, types: 1 }), xorshift(0x5eed15));

function dir(name, files, weights = null) {
  const d = path.join(out, name);
  fs.rmSync(d, { recursive: true, force: true });
  fs.mkdirSync(d, { recursive: true });
  for (const [f, c] of Object.entries(files))
    fs.writeFileSync(path.join(d, f), typeof c === 'string' || Buffer.isBuffer(c) ? c : JSON.stringify(c));
  if (weights) fs.writeFileSync(path.join(d, 'model.safetensors'), weights);
  else fs.linkSync(weightsFile, path.join(d, 'model.safetensors'));
  return d;
}

const bertCfg = { architectures: ['BertModel'], model_type: 'bert', vocab_size: V, hidden_size: H, num_hidden_layers: L,
  num_attention_heads: 4, intermediate_size: I, max_position_embeddings: 514, type_vocab_size: 2, hidden_act: 'gelu',
  layer_norm_eps: 1e-12, pad_token_id: 0 };
dir('t5_bert', { 'config.json': bertCfg, 'tokenizer.json': fs.readFileSync(tokFile) });

const x = clone(t5);
x.model.vocab[0][0] = '<s>';
x.added_tokens[0].content = '<s>';
for (const a of x.added_tokens) if (a.content === '<extra_id_99>') { a.lstrip = true; a.rstrip = true; }
x.normalizer = { type: 'Sequence', normalizers: [t5.normalizer, { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] };
x.pre_tokenizer = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true };
const S = (id) => ({ SpecialToken: { id, type_id: 0 } }), A = (id, t = 0) => ({ Sequence: { id, type_id: t } });
x.post_processor = { type: 'TemplateProcessing', single: [S('<s>'), A('A'), S('</s>')],
  pair: [S('<s>'), A('A'), S('</s>'), S('</s>'), A('B'), S('</s>')],
  special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } } };
dir('xlmr', { 'config.json': { architectures: ['XLMRobertaModel'], model_type: 'xlm-roberta', vocab_size: V, hidden_size: H,
  num_hidden_layers: L, num_attention_heads: 4, intermediate_size: I, max_position_embeddings: 514, type_vocab_size: 1,
  hidden_act: 'gelu', layer_norm_eps: 1e-5, pad_token_id: 1, bos_token_id: 0, eos_token_id: 2 }, 'tokenizer.json': x },
xlmrWeights);

const f = clone(t5);
f.normalizer = { type: 'Sequence', normalizers: [t5.normalizer, { type: 'Strip', strip_left: true, strip_right: true }] };
f.pre_tokenizer = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false };
// an added token matched in normalized text (normalized: true, not special; Hugging Face takes its id from the vocabulary)
f.added_tokens.push({ id: 1825, content: 'ok', single_word: false, lstrip: false, rstrip: false, normalized: true, special: false });
dir('first', { 'config.json': bertCfg, 'tokenizer.json': f });

// first_ws: WhitespaceSplit then Metaspace "first" (only the word at the text's start gets ▁)
const fw = clone(t5);
fw.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' },
  { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: true }] };
dir('first_ws', { 'config.json': bertCfg, 'tokenizer.json': fw });
// never: the older form add_prefix_space false (no ▁ prepended), NFKC after the charsmap
const nv = clone(t5);
nv.pre_tokenizer = { type: 'Metaspace', replacement: '\u2581', add_prefix_space: false, prepend_scheme: 'never' };
nv.normalizer = { type: 'Sequence', normalizers: [t5.normalizer, { type: 'NFKC' }] };
dir('never', { 'config.json': bertCfg, 'tokenizer.json': nv });

// bytes: t5_bert with byte_fallback, the 256 pieces <0x00> .. <0xFF> in place of pieces 31744 .. 31999
const b = clone(t5);
b.model.byte_fallback = true;
for (let i = 0; i < 256; i++) b.model.vocab[31744 + i] = [`<0x${i.toString(16).toUpperCase().padStart(2, '0')}>`, 0];
dir('bytes', { 'config.json': bertCfg, 'tokenizer.json': b });

// ---- hostile and unsupported files (refused at import)
function bad(name, edit) {
  const t = clone(t5);
  edit(t);
  dir('bad_' + name, { 'config.json': bertCfg, 'tokenizer.json': t });
}
const charsmap = Buffer.from(t5.normalizer.precompiled_charsmap, 'base64');
bad('score_inf', (t) => { t.model.vocab[5][1] = 'SCORE'; });
bad('score_neg_inf', (t) => { t.model.vocab[5][1] = 'NEGINF'; });
bad('score_string', (t) => { t.model.vocab[5][1] = 'abc'; });
bad('unk_range', (t) => { t.model.unk_id = V; });
bad('no_unk', (t) => { delete t.model.unk_id; });
bad('too_many_pieces', (t) => { for (let i = 0; i < 10; i++) t.model.vocab.push(['extra' + i, -20]); });
bad('long_piece', (t) => { t.model.vocab[7][0] = 'x'.repeat(600); });
bad('entry', (t) => { t.model.vocab[7] = ['only the piece']; });
bad('charsmap_base64', (t) => { t.normalizer.precompiled_charsmap = '!!!not base64!!!'; });
bad('charsmap_size', (t) => { const b = Buffer.from(charsmap); b.writeUInt32LE(0x7ffffff0, 0); t.normalizer.precompiled_charsmap = b.toString('base64'); });
// the trie's size claims every byte: the replacement pool is empty, so every rule points outside it
bad('charsmap_trie', (t) => { const b = Buffer.from(charsmap); b.writeUInt32LE((b.length - 4) & ~3, 0); t.normalizer.precompiled_charsmap = b.subarray(0, 4 + ((b.length - 4) & ~3)).toString('base64'); });
// an added token outside the vocabulary takes the next id, vocab_size here: beyond the embedding table
bad('added_range', (t) => { t.added_tokens[3].content = '<new token>'; });
bad('lowercase', (t) => { t.normalizer = { type: 'Sequence', normalizers: [t5.normalizer, { type: 'Lowercase' }] }; });
bad('regex', (t) => { t.normalizer = { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }; });
bad('whitespace', (t) => { t.pre_tokenizer = { type: 'Whitespace' }; });
bad('bert_processing', (t) => { t.post_processor = { type: 'BertProcessing', sep: ['</s>', 1], cls: ['<pad>', 0] }; });
bad('no_suffix', (t) => { t.post_processor.single = [A('A')]; });
// add_prefix_space false against the default prepend_scheme always: the Rust library refuses the file
bad('metaspace_mismatch', (t) => { t.pre_tokenizer = { type: 'Metaspace', replacement: '\u2581', add_prefix_space: false }; });
bad('single_word', (t) => { t.added_tokens[1].single_word = true; });
// JSON has no infinities: write the scores as numbers beyond float8
for (const [n, v] of [['score_inf', '1e400'], ['score_neg_inf', '-1e400']]) {
  const p = path.join(out, 'bad_' + n, 'tokenizer.json');
  fs.writeFileSync(p, fs.readFileSync(p, 'utf8').replace(n === 'score_inf' ? '"SCORE"' : '"NEGINF"', v));
}

// ---- texts and references
const texts = [
  '', 'Hello world', 'Hello, world! How are you?', 'The quick brown fox jumps over the lazy dog.',
  '  leading and trailing spaces  ', 'many     spaces\tand\ttabs\n\nnewlines\r\nwindows', '\u3000ideographic\u00a0nbsp\u2003em',
  'Ünïcödé àccents café naïve façade', 'combining e\u0301 a\u0308 n\u0303 o\u0302\u0323 stacked a\u0301\u0302\u0303',
  'Greek: Σίσυφος ΣΊΣΥΦΟΣ καλημέρα', 'Cyrillic: Привет, мир! Съешь же ещё этих мягких булок',
  'Arabic: مرحبا بالعالم العربية', 'Hebrew: שלום עולם עִבְרִית', 'Devanagari: नमस्ते दुनिया हिन्दी क्षत्रिय',
  'Thai: สวัสดีชาวโลก ภาษาไทย', 'CJK: 你好世界 中文文本 漢字', 'Hangul: 안녕하세요 세계 한국어', 'Japanese: こんにちは カタカナ ﾊﾝｶｸ',
  'Armenian Բարեւ Georgian გამარჯობა Ethiopic ሰላም', 'Tamil வணக்கம் Bengali নমস্কার',
  'emoji 😀👍🏽 👨‍👩‍👧‍👦 🇫🇷🇩🇪 🏳️‍🌈 ❤️', 'zero\u200bwidth\u200djoiner\u200cnon\u2060word\ufeffbom',
  'control\u0001\u0002\u0007\u001b[0m chars\u007f\u0085next', 'tab\tsep\tvalues\vvt\fff',
  'fullwidth ＡＢＣ１２３ ligature ﬁ ﬂ ㎏ ℃ ① ½ x² Ⅻ', 'digits ١٢٣ ۴۵۶ १२३', 'math ∑∫√∞ ≠ ≤ ≥ ⊕',
  '</s>', 'a</s>b', ' </s> ', '<pad><unk></s>', 'x <extra_id_0> y <extra_id_99>z', '<extra_id_99>   spaced   <extra_id_99>',
  '<s>inside</s> text', '<unk>', 'an <unk> token', 'url https://example.com/a?b=c&d=e#f',
  'supercalifragilisticexpialidocious antidisestablishmentarianism', 'a'.repeat(500), 'ab'.repeat(300) + ' end',
  'Donaudampfschifffahrtsgesellschaftskapitänswitwe', '\u2581already\u2581meta\u2581spaced', ' \u2581 x', '!!!???...,,,;;;',
  'snake_case and kebab-case and CamelCase', "It's a test: don't, won't, we'll.",
  '\u0301leading combining', 'ǅ ǈ ǋ ẞ ß İ ı', '🧑🏽‍🚀 🏴‍☠️ 👩🏻‍❤️‍💋‍👨🏼', 'Z\u0351\u0363\u0307a\u035b\u0350l\u0365g\u036fo',
  'unknown 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ꙮ \ue000\u{10fffd} 龘靐齉 𓀀𓁐 ᚠᛇᚻ', 'bytes <0x41><0xE2> literal', 'ok. ok.ok. not ok . OK book',
  Array.from({ length: 600 }, (_, i) => `word${i} naïve 東京 ${i % 7 ? 'x' : '  '}`).join(' '),
  Array.from({ length: 300 }, (_, i) => `Sentence ${i}: Привет мир, שלום, مرحبا — ok.`).join('\n'),
];
const models = [['t5_bert', 't5_bert'], ['xlmr', 'xlmr'], ['first', 'first'], ['first_ws', 'first_ws'], ['never', 'never'],
  ['bytes', 'bytes']];
const lines = [];
(async () => {
  for (const [m, tokDir] of models) {
    const tok = Tokenizer.fromFile(path.join(out, tokDir, 'tokenizer.json'));
    for (const text of texts) {
      const ids = (await tok.encode(text)).getIds();
      lines.push(JSON.stringify({ model: m, text, ids }));
    }
  }
  // text pairs with XLM-R's template <s> A </s> </s> B </s>, untruncated (sql/unigram.sql, section 5)
  const xtok = Tokenizer.fromFile(path.join(out, 'xlmr', 'tokenizer.json'));
  xtok.disablePadding();
  xtok.disableTruncation();
  for (let i = 0; i + 1 < texts.length; i += 7) {
    const ids = (await xtok.encode(texts[i], texts[i + 1])).getIds();
    lines.push(JSON.stringify({ model: 'xlmr_pair', text: texts[i], text2: texts[i + 1], ids }));
  }
  fs.writeFileSync(path.join(out, 'refs.jsonl'), lines.join('\n') + '\n');
})().catch((e) => { console.error(e); process.exit(1); });
