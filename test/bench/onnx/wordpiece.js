// test/bench/onnx/wordpiece.js: BERT WordPiece tokenizer from a Hugging Face tokenizer.json
// (BertNormalizer + BertPreTokenizer + WordPiece + [CLS] ... [SEP]), for the ONNX Runtime side of
// test/bench/compare.sh. Checked against the reference ids in shared/golden/minilm/tokens.jsonl
// by `node wordpiece.js TOKENIZER_JSON GOLDEN_TOKENS_JSONL`.
'use strict';
const fs = require('fs');

const reControl = /\p{Cc}|\p{Cf}|\p{Co}|\p{Cs}/u; // HF _is_control: category C*, tabs/newlines excepted
const reWhite = /\s/u;
const rePunct = /\p{P}/u;
const reMark = /\p{Mn}/u;

// CJK ideographs as in BERT's _is_chinese_char
function isCjk(cp) {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) || (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

// ASCII symbols count as punctuation too (BERT's _is_punctuation)
function isPunct(ch, cp) {
  return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
    (cp >= 123 && cp <= 126) || rePunct.test(ch);
}

class WordPiece {
  constructor(tokenizerJsonPath) {
    const t = JSON.parse(fs.readFileSync(tokenizerJsonPath, 'utf8'));
    const n = t.normalizer || {};
    this.lowercase = n.lowercase !== false;
    this.stripAccents = n.strip_accents === null || n.strip_accents === undefined ? this.lowercase : n.strip_accents;
    this.vocab = new Map(Object.entries(t.model.vocab));
    this.prefix = t.model.continuing_subword_prefix || '##';
    this.maxChars = t.model.max_input_chars_per_word || 100;
    this.unk = this.vocab.get(t.model.unk_token || '[UNK]');
    this.cls = this.vocab.get('[CLS]');
    this.sep = this.vocab.get('[SEP]');
  }

  // BertNormalizer: clean text, space around CJK, lowercase, strip accents
  normalize(text) {
    let out = '';
    for (const ch of text) {
      const cp = ch.codePointAt(0);
      if (cp === 0 || cp === 0xfffd) continue;
      if (ch === '\t' || ch === '\n' || ch === '\r' || reWhite.test(ch)) { out += ' '; continue; }
      if (reControl.test(ch)) continue;
      out += isCjk(cp) ? ' ' + ch + ' ' : ch;
    }
    if (this.lowercase) out = out.toLowerCase();
    if (this.stripAccents) {
      let s = '';
      for (const ch of out.normalize('NFD')) if (!reMark.test(ch)) s += ch;
      out = s;
    }
    return out;
  }

  // BertPreTokenizer: split on whitespace, each punctuation character a word of its own
  preTokenize(text) {
    const words = [];
    let cur = '';
    for (const ch of text) {
      if (reWhite.test(ch)) {
        if (cur) words.push(cur), cur = '';
      } else if (isPunct(ch, ch.codePointAt(0))) {
        if (cur) words.push(cur), cur = '';
        words.push(ch);
      } else cur += ch;
    }
    if (cur) words.push(cur);
    return words;
  }

  // greedy longest-match-first WordPiece of one word into ids
  wordIds(word, ids) {
    const chars = Array.from(word);
    if (chars.length > this.maxChars) { ids.push(this.unk); return; }
    const start = ids.length;
    let i = 0;
    while (i < chars.length) {
      let j = chars.length, id;
      for (; j > i; j--) {
        const piece = (i > 0 ? this.prefix : '') + chars.slice(i, j).join('');
        id = this.vocab.get(piece);
        if (id !== undefined) break;
      }
      if (j === i) { ids.length = start; ids.push(this.unk); return; }
      ids.push(id);
      i = j;
    }
  }

  // ids with [CLS] and [SEP]; maxLen > 0 truncates to maxLen ids keeping the closing [SEP]
  encode(text, maxLen = 0) {
    const ids = [this.cls];
    for (const w of this.preTokenize(this.normalize(text))) {
      this.wordIds(w, ids);
      if (maxLen > 0 && ids.length >= maxLen - 1) break;
    }
    if (maxLen > 0 && ids.length > maxLen - 1) ids.length = maxLen - 1;
    ids.push(this.sep);
    return ids;
  }
}

module.exports = { WordPiece };

if (require.main === module) {
  const [tok, golden] = process.argv.slice(2);
  const wp = new WordPiece(tok);
  let bad = 0, n = 0;
  for (const line of fs.readFileSync(golden, 'utf8').split('\n')) {
    if (!line) continue;
    const g = JSON.parse(line);
    const got = wp.encode(g.text);
    n++;
    if (got.join() !== g.ids.join()) {
      bad++;
      if (bad <= 5) console.error('mismatch:', JSON.stringify(g.text).slice(0, 80), got.slice(0, 12), g.ids.slice(0, 12));
    }
  }
  console.log(`${n - bad} passed, ${bad} failed`);
  process.exit(bad ? 1 : 0);
}
