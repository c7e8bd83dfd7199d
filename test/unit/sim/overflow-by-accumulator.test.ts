/**
 * Overflow counting in hardware order, through the whole timing run (engine + functional sink +
 * result): a hand-built conv and gemm on arrays with 16-bit saturating partial sums. The expected
 * events are stepped here in BigInt, one add at a time, in the order the array meets them:
 *   - os: each PE sums its output's whole K (kkc order: ky, kx, ic) in its 16-bit register, then
 *     the accumulator loads the bias and adds that (saturated) partial sum;
 *   - ws: the K products of each tile of `rows` are summed down the column at psumBits, each
 *     tile's partial sum is added to the wider accumulator.
 * An event is one add whose exact result left the register's range (sim/kernels/checked.ts): a
 * saturated register pushed past its limit again counts again. The result reports both
 * accumulators (overflowsBy), their sum (overflows, all samples) and the per-sample figure.
 */
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../../arch/presets.js';
import { validateArchSpec, type ArchSpec } from '../../../arch/spec.js';
import type { Tensor } from '../../../nets/graph.js';
import { Prng } from '../../../nets/prng.js';
import type { QLinearLayer, QParams, QuantizedNetwork } from '../../../qnet/network.js';
import { workloadFromQuantizedNetwork } from '../../../sim/engine/index.js';
import { runSummary } from '../../../sim/result.js';
import { runSimulation, type SimulationResult } from '../../../sim/run.js';

const qp = (scale: number, zp: number, signed = false): QParams => ({ scale: Float32Array.of(scale), zeroPoint: Int32Array.of(zp), axis: -1, bits: 8, signed, narrow: false });
const NONE = { kind: 'none' } as const;

const CIN = 2;
const HW = 5;
const COUT = 3;
const KSIDE = 3;
const OHW = HW - KSIDE + 1;
const SAMPLES = 3;
const GEMM_K = 40;
const GEMM_N = 4;

/** conv OIHW weights: channel 0 large positive (saturates high), 1 mixed, 2 large negative */
function convWeights(rng: Prng): Int32Array {
  const w = new Int32Array(COUT * CIN * KSIDE * KSIDE);
  const per = CIN * KSIDE * KSIDE;
  for (let i = 0; i < per; i++) {
    w[i] = 80 + rng.int(48);
    w[per + i] = rng.int(255) - 127;
    w[2 * per + i] = -(60 + rng.int(68));
  }
  return w;
}

function linear(kind: 'conv' | 'gemm', weight: QLinearLayer['weight'], bias: Int32Array): QLinearLayer {
  return { kind, name: kind, inputs: ['xq'], output: 'y8', weight, bias, kernel: kind === 'conv' ? [KSIDE, KSIDE] : [1, 1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1, activation: NONE };
}

/** x (float32 integers 0…255, so quantize with scale 1 gives them back) → Q → one linear layer → DQ */
function net(layer: QLinearLayer, inShape: number[], outShape: number[]): QuantizedNetwork {
  return {
    name: `overflow-${layer.kind}`,
    inputs: [{ name: 'x', dtype: 'float32', shape: [-1, ...inShape] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [-1, ...outShape] }],
    tensors: new Map([
      ['xq', { name: 'xq', shape: [-1, ...inShape], q: qp(1, 0) }],
      ['y8', { name: 'y8', shape: [-1, ...outShape], q: qp(2000, 128) }],
    ]),
    layers: [{ kind: 'quantize', name: 'q', inputs: ['x'], output: 'xq' }, layer, { kind: 'dequantize', name: 'dq', inputs: ['y8'], output: 'y' }],
  };
}

/** One P-bit saturating register stepped in BigInt: returns the events of adding each value in turn. */
class SatReg {
  v = 0n;
  events = 0;
  constructor(private readonly bits: number) {}
  add(x: bigint): void {
    const hi = (1n << BigInt(this.bits - 1)) - 1n;
    const lo = -(1n << BigInt(this.bits - 1));
    const s = this.v + x;
    if (s > hi || s < lo) {
      this.events++;
      this.v = s > hi ? hi : lo;
    } else this.v = s;
  }
}

interface Expected {
  array: number;
  accumulator: number;
  /** outputs whose exact value (bias + Σ products) lies outside int16 */
  exactOutside: number;
}

/** Steps every output's adds in hardware order: products (each K tile from 0 at psumBits), then bias + tiles at acc bits. */
function expected(spec: ArchSpec, outputs: { bias: number; products: bigint[] }[]): Expected {
  const tile = spec.array.dataflow === 'os' ? Infinity : spec.array.rows;
  const e: Expected = { array: 0, accumulator: 0, exactOutside: 0 };
  for (const o of outputs) {
    const acc = new SatReg(spec.accumulator.bits);
    acc.add(BigInt(o.bias));
    let exact = BigInt(o.bias);
    for (let t = 0; t < o.products.length; t += tile) {
      const ps = new SatReg(spec.accumulator.psumBits);
      for (const p of o.products.slice(t, t + tile)) {
        ps.add(p);
        exact += p;
      }
      e.array += ps.events;
      acc.add(ps.v);
    }
    e.accumulator += acc.events;
    if (exact > 32767n || exact < -32768n) e.exactOutside++;
  }
  return e;
}

function simulate(spec: ArchSpec, n: QuantizedNetwork, x: Float32Array, inShape: number[]): SimulationResult {
  const feeds: Record<string, Tensor> = { x: { dtype: 'float32', shape: [SAMPLES, ...inShape], data: x } };
  let r: SimulationResult | null = null;
  runSimulation(spec, workloadFromQuantizedNetwork(n, [1, ...inShape], spec), { net: n, feeds, seed: 0 }).subscribe({ next: (u) => (u.type === 'result' ? (r = u.result) : undefined) });
  return r!;
}

const OS16 = validateArchSpec({ ...PRESETS['mcu-npu'], name: 'os16' });
const WS16 = validateArchSpec({ ...PRESETS['mcu-npu'], name: 'ws16', array: { rows: 8, cols: 8, dataflow: 'ws' }, accumulator: { bits: 17, overflow: 'saturate', psumBits: 16 } });

describe('overflows by accumulator, in hardware order, 16-bit saturating partial sums', () => {
  const rng = new Prng(21);
  const x = Float32Array.from({ length: SAMPLES * CIN * HW * HW }, () => rng.int(256));
  const w = convWeights(rng);
  const bias = Int32Array.of(30000, -100, -20000);
  const conv = net(linear('conv', { data: w, shape: [COUT, CIN, KSIDE, KSIDE], q: qp(0.01, 0, true) }, bias), [CIN, HW, HW], [COUT, OHW, OHW]);
  const gx = Float32Array.from({ length: SAMPLES * GEMM_K }, () => rng.int(256));
  const gw = Int32Array.from({ length: GEMM_N * GEMM_K }, (_, i) => (i < GEMM_K ? 100 + rng.int(28) : rng.int(255) - 127));
  const gbias = Int32Array.of(-5000, 0, 32000, 7);
  const gemm = net(linear('gemm', { data: gw, shape: [GEMM_N, GEMM_K], q: qp(0.01, 0, true) }, gbias), [GEMM_K], [GEMM_N]);

  /** conv products per output in kkc order (ky, kx, ic): the order SCALE-Sim's im2col and the engine's K tiles follow */
  const convOutputs = (): { bias: number; products: bigint[] }[] => {
    const outs: { bias: number; products: bigint[] }[] = [];
    for (let s = 0; s < SAMPLES; s++) {
      for (let c = 0; c < COUT; c++) {
        for (let oy = 0; oy < OHW; oy++) {
          for (let ox = 0; ox < OHW; ox++) {
            const products: bigint[] = [];
            for (let ky = 0; ky < KSIDE; ky++) {
              for (let kx = 0; kx < KSIDE; kx++) {
                for (let ic = 0; ic < CIN; ic++) {
                  const xv = x[((s * CIN + ic) * HW + oy + ky) * HW + ox + kx];
                  products.push(BigInt(w[((c * CIN + ic) * KSIDE + ky) * KSIDE + kx]) * BigInt(xv));
                }
              }
            }
            outs.push({ bias: bias[c], products });
          }
        }
      }
    }
    return outs;
  };
  const gemmOutputs = (): { bias: number; products: bigint[] }[] => {
    const outs: { bias: number; products: bigint[] }[] = [];
    for (let s = 0; s < SAMPLES; s++) {
      for (let c = 0; c < GEMM_N; c++) {
        outs.push({ bias: gbias[c], products: Array.from({ length: GEMM_K }, (_, k) => BigInt(gw[c * GEMM_K + k]) * BigInt(gx[s * GEMM_K + k])) });
      }
    }
    return outs;
  };

  it.each([
    ['conv', 'os', OS16],
    ['conv', 'ws', WS16],
    ['gemm', 'os', OS16],
    ['gemm', 'ws', WS16],
  ] as const)('%s on %s: every accumulator reports its events, all samples, and per sample', (kind, _df, spec) => {
    const r = simulate(spec, kind === 'conv' ? conv : gemm, kind === 'conv' ? x : gx, kind === 'conv' ? [CIN, HW, HW] : [GEMM_K]);
    const want = expected(spec, kind === 'conv' ? convOutputs() : gemmOutputs());
    // the data is built to overflow both registers: the test would pass vacuously otherwise
    expect(want.array).toBeGreaterThan(0);
    expect(want.accumulator).toBeGreaterThan(0);
    const layer = r.layers.find((l) => l.name === kind)!;
    expect(layer.overflowsBy).toEqual({ array: want.array, accumulator: want.accumulator });
    expect(layer.overflows).toBe(want.array + want.accumulator);
    expect(layer.overflowsPerSample).toBeCloseTo((want.array + want.accumulator) / SAMPLES, 9);
    expect(r.samples).toBe(SAMPLES);
    expect(r.totals.overflows).toBe(want.array + want.accumulator);
    expect(r.totals.overflowsBy).toEqual(layer.overflowsBy);
    const json = runSummary(r);
    expect(json.samples).toBe(SAMPLES);
    expect(json.totals).toMatchObject({ overflows: want.array + want.accumulator, overflowsBy: { array: want.array, accumulator: want.accumulator } });
    expect(json.layers.find((l) => l.name === kind)!.overflowsPerSample).toBeCloseTo((want.array + want.accumulator) / SAMPLES, 9);
  });

  it('os: outputs beyond int16 that the accumulator alone does not see are counted where they saturate, in the PE registers', () => {
    const r = simulate(OS16, conv, x, [CIN, HW, HW]);
    const want = expected(OS16, convOutputs());
    const layer = r.layers.find((l) => l.name === 'conv')!;
    // the PE register saturates before the bias arrives, so fewer accumulator events than
    // outputs whose exact value left int16 — the count the result used to report alone
    expect(layer.overflowsBy!.accumulator).toBeLessThan(want.exactOutside);
    expect(layer.overflows).toBeGreaterThanOrEqual(want.exactOutside);
  });

  it('a timing-only run has no overflow breakdown and reports zeros in JSON', () => {
    const spec = OS16;
    let r: SimulationResult | null = null;
    runSimulation(spec, workloadFromQuantizedNetwork(gemm, [1, GEMM_K], spec), { seed: 0 }).subscribe({ next: (u) => (u.type === 'result' ? (r = u.result) : undefined) });
    const res = r as SimulationResult | null;
    expect(res!.samples).toBeUndefined();
    expect(runSummary(res!).totals).toMatchObject({ overflows: 0, overflowsPerSample: 0, overflowsBy: { array: 0, accumulator: 0 } });
  });
});
