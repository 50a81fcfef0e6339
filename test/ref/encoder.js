// test/ref/encoder.js: a plain reference implementation of the BERT-family encoders pg_tfm computes
// (BERT, DistilBERT, RoBERTa, XLM-RoBERTa) and of their *ForSequenceClassification heads, written from
// Hugging Face's modeling code, in float64, one text at a time. It reads the model directory's
// config.json and model.safetensors itself (F32 tensors; the I64 embeddings.position_ids buffer is
// ignored) and shares no code with pg_tfm. Token types are all 0 (RoBERTa's and DistilBERT's pairs).
//   embed(model, ids, {pooling: 'mean'|'cls', normalize: true}) -> Float64Array
//   logits(model, ids) -> Array of the head's K outputs
'use strict';
const fs = require('fs');
const path = require('path');

// the tensors of a .safetensors file as Float64Arrays (F32 only), by name
function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  const hlen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8'));
  const out = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__' || t.dtype !== 'F32') continue;
    const [b, e] = t.data_offsets;
    const n = (e - b) / 4, a = new Float64Array(n);
    for (let i = 0; i < n; i++) a[i] = buf.readFloatLE(8 + hlen + b + 4 * i);
    out[name] = { shape: t.shape, data: a };
  }
  return out;
}

// erf to ~1e-9: Taylor series below 5 (|erf| within 2e-12 of 1 beyond)
function erf(x) {
  const s = Math.sign(x), z = Math.abs(x);
  if (z >= 5) return s;
  let term = z, sum = z;
  for (let n = 1; n < 200; n++) {
    term *= -z * z / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17) break;
  }
  return s * sum * 2 / Math.sqrt(Math.PI);
}
const gelu = (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));

// the family's description: config keys and tensor names (what the modeling code calls them)
function describe(cfg) {
  if (cfg.model_type === 'distilbert') {
    return {
      H: cfg.dim, L: cfg.n_layers, NH: cfg.n_heads, eps: 1e-12, types: false, roberta: false,
      prefix: 'distilbert.', layer: (l) => `transformer.layer.${l}.`,
      n: { q: 'attention.q_lin', k: 'attention.k_lin', v: 'attention.v_lin', o: 'attention.out_lin',
        ln1: 'sa_layer_norm', i: 'ffn.lin1', o2: 'ffn.lin2', ln2: 'output_layer_norm' },
    };
  }
  const roberta = cfg.model_type === 'roberta' || cfg.model_type === 'xlm-roberta';   // XLM-R: RoBERTa's encoder
  return {
    H: cfg.hidden_size, L: cfg.num_hidden_layers, NH: cfg.num_attention_heads,
    eps: cfg.layer_norm_eps ?? (roberta ? 1e-5 : 1e-12), types: true, roberta, pad: cfg.pad_token_id ?? 1,
    prefix: roberta ? 'roberta.' : 'bert.', layer: (l) => `encoder.layer.${l}.`,
    n: { q: 'attention.self.query', k: 'attention.self.key', v: 'attention.self.value', o: 'attention.output.dense',
      ln1: 'attention.output.LayerNorm', i: 'intermediate.dense', o2: 'output.dense', ln2: 'output.LayerNorm' },
  };
}

// y (T,out) = x (T,in) W^T + b
function linear(x, T, W, b) {
  const [out, inn] = W.shape, y = new Float64Array(T * out);
  for (let t = 0; t < T; t++)
    for (let o = 0; o < out; o++) {
      let acc = b.data[o];
      for (let i = 0; i < inn; i++) acc += x[t * inn + i] * W.data[o * inn + i];
      y[t * out + o] = acc;
    }
  return y;
}

// LayerNorm of each row of x (T,H)
function layerNorm(x, T, H, w, b, eps) {
  const y = new Float64Array(T * H);
  for (let t = 0; t < T; t++) {
    let m = 0, v = 0;
    for (let i = 0; i < H; i++) m += x[t * H + i];
    m /= H;
    for (let i = 0; i < H; i++) v += (x[t * H + i] - m) ** 2;
    v /= H;
    const r = 1 / Math.sqrt(v + eps);
    for (let i = 0; i < H; i++) y[t * H + i] = (x[t * H + i] - m) * r * w.data[i] + b.data[i];
  }
  return y;
}

// a loaded model: config, description and a tensor getter that accepts the task prefix
function load(dir) {
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  const d = describe(cfg);
  const st = readSafetensors(path.join(dir, 'model.safetensors'));
  const get = (name) => {
    const t = st[name] ?? st[d.prefix + name];
    if (!t) throw new Error(`tensor ${name} missing in ${dir}`);
    return t;
  };
  return { cfg, d, get };
}

// the last hidden state (T,H) of one sequence of ids
function hidden(model, ids) {
  const { d, get } = model, H = d.H, T = ids.length, dh = H / d.NH;
  const word = get('embeddings.word_embeddings.weight'), pos = get('embeddings.position_embeddings.weight');
  const type = d.types ? get('embeddings.token_type_embeddings.weight') : null;
  // RoBERTa: positions = pad + running count of non-padding ids (pad for padding ids)
  let seen = 0;
  const positions = ids.map((id, t) => (d.roberta ? (id !== d.pad ? d.pad + ++seen : d.pad) : t));
  let x = new Float64Array(T * H);
  for (let t = 0; t < T; t++)
    for (let i = 0; i < H; i++)
      x[t * H + i] = word.data[ids[t] * H + i] + pos.data[positions[t] * H + i] + (type ? type.data[i] : 0);
  x = layerNorm(x, T, H, get('embeddings.LayerNorm.weight'), get('embeddings.LayerNorm.bias'), d.eps);
  for (let l = 0; l < d.L; l++) {
    const p = d.layer(l), W = (n) => get(p + n + '.weight'), B = (n) => get(p + n + '.bias');
    const q = linear(x, T, W(d.n.q), B(d.n.q)), k = linear(x, T, W(d.n.k), B(d.n.k)), v = linear(x, T, W(d.n.v), B(d.n.v));
    const ctx = new Float64Array(T * H);
    for (let h = 0; h < d.NH; h++)
      for (let i = 0; i < T; i++) {
        const s = new Float64Array(T);
        let mx = -Infinity, z = 0;
        for (let j = 0; j < T; j++) {
          let acc = 0;
          for (let c = 0; c < dh; c++) acc += q[i * H + h * dh + c] * k[j * H + h * dh + c];
          s[j] = acc / Math.sqrt(dh);
          mx = Math.max(mx, s[j]);
        }
        for (let j = 0; j < T; j++) { s[j] = Math.exp(s[j] - mx); z += s[j]; }
        for (let j = 0; j < T; j++)
          for (let c = 0; c < dh; c++) ctx[i * H + h * dh + c] += (s[j] / z) * v[j * H + h * dh + c];
      }
    const a = linear(ctx, T, W(d.n.o), B(d.n.o));
    for (let i = 0; i < T * H; i++) a[i] += x[i];
    const x1 = layerNorm(a, T, H, W(d.n.ln1), B(d.n.ln1), d.eps);
    const f = linear(x1, T, W(d.n.i), B(d.n.i)).map(gelu);
    const o = linear(f, T, W(d.n.o2), B(d.n.o2));
    for (let i = 0; i < T * H; i++) o[i] += x1[i];
    x = layerNorm(o, T, H, W(d.n.ln2), B(d.n.ln2), d.eps);
  }
  return x;
}

// the pooled (mean over all tokens, or the first token) and optionally L2-normalised embedding
function embed(model, ids, { pooling = 'mean', normalize = true } = {}) {
  const H = model.d.H, T = ids.length, x = hidden(model, ids), e = new Float64Array(H);
  for (let i = 0; i < H; i++) {
    if (pooling === 'cls') e[i] = x[i];
    else { for (let t = 0; t < T; t++) e[i] += x[t * H + i]; e[i] /= T; }
  }
  if (normalize) {
    const n = Math.max(Math.sqrt(e.reduce((s, v) => s + v * v, 0)), 1e-12);
    for (let i = 0; i < H; i++) e[i] /= n;
  }
  return e;
}

// the logits (K) of a *ForSequenceClassification head on the first token's hidden state: BERT's pooler
// dense + tanh + classifier, RoBERTa's (XLM-R's) classifier.dense + tanh + classifier.out_proj,
// DistilBERT's pre_classifier + ReLU + classifier (dropout is off at inference)
function logits(model, ids) {
  const { cfg, d, get } = model, x = hidden(model, ids).subarray(0, d.H);
  const [hid, out, act] = cfg.model_type === 'distilbert' ? ['pre_classifier', 'classifier', (v) => Math.max(v, 0)]
    : d.roberta ? ['classifier.dense', 'classifier.out_proj', Math.tanh] : ['pooler.dense', 'classifier', Math.tanh];
  const h = linear(x, 1, get(hid + '.weight'), get(hid + '.bias')).map(act);
  return Array.from(linear(h, 1, get(out + '.weight'), get(out + '.bias')));
}

const softmax = (z) => { const m = Math.max(...z), e = z.map((v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0); return e.map((v) => v / s); };
const sigmoid = (z) => z.map((v) => 1 / (1 + Math.exp(-v)));

module.exports = { load, embed, hidden, logits, softmax, sigmoid, readSafetensors };
