/**
 * Functional execution inside the timing run, against the functional executor: QuantizedNetworks
 * from the ONNX conformance data and from an ORT-style QDQ model (per-channel int8 weights, an
 * asymmetric uint8 depthwise layer, int32 bias) run through the engine (`simulate`) with the
 * functional sink on every dataflow and on narrow accumulators (16-bit wrap / saturate, 12-bit
 * partial sums), so overflows happen. Outputs and overflow reports must equal runQuantized's with
 * the same accumulation order bit for bit. The conformance outputs are also checked against the
 * suite's expected tensors (32-bit accumulator), an independent reference.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../arch/presets.js';
import { validateArchSpec, type ArchSpec, type Dataflow } from '../../arch/spec.js';
import type { Tensor } from '../../nets/graph.js';
import { Prng } from '../../nets/prng.js';
import { importQuantizedOnnx } from '../../quant/onnx/qimport.js';
import type { QuantizedNetwork } from '../../qnet/network.js';
import { simulate, workloadFromQuantizedNetwork } from '../../sim/engine/index.js';
import { createFunctionalSink, timingAccumulator, timingOrder } from '../../sim/functional.js';
import { runQuantized } from '../../sim/qexec.js';
import { buildModel } from '../helpers/onnx-build.js';
import { dataSets, NODE, plain, quantSuiteCase, type QuantSuiteCase } from '../helpers/qconformance.js';

const TESTS = ['test_qlinearconv', 'test_qlinearmatmul_2D', 'test_convinteger_with_padding', 'test_convinteger_without_padding', 'test_basic_convinteger', 'test_matmulinteger'];

type Acc = { bits: number; overflow: 'wrap' | 'saturate' | 'ideal'; psumBits: number };
const ACCS: Acc[] = [
  { bits: 32, overflow: 'wrap', psumBits: 32 },
  { bits: 16, overflow: 'wrap', psumBits: 16 },
  { bits: 16, overflow: 'saturate', psumBits: 12 },
];
const DATAFLOWS: Dataflow[] = ['ws', 'os', 'is'];

function archSpec(dataflow: Dataflow, acc: Acc, rows = 4, cols = 4): ArchSpec {
  return validateArchSpec({ ...PRESETS['edge-npu'], name: 'golden', array: { rows, cols, dataflow }, accumulator: acc });
}

/** The timing run with the functional sink; `engineShape`: the one-inference input shape the engine times. */
function timed(net: QuantizedNetwork, feeds: Record<string, Tensor>, spec: ArchSpec, engineShape: readonly number[]) {
  const workload = workloadFromQuantizedNetwork(net, engineShape, spec);
  const sink = createFunctionalSink(net, spec, feeds, { requant: { mode: 'float' } });
  const result = simulate(spec, workload, { functional: sink });
  return { result, ...sink.result() };
}

function reference(net: QuantizedNetwork, feeds: Record<string, Tensor>, spec: ArchSpec) {
  return runQuantized(net, feeds, { requant: { mode: 'float' }, acc: timingAccumulator(spec), order: timingOrder(spec), form: spec.pe.form });
}

function suiteCase(test: string): QuantSuiteCase {
  const dir = join(NODE, test);
  return quantSuiteCase(dir, dataSets(dir)[0]);
}

/** The engine times one inference: a 2-D gemm input [rows, K] is timed as one row, its rows run as replicas. */
function engineShapeOf(t: Tensor): number[] {
  return t.shape.length === 2 ? [1, t.shape[1]] : [1, ...t.shape.slice(1)];
}

const present = existsSync(NODE);

describe.skipIf(!present)('timing + functional run = runQuantized on the ONNX conformance suite', () => {
  it.each(TESTS)('%s: every dataflow and accumulator; 32-bit wrap also equals the suite', (test) => {
    const c = suiteCase(test);
    const x = c.feeds[c.net.inputs[0].name];
    for (const df of DATAFLOWS) {
      for (const acc of ACCS) {
        const spec = archSpec(df, acc, 2, 3);
        const got = timed(c.net, c.feeds, spec, engineShapeOf(x));
        const want = reference(c.net, c.feeds, spec);
        const where = `${df} ${acc.bits}-bit ${acc.overflow}`;
        expect(c.outputs.map((n) => plain(got.outputs[n])), where).toEqual(c.outputs.map((n) => plain(want.outputs[n])));
        expect(got.overflow, where).toEqual(want.overflow);
        if (acc.bits === 32) expect(c.outputs.map((n) => plain(got.outputs[n])), where).toEqual(c.expected.map(plain));
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// an ORT-style QDQ model (what onnxruntime.quantization.quantize_static writes): activations
// uint8 asymmetric, weights int8 symmetric per channel (axis 0) and one uint8 asymmetric layer,
// int32 bias with scale s_x·s_w

const f32 = (shape: number[], v: number[]): Tensor => ({ dtype: 'float32', shape, data: Float32Array.from(v) });
const u8 = (shape: number[], v: number[]): Tensor => ({ dtype: 'uint8', shape, data: Uint8Array.from(v) });
const i8 = (shape: number[], v: number[]): Tensor => ({ dtype: 'int8', shape, data: Int8Array.from(v) });
const i32 = (shape: number[], v: number[]): Tensor => ({ dtype: 'int32', shape, data: Int32Array.from(v) });
const i64 = (v: number[]): Tensor => ({ dtype: 'int64', shape: [v.length], data: BigInt64Array.from(v.map(BigInt)) });

function qdqModel(seed: number): Uint8Array {
  const rng = new Prng(seed);
  const ints = (n: number, lo: number, hi: number) => Array.from({ length: n }, () => lo + rng.int(hi - lo + 1));
  const C1 = 8;
  const sx = 1 / 50;
  const s1 = 0.05;
  const s2 = 0.08;
  const sw1 = Array.from({ length: C1 }, () => Math.fround(0.002 + rng.int(100) / 20000));
  const sw2 = 0.004;
  const sw3 = Array.from({ length: 10 }, () => Math.fround(0.001 + rng.int(100) / 40000));
  const inits: Record<string, Tensor> = {
    sx: f32([], [sx]), zx: u8([], [128]),
    w1: i8([C1, 3, 3, 3], ints(C1 * 27, -127, 127)), sw1: f32([C1], sw1), zw1: i8([C1], new Array(C1).fill(0)),
    b1: i32([C1], ints(C1, -2000, 2000)), sb1: f32([C1], sw1.map((s) => Math.fround(s * sx))), zb1: i32([C1], new Array(C1).fill(0)),
    s1: f32([], [s1]), z1: u8([], [0]),
    w2: u8([C1, 1, 3, 3], ints(C1 * 9, 0, 255)), sw2: f32([], [sw2]), zw2: u8([], [131]),
    s2: f32([], [s2]), z2: u8([], [120]),
    shp: i64([-1, C1 * 16]),
    w3: i8([10, C1 * 16], ints(10 * C1 * 16, -127, 127)), sw3: f32([10], sw3), zw3: i8([10], new Array(10).fill(0)),
    b3: i32([10], ints(10, -800, 800)), sb3: f32([10], sw3.map((s) => Math.fround(s * s2))), zb3: i32([10], new Array(10).fill(0)),
    s3: f32([], [0.3]), z3: u8([], [128]),
  };
  return buildModel({
    opset: 13,
    inputs: [{ name: 'x', dtype: 'float32', shape: ['N', 3, 8, 8] }],
    outputs: [{ name: 'y', dtype: 'float32' }],
    inits,
    nodes: [
      { op: 'QuantizeLinear', inputs: ['x', 'sx', 'zx'], outputs: ['xq'] },
      { op: 'DequantizeLinear', inputs: ['xq', 'sx', 'zx'], outputs: ['xf'] },
      { op: 'DequantizeLinear', inputs: ['w1', 'sw1', 'zw1'], outputs: ['w1f'], attrs: { axis: 0 } },
      { op: 'DequantizeLinear', inputs: ['b1', 'sb1', 'zb1'], outputs: ['b1f'], attrs: { axis: 0 } },
      { name: 'conv1', op: 'Conv', inputs: ['xf', 'w1f', 'b1f'], outputs: ['c1'], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['c1'], outputs: ['r1'] },
      { op: 'QuantizeLinear', inputs: ['r1', 's1', 'z1'], outputs: ['r1q'] },
      { op: 'DequantizeLinear', inputs: ['r1q', 's1', 'z1'], outputs: ['r1f'] },
      { op: 'DequantizeLinear', inputs: ['w2', 'sw2', 'zw2'], outputs: ['w2f'] },
      { name: 'dw', op: 'Conv', inputs: ['r1f', 'w2f'], outputs: ['c2'], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2], group: C1 } },
      { op: 'QuantizeLinear', inputs: ['c2', 's2', 'z2'], outputs: ['c2q'] },
      { op: 'Reshape', inputs: ['c2q', 'shp'], outputs: ['flatq'] },
      { op: 'DequantizeLinear', inputs: ['flatq', 's2', 'z2'], outputs: ['flat'] },
      { op: 'DequantizeLinear', inputs: ['w3', 'sw3', 'zw3'], outputs: ['w3f'], attrs: { axis: 0 } },
      { op: 'DequantizeLinear', inputs: ['b3', 'sb3', 'zb3'], outputs: ['b3f'], attrs: { axis: 0 } },
      { name: 'fc', op: 'Gemm', inputs: ['flat', 'w3f', 'b3f'], outputs: ['g'], attrs: { transB: 1 } },
      { op: 'QuantizeLinear', inputs: ['g', 's3', 'z3'], outputs: ['gq'] },
      { op: 'DequantizeLinear', inputs: ['gq', 's3', 'z3'], outputs: ['y'] },
    ],
  });
}

describe('timing + functional run = runQuantized on an ORT-style QDQ model (qimport)', () => {
  const net = importQuantizedOnnx(qdqModel(3), 'qdq.onnx');
  const rng = new Prng(17);
  const N = 3;
  const feeds = { x: f32([N, 3, 8, 8], Array.from({ length: N * 192 }, () => rng.next() * 5 - 2.5)) };

  it('imports as the integer layers the timing run tiles', () => {
    expect(net.layers.filter((l) => l.kind === 'conv' || l.kind === 'gemm').map((l) => l.name)).toEqual(['conv1', 'dw', 'fc']);
  });

  it.each(DATAFLOWS)('%s: outputs and overflow reports equal, on 32-bit and narrow accumulators (a batch of 3 on a one-inference timing run)', (df) => {
    let events = 0;
    for (const acc of ACCS) {
      const spec = archSpec(df, acc, 8, 4);
      const got = timed(net, feeds, spec, [1, 3, 8, 8]);
      const want = reference(net, feeds, spec);
      const where = `${df} ${acc.bits}-bit ${acc.overflow}`;
      expect(plain(got.outputs.y), where).toEqual(plain(want.outputs.y));
      expect(got.overflow, where).toEqual(want.overflow);
      for (const r of Object.values(got.overflow)) events += r.events;
      // the engine's MACs for one inference × the batch = the functional run's
      expect(got.result.totals.macs * N).toBe(macsOf(N));
    }
    expect(events).toBeGreaterThan(0);
  });
});

/** MACs of the test model for a batch of n: hand count of its three layers. */
function macsOf(n: number): number {
  // conv1: 8×8 outputs × 8 channels × 27; dw: 4×4 × 8 × 9; fc: 10 × 128
  return n * (64 * 8 * 27 + 16 * 8 * 9 + 10 * 128);
}
