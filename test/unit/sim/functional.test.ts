/**
 * The timing run's functional sink, driven by tile events this test emits itself (a stand-in for
 * the engine): for every dataflow's tiling and block order, outputs and overflow reports equal
 * runQuantized's with the same accumulation order; tiles out of order or missing are refused.
 */
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../../arch/presets.js';
import { validateArchSpec, type ArchSpec, type Dataflow } from '../../../arch/spec.js';
import { InvariantError } from '../../../nets/errors.js';
import type { Tensor } from '../../../nets/graph.js';
import { Prng } from '../../../nets/prng.js';
import type { QLayer, QLinearLayer, QParams, QTensorInfo, QuantizedNetwork } from '../../../qnet/network.js';
import type { FunctionalSink, TileEvent } from '../../../sim/events.js';
import { createFunctionalSink, timingAccumulator, timingOrder } from '../../../sim/functional.js';
import { runQuantized } from '../../../sim/qexec.js';

const qp = (scale: number, zp: number, bits = 8, signed = false): QParams => ({
  scale: Float32Array.of(scale),
  zeroPoint: Int32Array.of(zp),
  axis: -1,
  bits,
  signed,
  narrow: false,
});

function ints(rng: Prng, n: number, lo: number, hi: number): Int32Array {
  return Int32Array.from({ length: n }, () => lo + (rng.int(hi - lo + 1)));
}

const NONE = { kind: 'none' } as const;

/**
 * x → Q → conv 3×3 (per-channel int8, ReLU) → depthwise conv 3×3 stride 2 (uint8 weights, z_w = 100:
 * the z_w·Σq_x term) → flatten → gemm → DQ.
 */
function testNet(seed: number): QuantizedNetwork {
  const rng = new Prng(seed);
  const conv = (name: string, input: string, w: { shape: [number, number, number, number]; data: Int32Array; q: QParams }, group: number, stride: number, act: QLinearLayer['activation']): QLinearLayer => ({
    kind: 'conv',
    name,
    inputs: [input],
    output: name,
    weight: w,
    bias: ints(rng, w.shape[0], -3000, 3000),
    kernel: [3, 3],
    strides: [stride, stride],
    pads: [1, 1, 1, 1],
    dilations: [1, 1],
    group,
    activation: act,
  });
  const c1q: QParams = { scale: Float32Array.from({ length: 8 }, () => 0.01 + rng.int(100) / 5000), zeroPoint: new Int32Array(8), axis: 0, bits: 8, signed: true, narrow: false };
  const layers: QLayer[] = [
    { kind: 'quantize', name: 'q', inputs: ['x'], output: 'xq' },
    conv('c1', 'xq', { shape: [8, 3, 3, 3], data: ints(rng, 8 * 27, -127, 127), q: c1q }, 1, 1, { kind: 'clamp', fn: 'relu', lo: 7, hi: 255 }),
    conv('c2', 'c1', { shape: [8, 1, 3, 3], data: ints(rng, 72, 0, 255), q: qp(0.02, 100) }, 8, 2, NONE),
    { kind: 'flatten', name: 'f', inputs: ['c2'], output: 'c2f', param: [1] },
    {
      kind: 'gemm',
      name: 'fc',
      inputs: ['c2f'],
      output: 'fc',
      weight: { shape: [10, 128], data: ints(rng, 1280, -127, 127), q: qp(0.01, 0, 8, true) },
      bias: ints(rng, 10, -500, 500),
      kernel: [1, 1],
      strides: [1, 1],
      pads: [0, 0, 0, 0],
      dilations: [1, 1],
      group: 1,
      activation: NONE,
    },
    { kind: 'dequantize', name: 'dq', inputs: ['fc'], output: 'y' },
  ];
  const tensors = new Map<string, QTensorInfo>([
    ['xq', { name: 'xq', shape: [-1, 3, 8, 8], q: qp(1 / 64, 128) }],
    ['c1', { name: 'c1', shape: [-1, 8, 8, 8], q: qp(0.05, 7) }],
    ['c2', { name: 'c2', shape: [-1, 8, 4, 4], q: qp(0.3, 120) }],
    ['c2f', { name: 'c2f', shape: [-1, 128], q: qp(0.3, 120) }],
    ['fc', { name: 'fc', shape: [-1, 10], q: qp(0.5, 128) }],
  ]);
  return {
    name: 'functional-test',
    inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 3, 8, 8] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 10] }],
    tensors,
    layers,
  };
}

function feedsOf(seed: number, n: number): Record<string, Tensor> {
  const rng = new Prng(seed);
  return { x: { dtype: 'float32', shape: [n, 3, 8, 8], data: Float32Array.from({ length: n * 192 }, () => rng.next() * 3 - 1) } };
}

function archSpec(dataflow: Dataflow, bits: number, overflow: 'wrap' | 'saturate' | 'ideal', psumBits = bits, form: 'raw' | 'zp-subtract' = 'raw'): ArchSpec {
  return validateArchSpec({ ...PRESETS['edge-npu'], name: 'test', array: { rows: 8, cols: 4, dataflow }, accumulator: { bits, overflow, psumBits }, pe: { form } });
}

/** GEMM view of a linear layer for this test's net: rows M, channels per group, K, groups. */
function gemmView(net: QuantizedNetwork, l: QLinearLayer, n: number): { m: number; ocg: number; k: number; groups: number } {
  const out = net.tensors.get(l.output)!.shape;
  const w = l.weight.shape;
  if (l.kind === 'gemm') return { m: n, ocg: w[0], k: w[1], groups: 1 };
  return { m: n * out[2] * out[3], ocg: w[0] / l.group, k: w[1] * w[2] * w[3], groups: l.group };
}

/**
 * Drives the sink like an engine would: WS/IS fold K in tiles of `rows` (a channel block of
 * `cols` × all rows, or a row block of `cols` × all channels), OS one K tile per (rows × cols)
 * block; `shuffle` permutes the order of blocks within each K step.
 */
function drive(sink: FunctionalSink, net: QuantizedNetwork, spec: ArchSpec, n: number, shuffle: Prng | null): void {
  const { rows, cols, dataflow } = spec.array;
  net.layers.forEach((l, li) => {
    sink.beginLayer(li);
    if (l.kind === 'conv' || l.kind === 'gemm') {
      const v = gemmView(net, l, n);
      const kt = dataflow === 'os' ? v.k : rows;
      const kFolds = Math.ceil(v.k / kt);
      for (let g = 0; g < v.groups; g++) {
        for (let kf = 0; kf < kFolds; kf++) {
          const blocks: [number, number, number, number][] = [];
          if (dataflow === 'ws') for (let n0 = 0; n0 < v.ocg; n0 += cols) blocks.push([0, v.m, n0, Math.min(v.ocg, n0 + cols)]);
          else if (dataflow === 'is') for (let m0 = 0; m0 < v.m; m0 += cols) blocks.push([m0, Math.min(v.m, m0 + cols), 0, v.ocg]);
          else for (let m0 = 0; m0 < v.m; m0 += rows) for (let n0 = 0; n0 < v.ocg; n0 += cols) blocks.push([m0, Math.min(v.m, m0 + rows), n0, Math.min(v.ocg, n0 + cols)]);
          const perm = shuffle ? shuffle.permutation(blocks.length) : Int32Array.from(blocks.keys());
          for (const bi of perm) {
            const [m0, m1, n0, n1] = blocks[bi];
            const t: TileEvent = { layer: li, group: g, m0, m1, n0, n1, k0: kf * kt, k1: Math.min(v.k, (kf + 1) * kt), kFold: kf, kFolds, cycle: 0 };
            sink.tile(t);
          }
        }
      }
    }
    sink.endLayer(li);
  });
}

function plain(t: Tensor): { dtype: string; shape: number[]; data: number[] } {
  return { dtype: t.dtype, shape: [...t.shape], data: Array.from(t.data as ArrayLike<number>, Number) };
}

function reference(net: QuantizedNetwork, feeds: Record<string, Tensor>, spec: ArchSpec) {
  return runQuantized(net, feeds, { requant: { mode: 'float' }, acc: timingAccumulator(spec), order: timingOrder(spec), form: spec.pe.form });
}

describe('createFunctionalSink', () => {
  const cases: [Dataflow, number, 'wrap' | 'saturate' | 'ideal', number, 'raw' | 'zp-subtract'][] = [
    ['ws', 32, 'wrap', 32, 'raw'],
    ['os', 32, 'wrap', 32, 'raw'],
    ['is', 32, 'wrap', 32, 'raw'],
    ['ws', 16, 'wrap', 16, 'raw'],
    ['os', 16, 'saturate', 16, 'raw'],
    ['is', 16, 'saturate', 16, 'zp-subtract'],
    ['ws', 16, 'saturate', 12, 'raw'],
    ['is', 18, 'ideal', 14, 'zp-subtract'],
  ];
  it.each(cases)('%s, %i-bit %s accumulator, %i-bit partial sums, %s form: equals runQuantized bit for bit', (dataflow, bits, policy, psumBits, form) => {
    const net = testNet(7);
    const feeds = feedsOf(11, 3);
    const spec = archSpec(dataflow, bits, policy, psumBits, form);
    const sink = createFunctionalSink(net, spec, feeds, { requant: { mode: 'float' }, engineBatch: 3 });
    drive(sink, net, spec, 3, new Prng(5));
    const got = sink.result();
    const want = reference(net, feeds, spec);
    expect(plain(got.outputs.y)).toEqual(plain(want.outputs.y));
    expect(Object.keys(got.overflow)).toEqual(['c1', 'c2', 'fc']);
    expect(got.overflow).toEqual(want.overflow);
    expect(got.accumulators).toEqual(want.accumulators);
    if (bits === 16) expect(Object.values(got.overflow).some((r) => r.events > 0)).toBe(true);
    if (psumBits < bits) expect(Object.values(got.overflow).some((r) => r.psumEvents > 0)).toBe(true);
  });

  it.each(['ws', 'os'] as const)('%s: a one-image timing run drives a batch of 4 (each tile runs for every image)', (dataflow) => {
    const net = testNet(9);
    const feeds = feedsOf(12, 4);
    const spec = archSpec(dataflow, 16, 'wrap', 14);
    const sink = createFunctionalSink(net, spec, feeds, { requant: { mode: 'float' } });
    drive(sink, net, spec, 1, new Prng(6));
    const got = sink.result();
    const want = reference(net, feeds, spec);
    expect(plain(got.outputs.y)).toEqual(plain(want.outputs.y));
    expect(got.overflow).toEqual(want.overflow);
  });

  it('narrow accumulators really overflow here, so the comparison can fail', () => {
    const net = testNet(7);
    const feeds = feedsOf(11, 3);
    const wide = reference(net, feeds, archSpec('ws', 32, 'wrap'));
    const narrow = reference(net, feeds, archSpec('ws', 16, 'saturate'));
    expect(wide.overflow.c1.events + wide.overflow.c2.events).toBe(0);
    expect(narrow.overflow.c1.events + narrow.overflow.c2.events).toBeGreaterThan(0);
    expect(plain(narrow.outputs.y)).not.toEqual(plain(wide.outputs.y));
    // the order matters under a narrow accumulator: one K tile reports other overflows than tiles of 8
    const oneTile = runQuantized(net, feeds, { requant: { mode: 'float' }, acc: { bits: 16, policy: 'saturate' }, order: { kOrder: 'kkc', kTile: 0 }, form: 'raw' });
    expect(oneTile.overflow).not.toEqual(narrow.overflow);
  });

  it('fixed-point requant runs through the same sink', () => {
    const net = testNet(3);
    const feeds = feedsOf(4, 2);
    const spec = archSpec('ws', 32, 'wrap');
    const sink = createFunctionalSink(net, spec, feeds, { requant: { mode: 'fixed' }, engineBatch: 2 });
    drive(sink, net, spec, 2, null);
    const want = runQuantized(net, feeds, { requant: { mode: 'fixed' }, acc: timingAccumulator(spec), order: timingOrder(spec), form: 'raw' });
    expect(plain(sink.result().outputs.y)).toEqual(plain(want.outputs.y));
  });

  it('layers without events run before the next layer that has one', () => {
    const net = testNet(7);
    const feeds = feedsOf(11, 2);
    const spec = archSpec('os', 32, 'wrap');
    const sink = createFunctionalSink(net, spec, feeds, { requant: { mode: 'float' }, engineBatch: 2 });
    // only the linear layers get events
    const only: FunctionalSink = {
      beginLayer: (l) => (net.layers[l].kind === 'conv' || net.layers[l].kind === 'gemm' ? sink.beginLayer(l) : undefined),
      tile: (t) => sink.tile(t),
      endLayer: (l) => (net.layers[l].kind === 'conv' || net.layers[l].kind === 'gemm' ? sink.endLayer(l) : undefined),
    };
    drive(only, net, spec, 2, null);
    expect(plain(sink.result().outputs.y)).toEqual(plain(reference(net, feeds, spec).outputs.y));
  });

  it('refuses a K tile out of order, and a layer that ends with tiles missing', () => {
    const net = testNet(1);
    const feeds = feedsOf(2, 1);
    const spec = archSpec('ws', 32, 'wrap');
    const s1 = createFunctionalSink(net, spec, feeds, { requant: { mode: 'float' } });
    s1.beginLayer(0);
    s1.endLayer(0);
    s1.beginLayer(1);
    // c1: K = 27 in tiles of 8 → tile 1 is [8, 16)
    expect(() => s1.tile({ layer: 1, group: 0, m0: 0, m1: 64, n0: 0, n1: 4, k0: 8, k1: 16, kFold: 1, kFolds: 4, cycle: 0 })).toThrow(InvariantError);
    const s2 = createFunctionalSink(net, spec, feeds, { requant: { mode: 'float' } });
    s2.beginLayer(1);
    s2.tile({ layer: 1, group: 0, m0: 0, m1: 64, n0: 0, n1: 8, k0: 0, k1: 8, kFold: 0, kFolds: 4, cycle: 0 });
    expect(() => s2.endLayer(1)).toThrow(/received 1 of 4 K tiles/);
    const s3 = createFunctionalSink(net, spec, feeds, { requant: { mode: 'float' } });
    s3.beginLayer(1);
    expect(() => s3.tile({ layer: 1, group: 0, m0: 0, m1: 64, n0: 0, n1: 8, k0: 0, k1: 9, kFold: 0, kFolds: 4, cycle: 0 })).toThrow(/does not match the accumulation order/);
  });
});
