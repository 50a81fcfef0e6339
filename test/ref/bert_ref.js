// test/ref/bert_ref.js: a plain reference of BERT (Hugging Face's BertModel: post-LayerNorm encoder,
// absolute positions, token types, exact erf GELU) with BertForSequenceClassification's head (pooler
// dense + tanh on the [CLS] hidden state, then classifier), in float64, written from the architecture's
// description and independent of pg_tfm's C code. Used by test/make_seqcls_models.js.
'use strict';

// erf to ~1e-13 (series for small |x|, continued fraction for the tail)
function erf(x) {
  const ax = Math.abs(x);
  if (ax < 3) {
    let sum = x, term = x, x2 = x * x;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc by Lentz's continued fraction
  let f = ax, C = ax, D = 0;
  for (let n = 1; n < 200; n++) {
    const a = n / 2;
    D = ax + a * D; D = 1 / D;
    C = ax + a / C;
    const delta = C * D; f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return x > 0 ? 1 - erfc : erfc - 1;
}

// y (n,out) = x (n,in) W^T + b, W (out,in) row-major
function linear(x, n, inD, W, b, outD) {
  const y = new Float64Array(n * outD);
  for (let i = 0; i < n; i++)
    for (let o = 0; o < outD; o++) {
      let s = b ? b[o] : 0;
      for (let k = 0; k < inD; k++) s += x[i * inD + k] * W[o * inD + k];
      y[i * outD + o] = s;
    }
  return y;
}

function layerNorm(x, n, C, g, b, eps) {
  const y = new Float64Array(n * C);
  for (let i = 0; i < n; i++) {
    let m = 0, v = 0;
    for (let k = 0; k < C; k++) m += x[i * C + k];
    m /= C;
    for (let k = 0; k < C; k++) v += (x[i * C + k] - m) ** 2;
    v /= C;
    const r = 1 / Math.sqrt(v + eps);
    for (let k = 0; k < C; k++) y[i * C + k] = (x[i * C + k] - m) * r * g[k] + b[k];
  }
  return y;
}

// last hidden state (T,C) of one sequence: ids and token types of length T; w(name) gives a tensor
function encode(cfg, w, ids, types) {
  const T = ids.length, C = cfg.hidden_size, H = cfg.num_attention_heads, hs = C / H, eps = cfg.layer_norm_eps;
  let x = new Float64Array(T * C);
  const we = w('bert.embeddings.word_embeddings.weight'), pe = w('bert.embeddings.position_embeddings.weight'),
    te = w('bert.embeddings.token_type_embeddings.weight');
  for (let t = 0; t < T; t++)
    for (let k = 0; k < C; k++)
      x[t * C + k] = we[ids[t] * C + k] + pe[t * C + k] + te[types[t] * C + k];
  x = layerNorm(x, T, C, w('bert.embeddings.LayerNorm.weight'), w('bert.embeddings.LayerNorm.bias'), eps);
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = (s) => w(`bert.encoder.layer.${l}.${s}`);
    const q = linear(x, T, C, p('attention.self.query.weight'), p('attention.self.query.bias'), C);
    const k = linear(x, T, C, p('attention.self.key.weight'), p('attention.self.key.bias'), C);
    const v = linear(x, T, C, p('attention.self.value.weight'), p('attention.self.value.bias'), C);
    const ctx = new Float64Array(T * C);
    for (let h = 0; h < H; h++)
      for (let i = 0; i < T; i++) {
        const s = new Float64Array(T);
        let mx = -Infinity;
        for (let j = 0; j < T; j++) {
          let d = 0;
          for (let e = 0; e < hs; e++) d += q[i * C + h * hs + e] * k[j * C + h * hs + e];
          s[j] = d / Math.sqrt(hs);
          mx = Math.max(mx, s[j]);
        }
        let z = 0;
        for (let j = 0; j < T; j++) z += (s[j] = Math.exp(s[j] - mx));
        for (let j = 0; j < T; j++)
          for (let e = 0; e < hs; e++) ctx[i * C + h * hs + e] += (s[j] / z) * v[j * C + h * hs + e];
      }
    const ao = linear(ctx, T, C, p('attention.output.dense.weight'), p('attention.output.dense.bias'), C);
    for (let i = 0; i < T * C; i++) ao[i] += x[i];
    x = layerNorm(ao, T, C, p('attention.output.LayerNorm.weight'), p('attention.output.LayerNorm.bias'), eps);
    const I = cfg.intermediate_size;
    const f = linear(x, T, C, p('intermediate.dense.weight'), p('intermediate.dense.bias'), I);
    for (let i = 0; i < T * I; i++) f[i] = 0.5 * f[i] * (1 + erf(f[i] / Math.SQRT2));
    const o = linear(f, T, I, p('output.dense.weight'), p('output.dense.bias'), C);
    for (let i = 0; i < T * C; i++) o[i] += x[i];
    x = layerNorm(o, T, C, p('output.LayerNorm.weight'), p('output.LayerNorm.bias'), eps);
  }
  return x;
}

// BertForSequenceClassification's logits (K) for one sequence
function logits(cfg, w, ids, types) {
  const C = cfg.hidden_size, x = encode(cfg, w, ids, types);
  const pooled = linear(x.subarray(0, C), 1, C, w('bert.pooler.dense.weight'), w('bert.pooler.dense.bias'), C).map(Math.tanh);
  const K = w('classifier.bias').length;
  return Array.from(linear(pooled, 1, C, w('classifier.weight'), w('classifier.bias'), K));
}

const softmax = (z) => { const m = Math.max(...z), e = z.map((v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0); return e.map((v) => v / s); };
const sigmoid = (z) => z.map((v) => 1 / (1 + Math.exp(-v)));

module.exports = { erf, encode, logits, softmax, sigmoid };
