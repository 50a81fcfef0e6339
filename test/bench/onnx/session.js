// test/bench/onnx/session.js: the ONNX Runtime session every bench script opens (run.js, rerank.js):
// THREADS intra-op threads, one inter-op thread, sequential execution, all graph optimisations
'use strict';
const ort = require('onnxruntime-node');

// an InferenceSession of the model file at the given thread count
function openSession(modelPath, threads) {
  return ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}

module.exports = { ort, openSession };
