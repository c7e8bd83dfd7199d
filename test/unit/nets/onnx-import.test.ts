/**
 * ONNX importer: opset gate, error collection, graph checks, per-op normalization to graph.ts's
 * forms, constant folding of shape subgraphs, and pattern fusion. Models are built directly from
 * the protobuf schema (test/helpers/onnx-build.ts); where semantics matter, onnxruntime-node runs
 * the original file and our re-export side by side.
 */
import { describe, expect, it } from 'vitest';
import type { Graph, Node, Tensor } from '../../../nets/graph.js';
import { exportOnnx } from '../../../nets/onnx/export.js';
import { importOnnx } from '../../../nets/onnx/import.js';
import { ModelProto } from '../../../nets/onnx/schema.js';
import { modelErrorOf } from '../../helpers/errors.js';
import { buildModel, f32, i64, scalar, type BModel, type BNode } from '../../helpers/onnx-build.js';
import { runOrt } from '../../helpers/ort.js';

function only(g: Graph, op: string): Node {
  const ns = g.nodes.filter((n) => n.op === op);
  expect(ns, `exactly one ${op}`).toHaveLength(1);
  return ns[0];
}

function rand(shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    d[i] = ((s >>> 0) / 2 ** 32) * 4 - 2;
  }
  return { dtype: 'float32', shape, data: d };
}

/** Unary float model: x → nodes → y. */
function chain(nodes: BNode[], opts: Partial<BModel> = {}): Uint8Array {
  return buildModel({ inputs: [{ name: 'x', shape: [2, 3] }], outputs: [{ name: 'y', shape: [2, 3] }], nodes, ...opts });
}

async function sameInOrt(original: Uint8Array, g: Graph, feeds: Record<string, Tensor>, tol = 0): Promise<void> {
  const a = await runOrt(original, feeds);
  const b = await runOrt(exportOnnx(g), feeds);
  for (const o of g.outputs) {
    expect([...b[o.name].dims]).toEqual([...a[o.name].dims]);
    const x = Array.from(a[o.name].data, Number);
    const y = Array.from(b[o.name].data, Number);
    for (let i = 0; i < x.length; i++) expect(Math.abs(x[i] - y[i]), `${o.name}[${i}]`).toBeLessThanOrEqual(tol);
  }
}

describe('importOnnx: opset gate and error reporting', () => {
  it('refuses default-domain opsets outside 9–17, naming the opset', () => {
    for (const opset of [8, 18]) {
      const e = modelErrorOf(() => importOnnx(chain([{ op: 'Relu', inputs: ['x'], outputs: ['y'] }], { opset }), 'm.onnx'));
      expect(e.problems[0].opset).toBe(opset);
      expect(e.message).toContain(`opset ${opset}`);
      expect(e.message).toContain('m.onnx');
    }
    for (const opset of [9, 17]) expect(importOnnx(chain([{ op: 'Relu', inputs: ['x'], outputs: ['y'] }], { opset })).opset).toBe(opset);
  });

  it('lists every unsupported node at once, with name, op, domain and opset', () => {
    const bytes = chain(
      [
        { name: 'leaky', op: 'LeakyRelu', inputs: ['x'], outputs: ['a'], attrs: { alpha: { f: 0.1 } } },
        { name: 'ok', op: 'Relu', inputs: ['a'], outputs: ['b'] },
        { name: 'custom', op: 'FancyAct', domain: 'com.example', inputs: ['b'], outputs: ['c'] },
        { name: 'lrn', op: 'LRN', inputs: ['c'], outputs: ['y'], attrs: { size: 3 } },
      ],
      { extraOpsets: [{ domain: 'com.example', version: 3 }] },
    );
    const e = modelErrorOf(() => importOnnx(bytes, 'bad.onnx'));
    const byNode = new Map(e.problems.map((p) => [p.node, p]));
    expect([...byNode.keys()].sort()).toEqual(['custom', 'leaky', 'lrn']);
    expect(byNode.get('leaky')).toMatchObject({ op: 'LeakyRelu', opset: 13 });
    expect(byNode.get('custom')).toMatchObject({ op: 'FancyAct', opset: 3 });
    expect(byNode.get('custom')!.message).toContain('com.example');
    expect(byNode.get('lrn')!.message).toContain('ai.onnx');
    expect(e.message).toContain('bad.onnx');
  });

  it('turns undecodable bytes into ModelError naming the file', () => {
    const good = chain([{ op: 'Relu', inputs: ['x'], outputs: ['y'] }]);
    for (const bytes of [good.subarray(0, good.length - 7), Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]), new TextEncoder().encode('not a model')]) {
      const e = modelErrorOf(() => importOnnx(bytes, 'trunc.onnx'));
      expect(e.file).toBe('trunc.onnx');
    }
    expect(modelErrorOf(() => importOnnx(new Uint8Array(0))).message).toContain('opset');
  });

  it('reports missing producers, duplicate producers and cycles', () => {
    const missing = modelErrorOf(() => importOnnx(chain([{ name: 'n', op: 'Add', inputs: ['x', 'ghost'], outputs: ['y'] }])));
    expect(missing.problems[0]).toMatchObject({ node: 'n', op: 'Add' });
    expect(missing.message).toContain("'ghost'");

    const dup = modelErrorOf(() =>
      importOnnx(
        chain([
          { name: 'a', op: 'Relu', inputs: ['x'], outputs: ['t'] },
          { name: 'b', op: 'Sigmoid', inputs: ['x'], outputs: ['t'] },
          { name: 'c', op: 'Relu', inputs: ['t'], outputs: ['y'] },
        ]),
      ),
    );
    expect(dup.message).toContain("'t' is produced more than once");

    const cyc = modelErrorOf(() =>
      importOnnx(
        chain([
          { name: 'a', op: 'Add', inputs: ['x', 'q'], outputs: ['p'] },
          { name: 'b', op: 'Relu', inputs: ['p'], outputs: ['q'] },
          { name: 'c', op: 'Relu', inputs: ['q'], outputs: ['y'] },
        ]),
      ),
    );
    expect(cyc.message).toContain('cycle');
  });

  it('sorts unsorted nodes and names unnamed ones uniquely', () => {
    const bytes = chain([
      { name: 'last', op: 'Sigmoid', inputs: ['b'], outputs: ['y'] },
      { name: '', op: 'Relu', inputs: ['a'], outputs: ['b'] },
      { name: '', op: 'Relu', inputs: ['x'], outputs: ['a'] },
    ]);
    const g = importOnnx(bytes);
    expect(g.nodes.map((n) => n.outputs[0])).toEqual(['a', 'b', 'y']);
    const names = g.nodes.map((n) => n.name);
    expect(new Set(names).size).toBe(3);
    expect(names.every((n) => n.length > 0)).toBe(true);
  });

  it('rejects initializers whose data does not match their dims, without allocating', () => {
    expect(importOnnx(rawInitModel([2, 3])).initializers.get('w')!.shape).toEqual([2, 3]);
    expect(modelErrorOf(() => importOnnx(rawInitModel([2, 4]))).message).toContain('need 32');
    // a header claiming 3 TB against 24 bytes of data: refused before anything is allocated
    const t0 = performance.now();
    const e = modelErrorOf(() => importOnnx(rawInitModel([2 ** 40, 3])));
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(e.message).toMatch(/exceed/);
    expect(modelErrorOf(() => importOnnx(rawInitModel([-1, 3]))).message).toContain('invalid dimension');
  });
});

/** Add(x, w) where w's dims are as given and its raw_data holds 24 bytes (6 floats). */
function rawInitModel(dims: number[]): Uint8Array {
  const vi = { type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: 2 }, { dim_value: 3 }] } } } };
  return ModelProto.encode({
    ir_version: 7,
    opset_import: [{ domain: '', version: 13 }],
    graph: {
      name: 'g',
      node: [{ name: 'n', op_type: 'Add', input: ['x', 'w'], output: ['y'] }],
      initializer: [{ name: 'w', dims, data_type: 1, raw_data: new Uint8Array(24) }],
      input: [{ name: 'x', ...vi }],
      output: [{ name: 'y', ...vi }],
    },
  }).finish();
}

describe('importOnnx: normalization to graph.ts forms', () => {
  it('fills every ONNX default (Conv from the weight shape, Gemm, pools, BatchNormalization)', () => {
    const bytes = buildModel({
      opset: 13,
      inputs: [{ name: 'x', shape: ['N', 2, 6, 6] }],
      outputs: [{ name: 'y' }],
      inits: {
        w: rand([4, 2, 3, 3], 1),
        s: f32([4], [1, 1, 1, 1]),
        b: f32([4], [0, 0, 0, 0]),
        m: f32([4], [0, 0, 0, 0]),
        v: f32([4], [1, 1, 1, 1]),
        gw: rand([4, 5], 2),
      },
      nodes: [
        { name: 'conv', op: 'Conv', inputs: ['x', 'w'], outputs: ['c'] },
        { name: 'bn', op: 'BatchNormalization', inputs: ['c', 's', 'b', 'm', 'v'], outputs: ['d'] },
        { name: 'mp', op: 'MaxPool', inputs: ['d'], outputs: ['e'], attrs: { kernel_shape: [2, 2] } },
        { name: 'ap', op: 'AveragePool', inputs: ['e'], outputs: ['f'], attrs: { kernel_shape: [1, 1] } },
        { name: 'gap', op: 'GlobalAveragePool', inputs: ['f'], outputs: ['g'] },
        { name: 'fl', op: 'Flatten', inputs: ['g'], outputs: ['h'] },
        { name: 'gemm', op: 'Gemm', inputs: ['h', 'gw'], outputs: ['y'] },
      ],
    });
    const g = importOnnx(bytes);
    expect(only(g, 'Conv').attrs).toEqual({ kernel_shape: [3, 3], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 });
    expect(only(g, 'BatchNormalization').attrs).toEqual({ epsilon: Math.fround(1e-5), momentum: Math.fround(0.9) });
    expect(only(g, 'MaxPool').attrs).toEqual({ kernel_shape: [2, 2], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], ceil_mode: 0 });
    expect(only(g, 'AveragePool').attrs).toEqual({ kernel_shape: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0], ceil_mode: 0, count_include_pad: 0 });
    expect(only(g, 'Flatten').attrs).toEqual({ axis: 1 });
    expect(only(g, 'Gemm').attrs).toEqual({ alpha: 1, beta: 1, transA: 0, transB: 0 });
    expect(g.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: [-1, 2, 6, 6] }]);
  });

  it('resolves auto_pad to explicit pads (hand-computed), and ORT agrees with the original', async () => {
    const model = (autoPad: string, stride: number, size: number): Uint8Array =>
      buildModel({
        inputs: [{ name: 'x', shape: [1, 1, size, size] }],
        outputs: [{ name: 'y' }],
        inits: { w: rand([2, 1, 3, 3], 5) },
        nodes: [{ name: 'conv', op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], attrs: { auto_pad: autoPad, strides: [stride, stride] } }],
      });
    // size 8, k 3, stride 2: out 4, total pad (4-1)*2 + 3 - 8 = 1 → UPPER puts it at the end, LOWER at the start
    const cases: [string, number, number, number[]][] = [
      ['SAME_UPPER', 2, 8, [0, 0, 1, 1]],
      ['SAME_LOWER', 2, 8, [1, 1, 0, 0]],
      ['SAME_UPPER', 2, 7, [1, 1, 1, 1]],
      ['SAME_UPPER', 1, 5, [1, 1, 1, 1]],
      ['VALID', 2, 8, [0, 0, 0, 0]],
    ];
    for (const [ap, s, size, pads] of cases) {
      const bytes = model(ap, s, size);
      const g = importOnnx(bytes);
      expect(only(g, 'Conv').attrs.pads, `${ap} stride ${s} size ${size}`).toEqual(pads);
      expect(only(g, 'Conv').attrs).not.toHaveProperty('auto_pad');
      await sameInOrt(bytes, g, { x: rand([1, 1, size, size], 9) });
    }
    // stride 1 needs no input size; stride 2 does
    const dyn = (s: number) =>
      buildModel({
        inputs: [{ name: 'x', shape: ['N', 1, 'H', 'W'] }],
        outputs: [{ name: 'y' }],
        inits: { w: rand([2, 1, 3, 3], 5) },
        nodes: [{ name: 'conv', op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], attrs: { auto_pad: 'SAME_UPPER', strides: [s, s] } }],
      });
    expect(only(importOnnx(dyn(1)), 'Conv').attrs.pads).toEqual([1, 1, 1, 1]);
    const e = modelErrorOf(() => importOnnx(dyn(2)));
    expect(e.problems[0]).toMatchObject({ node: 'conv', op: 'Conv' });
    expect(e.message).toContain('SAME_UPPER');
  });

  it('Clip: bounds from inputs (≥11) or attributes (<11) become attrs, ±Infinity when absent', () => {
    const g11 = importOnnx(chain([{ op: 'Clip', inputs: ['x', 'lo', 'hi'], outputs: ['y'] }], { opset: 11, inits: { lo: scalar(-1.5), hi: scalar(6) } }));
    expect(only(g11, 'Clip')).toMatchObject({ inputs: ['x'], attrs: { min: -1.5, max: 6 } });
    expect(g11.initializers.size).toBe(0);
    const gMax = importOnnx(chain([{ op: 'Clip', inputs: ['x', '', 'hi'], outputs: ['y'] }], { opset: 13, inits: { hi: scalar(2) } }));
    expect(only(gMax, 'Clip').attrs).toEqual({ min: -Infinity, max: 2 });
    const gNone = importOnnx(chain([{ op: 'Clip', inputs: ['x'], outputs: ['y'] }], { opset: 13 }));
    expect(only(gNone, 'Clip').attrs).toEqual({ min: -Infinity, max: Infinity });
    const g9 = importOnnx(chain([{ op: 'Clip', inputs: ['x'], outputs: ['y'], attrs: { min: { f: 0 }, max: { f: 6 } } }], { opset: 9 }));
    expect(only(g9, 'Clip').attrs).toEqual({ min: 0, max: 6 });
    const dynamic = modelErrorOf(() =>
      importOnnx(buildModel({ inputs: [{ name: 'x', shape: [2] }, { name: 'lo', shape: [] }], outputs: [{ name: 'y' }], nodes: [{ name: 'c', op: 'Clip', inputs: ['x', 'lo'], outputs: ['y'] }] })),
    );
    expect(dynamic.problems[0]).toMatchObject({ node: 'c', op: 'Clip' });
  });

  it('Pad, Reshape, Squeeze, Unsqueeze: operand inputs become attrs', () => {
    const x4 = [{ name: 'x', shape: [1, 2, 3, 4] }];
    const pad11 = importOnnx(
      buildModel({ opset: 11, inputs: x4, outputs: [{ name: 'y' }], inits: { p: i64([0, 0, 1, 2, 0, 0, 3, 4]), v: scalar(0.25) }, nodes: [{ op: 'Pad', inputs: ['x', 'p', 'v'], outputs: ['y'] }] }),
    );
    expect(only(pad11, 'Pad')).toMatchObject({ inputs: ['x'], attrs: { pads: [0, 0, 1, 2, 0, 0, 3, 4], mode: 'constant', value: 0.25 } });
    const pad9 = importOnnx(
      buildModel({ opset: 9, inputs: x4, outputs: [{ name: 'y' }], nodes: [{ op: 'Pad', inputs: ['x'], outputs: ['y'], attrs: { pads: [0, 0, 1, 1, 0, 0, 1, 1], mode: 'reflect' } }] }),
    );
    expect(only(pad9, 'Pad').attrs).toEqual({ pads: [0, 0, 1, 1, 0, 0, 1, 1], mode: 'reflect', value: 0 });

    const rs = importOnnx(buildModel({ inputs: x4, outputs: [{ name: 'y' }], inits: { s: i64([0, -1]) }, nodes: [{ op: 'Reshape', inputs: ['x', 's'], outputs: ['y'] }] }));
    expect(only(rs, 'Reshape')).toMatchObject({ inputs: ['x'], attrs: { shape: [0, -1] } });
    expect(rs.initializers.has('s')).toBe(false);

    const sq = importOnnx(
      buildModel({
        opset: 13,
        inputs: x4,
        outputs: [{ name: 'y' }],
        inits: { a: i64([0]), b: i64([-1]) },
        nodes: [
          { op: 'Squeeze', inputs: ['x', 'a'], outputs: ['t'] },
          { op: 'Unsqueeze', inputs: ['t', 'b'], outputs: ['y'] },
        ],
      }),
    );
    expect(only(sq, 'Squeeze')).toMatchObject({ inputs: ['x'], attrs: { axes: [0] } });
    expect(only(sq, 'Unsqueeze')).toMatchObject({ inputs: ['t'], attrs: { axes: [-1] } });
    const sq11 = importOnnx(
      buildModel({ opset: 11, inputs: x4, outputs: [{ name: 'y' }], nodes: [{ op: 'Unsqueeze', inputs: ['x'], outputs: ['y'], attrs: { axes: [0, 5] } }] }),
    );
    expect(only(sq11, 'Unsqueeze').attrs).toEqual({ axes: [0, 5] });
  });

  it('BatchNormalization drops unused training outputs, refuses used ones and spatial=0', () => {
    const bnModel = (outputs: string[], graphOut: string[], opset = 9, attrs = {}) =>
      buildModel({
        opset,
        inputs: [{ name: 'x', shape: [1, 2, 3, 3] }],
        outputs: graphOut.map((name) => ({ name })),
        inits: { s: f32([2], [1, 2]), b: f32([2], [0, 1]), m: f32([2], [0, 0]), v: f32([2], [1, 1]) },
        nodes: [{ name: 'bn', op: 'BatchNormalization', inputs: ['x', 's', 'b', 'm', 'v'], outputs, attrs }],
      });
    const g = importOnnx(bnModel(['y', 'rm', 'rv', 'sm', 'sv'], ['y']));
    expect(only(g, 'BatchNormalization').outputs).toEqual(['y']);
    const used = modelErrorOf(() => importOnnx(bnModel(['y', 'rm'], ['y', 'rm'])));
    expect(used.message).toContain("'rm'");
    const spatial = modelErrorOf(() => importOnnx(bnModel(['y'], ['y'], 9, { spatial: 0 })));
    expect(spatial.problems[0]).toMatchObject({ node: 'bn', op: 'BatchNormalization', opset: 9 });
  });

  it('Dropout becomes Identity; a used mask is refused', () => {
    const g = importOnnx(chain([{ op: 'Dropout', inputs: ['x', 'r'], outputs: ['y', 'mask'] }], { opset: 13, inits: { r: scalar(0.5) } }));
    expect(only(g, 'Identity')).toMatchObject({ inputs: ['x'], outputs: ['y'], attrs: {} });
    expect(g.nodes).toHaveLength(1);
  });

  it('Softmax: pre-13 coercion becomes a single axis where the two agree, else stays (coerce2d)', () => {
    const sm = (opset: number, shape: (number | string)[], attrs: Record<string, number> = {}) =>
      buildModel({ opset, inputs: [{ name: 'x', shape }], outputs: [{ name: 'y' }], nodes: [{ name: 's', op: 'Softmax', inputs: ['x'], outputs: ['y'], attrs }] });
    expect(only(importOnnx(sm(11, [4, 10])), 'Softmax').attrs).toEqual({ axis: 1 });
    expect(only(importOnnx(sm(13, [2, 3, 4])), 'Softmax').attrs).toEqual({ axis: -1 });
    expect(only(importOnnx(sm(11, [2, 3, 4], { axis: 2 })), 'Softmax').attrs).toEqual({ axis: 2 });
    expect(only(importOnnx(sm(11, [2, 3, 1, 1], { axis: 1 })), 'Softmax').attrs).toEqual({ axis: 1 });
    expect(only(importOnnx(sm(11, [2, 3, 4, 5], { axis: 1 })), 'Softmax').attrs).toEqual({ axis: 1, coerce2d: 1 });
    // a dynamic trailing dim might not be 1: the coerced form is right either way
    expect(only(importOnnx(sm(9, [2, 3, 'w'])), 'Softmax').attrs).toEqual({ axis: 1, coerce2d: 1 });
    const e = modelErrorOf(() => importOnnx(sm(11, [2, 3, 4, 5], { axis: 4 })));
    expect(e.problems[0]).toMatchObject({ node: 's', op: 'Softmax', opset: 11 });
  });
});

describe('importOnnx: constants and shape folding', () => {
  it('folds float subgraphs of constants through exact ops, bit for bit as ORT computes them; others stay', async () => {
    const w = rand([6, 4], 9);
    const bytes = buildModel({
      inputs: [{ name: 'x', shape: [2, 4] }],
      outputs: [{ name: 'y' }],
      inits: { w, two: scalar(2), k: scalar(0.75) },
      nodes: [
        { op: 'Transpose', inputs: ['w'], outputs: ['wt'], attrs: { perm: [1, 0] } },
        { op: 'Sqrt', inputs: ['two'], outputs: ['r2'] },
        { op: 'Div', inputs: ['wt', 'r2'], outputs: ['ws'] },
        { op: 'Sigmoid', inputs: ['k'], outputs: ['sk'] },
        { op: 'MatMul', inputs: ['x', 'ws'], outputs: ['m'] },
        { op: 'Mul', inputs: ['m', 'sk'], outputs: ['y'] },
      ],
    });
    const g = importOnnx(bytes);
    expect(g.nodes.map((n) => n.op)).toEqual(['Sigmoid', 'MatMul', 'Mul']);
    const ws = g.initializers.get('ws')!;
    expect(ws.shape).toEqual([4, 6]);
    // the folded weight equals ORT's value of the same subgraph, bit for bit
    const probe = buildModel({
      inputs: [{ name: 'x', shape: [1] }],
      outputs: [{ name: 'ws' }],
      inits: { w, two: scalar(2) },
      nodes: [
        { op: 'Transpose', inputs: ['w'], outputs: ['wt'], attrs: { perm: [1, 0] } },
        { op: 'Sqrt', inputs: ['two'], outputs: ['r2'] },
        { op: 'Div', inputs: ['wt', 'r2'], outputs: ['ws'] },
      ],
    });
    const ref = (await runOrt(probe, { x: f32([1], [0]) })).ws;
    expect(Array.from(ws.data as Float32Array)).toEqual(Array.from(ref.data as Float32Array));
  });

  it('takes weights from Constant nodes (value, value_float, value_floats, value_ints)', () => {
    const w = rand([3, 2, 1, 1], 3);
    const g = importOnnx(
      buildModel({
        inputs: [{ name: 'x', shape: [1, 2, 4, 4] }],
        outputs: [{ name: 'y' }],
        nodes: [
          { op: 'Constant', inputs: [], outputs: ['w'], attrs: { value: w } },
          { op: 'Constant', inputs: [], outputs: ['k'], attrs: { value_float: { f: 0.5 } } },
          { op: 'Constant', inputs: [], outputs: ['bias'], attrs: { value_floats: { floats: [1, 2, 3] } } },
          { op: 'Constant', inputs: [], outputs: ['shape'], attrs: { value_ints: [1, -1] } },
          { op: 'Conv', inputs: ['x', 'w', 'bias'], outputs: ['c'] },
          { op: 'Mul', inputs: ['c', 'k'], outputs: ['m'] },
          { op: 'Reshape', inputs: ['m', 'shape'], outputs: ['y'] },
        ],
      }),
    );
    expect(g.nodes.map((n) => n.op)).toEqual(['Conv', 'Mul', 'Reshape']);
    expect([...g.initializers.keys()]).toEqual(['w', 'bias', 'k']);
    expect(g.initializers.get('w')).toEqual(w);
    expect(g.initializers.get('k')).toEqual({ dtype: 'float32', shape: [], data: Float32Array.of(0.5) });
    expect(g.initializers.get('bias')).toEqual({ dtype: 'float32', shape: [3], data: Float32Array.of(1, 2, 3) });
    expect(only(g, 'Reshape').attrs.shape).toEqual([1, -1]);
  });

  it('folds the PyTorch flatten subgraph (Shape→Gather→Unsqueeze→Concat→Reshape) with a dynamic batch', async () => {
    const bytes = buildModel({
      opset: 13,
      inputs: [{ name: 'x', shape: ['N', 2, 2, 2] }],
      outputs: [{ name: 'y', shape: ['N', 8] }],
      inits: { zero: i64([0], true), ax: i64([0]), minus1: i64([-1]) },
      nodes: [
        { op: 'Relu', inputs: ['x'], outputs: ['r'] },
        { op: 'Shape', inputs: ['r'], outputs: ['s'] },
        { op: 'Gather', inputs: ['s', 'zero'], outputs: ['n'], attrs: { axis: 0 } },
        { op: 'Unsqueeze', inputs: ['n', 'ax'], outputs: ['n1'] },
        { op: 'Concat', inputs: ['n1', 'minus1'], outputs: ['shape'], attrs: { axis: 0 } },
        { op: 'Reshape', inputs: ['r', 'shape'], outputs: ['y'] },
      ],
    });
    const g = importOnnx(bytes);
    expect(g.nodes.map((n) => n.op)).toEqual(['Relu', 'Reshape']);
    expect(only(g, 'Reshape').attrs).toEqual({ shape: [0, -1] });
    expect(g.initializers.size).toBe(0);
    await sameInOrt(bytes, g, { x: rand([3, 2, 2, 2], 4) });
  });

  it('folds a shape entry that is a static dim, refuses one that is a dynamic non-batch dim', () => {
    const model = (idx: number) =>
      buildModel({
        opset: 13,
        inputs: [{ name: 'x', shape: ['N', 4, 'H', 3] }],
        outputs: [{ name: 'y' }],
        inits: { i: i64([idx]), m1: i64([-1]) },
        nodes: [
          { op: 'Shape', inputs: ['x'], outputs: ['s'] },
          { op: 'Gather', inputs: ['s', 'i'], outputs: ['d'], attrs: { axis: 0 } },
          { op: 'Concat', inputs: ['m1', 'd'], outputs: ['shape'], attrs: { axis: 0 } },
          { name: 'rs', op: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] },
        ],
      });
    expect(only(importOnnx(model(3)), 'Reshape').attrs.shape).toEqual([-1, 3]);
    expect(only(importOnnx(model(1)), 'Reshape').attrs.shape).toEqual([-1, 4]);
    const e = modelErrorOf(() => importOnnx(model(2)));
    expect(e.problems[0]).toMatchObject({ node: 'rs', op: 'Reshape' });
  });
});

describe('importOnnx: fusion', () => {
  const c = { half: scalar(0.5), one: scalar(1), sqrt2: scalar(Math.SQRT2), inv: scalar(Math.SQRT1_2), k: scalar(0.044715), s2pi: scalar(Math.sqrt(2 / Math.PI)), three: scalar(3) };
  const gelu = (nodes: BNode[], extraOutputs: string[] = []) =>
    buildModel({ inputs: [{ name: 'x', shape: [2, 5] }], outputs: [{ name: 'y' }, ...extraOutputs.map((name) => ({ name }))], inits: c, nodes });

  it('recognises decomposed exact GELU in its usual orderings', async () => {
    const orders: BNode[][] = [
      // PyTorch: ((x · (erf(x/√2) + 1)) · 0.5)
      [
        { op: 'Div', inputs: ['x', 'sqrt2'], outputs: ['a'] },
        { op: 'Erf', inputs: ['a'], outputs: ['b'] },
        { op: 'Add', inputs: ['b', 'one'], outputs: ['c'] },
        { op: 'Mul', inputs: ['x', 'c'], outputs: ['d'] },
        { name: 'last', op: 'Mul', inputs: ['d', 'half'], outputs: ['y'] },
      ],
      // (x · 0.5) · (1 + erf(x · 1/√2))
      [
        { op: 'Mul', inputs: ['x', 'half'], outputs: ['h'] },
        { op: 'Mul', inputs: ['inv', 'x'], outputs: ['a'] },
        { op: 'Erf', inputs: ['a'], outputs: ['b'] },
        { op: 'Add', inputs: ['one', 'b'], outputs: ['c'] },
        { name: 'last', op: 'Mul', inputs: ['c', 'h'], outputs: ['y'] },
      ],
      // x · ((1 + erf(x/√2)) · 0.5)
      [
        { op: 'Div', inputs: ['x', 'sqrt2'], outputs: ['a'] },
        { op: 'Erf', inputs: ['a'], outputs: ['b'] },
        { op: 'Add', inputs: ['b', 'one'], outputs: ['c'] },
        { op: 'Mul', inputs: ['half', 'c'], outputs: ['d'] },
        { name: 'last', op: 'Mul', inputs: ['x', 'd'], outputs: ['y'] },
      ],
    ];
    for (const nodes of orders) {
      const bytes = gelu(nodes);
      const g = importOnnx(bytes);
      expect(g.nodes).toEqual([{ name: 'last', op: 'Gelu', inputs: ['x'], outputs: ['y'], attrs: { approximate: 'none' } }]);
      expect(g.initializers.size).toBe(0);
      await sameInOrt(bytes, g, { x: rand([2, 5], 7) }, 1e-6);
    }
  });

  it('recognises the tanh approximation (Pow and x·x·x forms)', async () => {
    const tail: BNode[] = [
      { op: 'Add', inputs: ['x', 'm'], outputs: ['w'] },
      { op: 'Mul', inputs: ['w', 's2pi'], outputs: ['u'] },
      { op: 'Tanh', inputs: ['u'], outputs: ['v'] },
      { op: 'Add', inputs: ['v', 'one'], outputs: ['a'] },
      { op: 'Mul', inputs: ['h', 'a'], outputs: ['y'], name: 'last' },
    ];
    const pow: BNode[] = [
      { op: 'Mul', inputs: ['x', 'half'], outputs: ['h'] },
      { op: 'Pow', inputs: ['x', 'three'], outputs: ['x3'] },
      { op: 'Mul', inputs: ['x3', 'k'], outputs: ['m'] },
      ...tail,
    ];
    const muls: BNode[] = [
      { op: 'Mul', inputs: ['x', 'half'], outputs: ['h'] },
      { op: 'Mul', inputs: ['x', 'x'], outputs: ['x2'] },
      { op: 'Mul', inputs: ['x', 'x2'], outputs: ['x3'] },
      { op: 'Mul', inputs: ['k', 'x3'], outputs: ['m'] },
      ...tail,
    ];
    for (const nodes of [pow, muls]) {
      const bytes = gelu(nodes);
      const g = importOnnx(bytes);
      expect(g.nodes).toEqual([{ name: 'last', op: 'Gelu', inputs: ['x'], outputs: ['y'], attrs: { approximate: 'tanh' } }]);
      await sameInOrt(bytes, g, { x: rand([2, 5], 8) }, 1e-6);
    }
  });

  it('does not fuse when an intermediate is used elsewhere', () => {
    const nodes: BNode[] = [
      { op: 'Div', inputs: ['x', 'sqrt2'], outputs: ['a'] },
      { op: 'Erf', inputs: ['a'], outputs: ['b'] },
      { op: 'Add', inputs: ['b', 'one'], outputs: ['c'] },
      { op: 'Mul', inputs: ['x', 'c'], outputs: ['d'] },
      { op: 'Mul', inputs: ['d', 'half'], outputs: ['y'] },
    ];
    expect(importOnnx(gelu(nodes, ['b'])).nodes.map((n) => n.op)).toEqual(['Div', 'Erf', 'Add', 'Mul', 'Mul']);
    expect(importOnnx(gelu([...nodes, { op: 'Relu', inputs: ['c'], outputs: ['z'] }], ['z'])).nodes.map((n) => n.op)).not.toContain('Gelu');
    // a Pow that is not a cube is no GELU: the nodes stay as they are
    const notCube = [
      { op: 'Mul', inputs: ['x', 'half'], outputs: ['h'] },
      { op: 'Pow', inputs: ['x', 'one'], outputs: ['x3'] },
      { op: 'Mul', inputs: ['x3', 'k'], outputs: ['m'] },
      { op: 'Add', inputs: ['x', 'm'], outputs: ['w'] },
      { op: 'Mul', inputs: ['w', 's2pi'], outputs: ['u'] },
      { op: 'Tanh', inputs: ['u'], outputs: ['v'] },
      { op: 'Add', inputs: ['v', 'one'], outputs: ['a'] },
      { op: 'Mul', inputs: ['h', 'a'], outputs: ['y'] },
    ];
    expect(importOnnx(gelu(notCube)).nodes.map((n) => n.op)).toEqual(['Mul', 'Pow', 'Mul', 'Add', 'Mul', 'Tanh', 'Add', 'Mul']);
  });

  it('Mul(x, Sigmoid(x)) → Swish, Mul(x, HardSigmoid(x; 1/6, 1/2)) → HardSwish, others untouched', () => {
    const sw = importOnnx(
      chain([
        { op: 'Sigmoid', inputs: ['x'], outputs: ['s'] },
        { name: 'm', op: 'Mul', inputs: ['s', 'x'], outputs: ['y'] },
      ]),
    );
    expect(sw.nodes).toEqual([{ name: 'm', op: 'Swish', inputs: ['x'], outputs: ['y'], attrs: {} }]);
    const hs = importOnnx(
      chain([
        { op: 'HardSigmoid', inputs: ['x'], outputs: ['s'], attrs: { alpha: { f: 1 / 6 }, beta: { f: 0.5 } } },
        { name: 'm', op: 'Mul', inputs: ['x', 's'], outputs: ['y'] },
      ]),
    );
    expect(hs.nodes).toEqual([{ name: 'm', op: 'HardSwish', inputs: ['x'], outputs: ['y'], attrs: {} }]);
    const gate = buildModel({
      inputs: [{ name: 'x', shape: [2, 3] }, { name: 'z', shape: [2, 3] }],
      outputs: [{ name: 'y' }],
      nodes: [
        { op: 'Sigmoid', inputs: ['z'], outputs: ['s'] },
        { op: 'Mul', inputs: ['x', 's'], outputs: ['y'] },
      ],
    });
    expect(importOnnx(gate).nodes.map((n) => n.op)).toEqual(['Sigmoid', 'Mul']);
    const se = importOnnx(
      chain([
        { op: 'HardSigmoid', inputs: ['x'], outputs: ['s'], attrs: { alpha: { f: 0.2 }, beta: { f: 0.5 } } },
        { op: 'Mul', inputs: ['x', 's'], outputs: ['y'] },
      ]),
    );
    expect(se.nodes.map((n) => n.op)).toEqual(['HardSigmoid', 'Mul']);
  });

  it("PaddlePaddle's x·Sigmoid(x·1) → Swish, as ORT computes it; not with a 1 that adds axes", async () => {
    const inits = { one: scalar(1), wide: f32([1, 1, 1], [1]) };
    const x = { dtype: 'float32' as const, shape: [2, 3], data: Float32Array.of(-4, -3, -1.5, 0, 2.9, 7) };
    const sw = chain(
      [
        { op: 'Mul', inputs: ['x', 'one'], outputs: ['x1'] },
        { op: 'Sigmoid', inputs: ['x1'], outputs: ['s'] },
        { name: 'm', op: 'Mul', inputs: ['x', 's'], outputs: ['y'] },
      ],
      { inits },
    );
    const swg = importOnnx(sw);
    expect(swg.nodes).toEqual([{ name: 'm', op: 'Swish', inputs: ['x'], outputs: ['y'], attrs: {} }]);
    await sameInOrt(sw, swg, { x }, 1e-6);
    const wide = chain(
      [
        { op: 'Mul', inputs: ['x', 'wide'], outputs: ['x1'] },
        { op: 'Sigmoid', inputs: ['x1'], outputs: ['s'] },
        { op: 'Mul', inputs: ['x', 's'], outputs: ['y'] },
      ],
      { inits, outputs: [{ name: 'y' }] },
    );
    expect(importOnnx(wide).nodes.map((n) => n.op)).toEqual(['Mul', 'Sigmoid', 'Mul']);
  });
});
