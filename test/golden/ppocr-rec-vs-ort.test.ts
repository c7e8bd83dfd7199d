/**
 * ppocr-rec (PP-OCRv4's recognizer, opset 9, SVTR neck with self-attention): the qloom FP32 executor
 * on the imported graph against onnxruntime-node running the original file, on rendered text lines
 * preprocessed as PP-OCR's recognizer does (height 48 keeping the aspect, (x/255 − 0.5)/0.5, zero
 * padding on the right to the bound width). Error measure: max |ours − ORT| ≤ 1e-4 × the range of
 * ORT's outputs. And the import's fused graph written back out (LayerNorm decomposed again for
 * opset 13) computes in ORT exactly what the original file does.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { preprocessInto } from '../../nets/data/photos.js';
import { getPreprocess, type Preprocess } from '../../nets/data/preprocess.js';
import { renderTextLine, type TextLineStyle } from '../../nets/data/textlines.js';
import { runFp32 } from '../../nets/fp32.js';
import type { Graph, Tensor } from '../../nets/graph.js';
import { exportOnnx } from '../../nets/onnx/export.js';
import { importOnnx } from '../../nets/onnx/import.js';
import { loadModel } from '../../nets/zoo/index.js';
import { runOrt } from '../helpers/ort.js';

const LINES: readonly Pick<TextLineStyle, 'text' | 'face' | 'fontPx'>[] = [
  { text: 'Hello world 2026', face: 0, fontPx: 32 },
  { text: 'quantized attention', face: 1, fontPx: 24 },
  { text: 'PP-OCRv4 (SVTR), 48x320!', face: 2, fontPx: 40 },
  { text: 'ok', face: 0, fontPx: 20 },
];

function style(l: (typeof LINES)[number], i: number): TextLineStyle {
  const pad = Math.round(l.fontPx * 0.2);
  return { ...l, ink: [20, 25, 30], paper: [235, 232, 228], padLeft: pad, padRight: pad, padTop: 3, padBottom: 3, tiltDeg: i % 2 ? 0.7 : -0.4, noise: 4, noiseSeed: 100 + i };
}

/** The lines as one [n, 3, 48, width] batch: PP-OCR's recognizer preprocessing at `width`. */
function batch(width: number): Tensor {
  const p: Preprocess = { ...getPreprocess('ppocr-cls'), model: 'ppocr-rec', width };
  const per = 3 * 48 * width;
  const data = new Float32Array(LINES.length * per);
  LINES.forEach((l, i) => preprocessInto(renderTextLine(style(l, i)), p, data, i * per));
  return { dtype: 'float32', shape: [LINES.length, 3, 48, width], data };
}

async function compare(graph: Graph, source: string, x: Tensor): Promise<{ err: number; range: number }> {
  const ours = runFp32(graph, { x });
  const ref = await runOrt(new Uint8Array(readFileSync(source)), { x });
  const name = graph.outputs[0].name;
  expect([...ours[name].shape]).toEqual([...ref[name].dims]);
  let lo = Infinity;
  let hi = -Infinity;
  let err = 0;
  const d = ours[name].data as Float32Array;
  for (let i = 0; i < d.length; i++) {
    const r = Number(ref[name].data[i]);
    lo = Math.min(lo, r);
    hi = Math.max(hi, r);
    err = Math.max(err, Math.abs(d[i] - r));
  }
  return { err, range: hi - lo };
}

describe('ppocr-rec: FP32 executor equals onnxruntime-node on rendered text lines', () => {
  it('at the default width 320: [n, 40, 6625] per-step symbol probabilities within 1e-4 of the range', async () => {
    const { graph, source } = loadModel('ppocr-rec');
    expect(graph.inputs[0].shape).toEqual([-1, 3, 48, 320]);
    expect(graph.outputs[0].shape).toEqual([-1, 40, 6625]);
    const { err, range } = await compare(graph, source, batch(320));
    expect(range).toBeGreaterThan(0.5);
    expect(err).toBeLessThanOrEqual(1e-4 * range);
  });

  it('at a bound width of 160 (20 steps)', async () => {
    const { graph, source } = loadModel('ppocr-rec', { width: 160 });
    expect(graph.outputs[0].shape).toEqual([-1, 20, 6625]);
    const { err, range } = await compare(graph, source, batch(160));
    expect(err).toBeLessThanOrEqual(1e-4 * range);
  });

  it('export → import is a fixed point, and the exported graph runs in ORT bit for bit like the original file', async () => {
    const { graph, source } = loadModel('ppocr-rec');
    const bytes = exportOnnx(graph);
    const back = importOnnx(bytes);
    expect(back.nodes).toEqual(graph.nodes);
    expect(back.inputs).toEqual(graph.inputs);
    expect(back.outputs).toEqual(graph.outputs);
    const x = batch(320);
    const name = graph.outputs[0].name;
    const a = (await runOrt(new Uint8Array(readFileSync(source)), { x }))[name].data as Float32Array;
    const b = (await runOrt(bytes, { x }))[name].data as Float32Array;
    expect(Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(a.buffer, a.byteOffset, a.byteLength))).toBe(true);
  });

  it('imports as single ops: 5 LayerNormalization, Swish, attention MatMuls on activations, no decomposed statistics left', () => {
    const { graph } = loadModel('ppocr-rec');
    const count = (op: string) => graph.nodes.filter((n) => n.op === op).length;
    expect(count('LayerNormalization')).toBe(5);
    expect(count('Swish')).toBe(7);
    for (const op of ['ReduceMean', 'Pow', 'Sqrt', 'Sigmoid']) expect(count(op), op).toBe(0);
    // Q·Kᵀ and P·V of two attention blocks: both operands computed, neither an initializer
    const attention = graph.nodes.filter((n) => n.op === 'MatMul' && n.inputs.every((i) => !graph.initializers.has(i)));
    expect(attention).toHaveLength(4);
    // the opset-9 Softmaxes all normalize over their last axis, which their single-axis form says
    for (const n of graph.nodes.filter((m) => m.op === 'Softmax')) expect(n.attrs.coerce2d).toBeUndefined();
  });
});
