/**
 * exportQuantizedOnnx vs onnxruntime-node: ORT running the exported model gives, bit for bit, what
 * qloom's integer executor (runQuantized, float requant, 32-bit wrapping accumulator) gives on
 * the QuantizedNetwork it was exported from.
 *
 *   (a) the ONNX conformance suite's quantized models (Debian libonnx-testdata), imported and
 *       exported again in both forms: ORT(export) == runQuantized == the suite's expected outputs.
 *   (b) random small QuantizedNetworks built directly from the type (conv with ReLU / ReLU6 / clip
 *       clamps, depthwise, gemm with and without bias, add, concat, avgpool, globalavgpool,
 *       maxpool, sigmoid and table activations; per-tensor and per-channel; u8 / s8 activations;
 *       4–8-bit weights; narrow ranges): the QOperator export is bit-exact with ORT's graph
 *       optimizations off and at 'all'; the QDQ export is bit-exact at 'all' (ORT's QDQ fusion
 *       turns it into the same QLinear kernels), and un-fused (optimizations off) the mismatching
 *       codes are counted and must stay rare off-by-ones.
 *   (c) the bundled models quantized by the PTQ pipeline (when quant/pipeline.ts exists).
 * Every case also checks the round trip importQuantizedOnnx(export(net)) ≡ net under runQuantized.
 *
 * Expected values come from ORT (an independent implementation) and the conformance data; qloom's
 * executor is the thing under test together with the exporter.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../nets/graph.js';
import { Prng } from '../../nets/prng.js';
import { ModelProto, type PModel } from '../../nets/onnx/schema.js';
import { importQuantizedOnnx } from '../../quant/onnx/qimport.js';
import { exportQuantizedOnnx } from '../../quant/onnx/qexport.js';
import type { QActivation, QLayer, QLinearLayer, QParams, QTensorInfo, QuantizedNetwork } from '../../qnet/network.js';
import { lutActivation } from '../../qnet/lut.js';
import { runQuantized } from '../../sim/qexec.js';
import { clampBounds } from '../../qnet/requant.js';
import { ortWeightBits } from '../helpers/ort.js';
import { NODE, plain, QUANT_TESTS, quantSuiteCase } from '../helpers/qconformance.js';

const RUNS = 120;
const EXEC = { requant: { mode: 'float' as const }, acc: { bits: 32, policy: 'wrap' as const } };

type Level = 'disabled' | 'all';

async function runOrt(bytes: Uint8Array, feeds: Record<string, Tensor>, level: Level): Promise<Record<string, { type: string; dims: readonly number[]; data: number[] }>> {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: level, logSeverityLevel: 3 });
  const f: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(feeds)) f[k] = new ort.Tensor(t.dtype, t.data as never, [...t.shape]);
  const out = await s.run(f);
  const res: Record<string, { type: string; dims: readonly number[]; data: number[] }> = {};
  for (const [k, t] of Object.entries(out)) res[k] = { type: t.type, dims: t.dims, data: Array.from(t.data as ArrayLike<number>, Number) };
  await s.release();
  return res;
}

/** Number of differing values (shapes and types must agree). */
function diff(got: Record<string, Tensor>, want: Record<string, { type: string; dims: readonly number[]; data: number[] }>, names: string[]): { mismatches: number; maxAbs: number } {
  let mismatches = 0;
  let maxAbs = 0;
  for (const n of names) {
    const g = plain(got[n]);
    const w = want[n];
    expect(w.type, `output ${n}`).toBe(g.dtype);
    expect([...w.dims], `output ${n}`).toEqual(g.shape);
    for (let i = 0; i < g.data.length; i++) {
      if (!Object.is(g.data[i], w.data[i])) {
        mismatches++;
        maxAbs = Math.max(maxAbs, Math.abs(g.data[i] - w.data[i]));
      }
    }
  }
  return { mismatches, maxAbs };
}

function sameRun(a: Record<string, Tensor>, b: Record<string, Tensor>, names: string[]): void {
  for (const n of names) expect(plain(b[n]), `round trip, output ${n}`).toEqual(plain(a[n]));
}

// ------------------------------------------------------------------------------------------------
// (a) conformance models

describe.skipIf(!existsSync(NODE))('(a) conformance models re-exported: ORT(export) == runQuantized == expected', () => {
  it.each(QUANT_TESTS)('%s', async (test) => {
    const dir = join(NODE, test);
    const { net, feeds, expected, outputs: outNames } = quantSuiteCase(dir, join(dir, 'test_data_set_0'), test);
    const ref = runQuantized(net, feeds, EXEC).outputs;
    expect(outNames.map((n) => plain(ref[n]))).toEqual(expected.map(plain));
    for (const format of ['qop', 'qdq'] as const) {
      const ex = exportQuantizedOnnx(net, { format });
      for (const level of ['disabled', 'all'] as const) {
        expect(diff(ref, await runOrt(ex, feeds, level), outNames).mismatches, `${format} at ${level}`).toBe(0);
      }
      sameRun(ref, runQuantized(importQuantizedOnnx(ex, `${test}.${format}.onnx`), feeds, EXEC).outputs, outNames);
    }
  });
});

// ------------------------------------------------------------------------------------------------
// (b) random QuantizedNetworks

function pt(scale: number, zp: number, bits: number, signed: boolean, narrow = false): QParams {
  return { scale: Float32Array.of(scale), zeroPoint: Int32Array.of(zp), axis: -1, bits, signed, narrow };
}
function typeRange(signed: boolean): [number, number] {
  return signed ? [-128, 127] : [0, 255];
}
const u = (rng: Prng, lo: number, hi: number) => lo + rng.next() * (hi - lo);
const pick = <T>(rng: Prng, xs: readonly T[]): T => xs[rng.int(xs.length)];

/** Builds a random chain; scales are set from the accumulators actually produced (calibration). */
class NetBuilder {
  readonly layers: QLayer[] = [];
  readonly tensors = new Map<string, QTensorInfo>();
  readonly shapes = new Map<string, number[]>();
  readonly feeds: Record<string, Tensor>;
  private k = 0;
  /** which layer kinds were used (coverage tally) */
  readonly kinds: string[] = [];
  hasGatherLut = false;

  constructor(
    readonly rng: Prng,
    readonly signed: boolean,
    readonly inShape: number[],
  ) {
    const n = inShape.reduce((a, b) => a * b, 1);
    const amp = u(rng, 0.5, 4);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.fround(u(rng, -amp, amp * u(rng, 0.3, 1)));
    this.feeds = { x: { dtype: 'float32', shape: inShape, data } };
    const [lo] = typeRange(signed);
    const s = Math.fround((2 * amp) / 255);
    const z = signed ? rng.int(21) - 10 : 128 + rng.int(21) - 10;
    void lo;
    this.add({ kind: 'quantize', name: 'quantize', inputs: ['x'], output: 't0' }, 't0', pt(s, z, 8, signed, rng.int(6) === 0), inShape);
  }

  name(p: string): string {
    return `${p}${++this.k}`;
  }

  add(l: QLayer, out: string, q: QParams, shape: number[]): string {
    this.layers.push(l);
    this.tensors.set(out, { name: out, shape, q });
    this.shapes.set(out, shape);
    this.kinds.push(l.kind);
    return out;
  }

  net(outputs: { name: string; dtype: 'float32' | 'int8' | 'uint8'; shape: number[] }[]): QuantizedNetwork {
    return { name: 'random', inputs: [{ name: 'x', dtype: 'float32', shape: this.inShape }], outputs, tensors: this.tensors, layers: this.layers };
  }

  /** Real range of the last linear layer's outputs (acc · s_x · s_w[c]) on this input. */
  private realRange(l: QLinearLayer, xq: QParams): [number, number] {
    let acc: Float64Array | undefined;
    runQuantized(this.net([{ name: l.output, dtype: this.signed ? 'int8' : 'uint8', shape: [] }]), this.feeds, {
      ...EXEC,
      keepAccumulators: true,
      onLayer: (layer, _o, info) => {
        if (layer === l) acc = info.acc;
      },
    });
    const sw = l.weight.q.scale;
    const N = sw.length;
    const shape = this.shapes.get(l.output)!;
    const inner = l.kind === 'conv' ? shape[2] * shape[3] : 1;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < acc!.length; i++) {
      const c = N === 1 ? 0 : l.kind === 'conv' ? Math.floor(i / inner) % N : i % N;
      const v = acc![i] * xq.scale[0] * sw[c];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    return [lo, hi];
  }

  /** Output parameters covering [lo, hi] (spread by a random factor so some values saturate). */
  outParams(lo: number, hi: number, narrow = false): QParams {
    const rng = this.rng;
    const span = Math.max(hi - lo, 1e-3) * u(rng, 0.6, 1.1);
    const s = Math.fround(span / 255);
    const [qmin, qmax] = typeRange(this.signed);
    const z = Math.max(qmin, Math.min(qmax, Math.round(qmin - lo / s)));
    return pt(s, z, 8, this.signed, narrow);
  }

  activation(yq: QParams): QActivation {
    const rng = this.rng;
    const r = rng.int(6);
    if (r === 0) return clampBounds('relu', yq, { rounding: 'even' });
    if (r === 1) return clampBounds('relu6', yq, { rounding: 'even' });
    if (r === 2) {
      const [qmin, qmax] = typeRange(this.signed);
      const lo = qmin + rng.int(60);
      return { kind: 'clamp', fn: 'clip', lo, hi: Math.max(lo, qmax - rng.int(60)) };
    }
    return { kind: 'none' };
  }

  linear(x: string, kind: 'conv' | 'dw' | 'gemm'): string {
    const rng = this.rng;
    const xq = this.tensors.get(x)!.q;
    const xs = this.shapes.get(x)!;
    const wBits = 4 + rng.int(5);
    // int8 weights lose pairs to VPMADDUBSW saturation without VNNI (ORT's int8 activations too: its fused QDQ paths)
    const wSigned = this.signed || rng.int(3) > 0;
    const bits = wSigned ? ortWeightBits(wBits) : wBits;
    const narrow = wSigned && rng.int(2) === 0;
    const [wlo, whi] = wSigned ? [-(2 ** (bits - 1)) + (narrow ? 1 : 0), 2 ** (bits - 1) - 1] : [0, 2 ** bits - 1];
    let N: number;
    let K: number;
    let wShape: number[];
    let group = 1;
    let kernel: [number, number] = [1, 1];
    let strides: [number, number] = [1, 1];
    let pads: [number, number, number, number] = [0, 0, 0, 0];
    let dil: [number, number] = [1, 1];
    let outShape: number[];
    if (kind === 'gemm') {
      K = xs[xs.length - 1];
      N = 1 + rng.int(6);
      wShape = [N, K];
      outShape = [...xs.slice(0, -1), N];
    } else {
      const C = xs[1];
      group = kind === 'dw' ? C : 1;
      N = kind === 'dw' ? C * (1 + rng.int(2)) : 1 + rng.int(5);
      kernel = [1 + rng.int(3), 1 + rng.int(3)];
      strides = [1 + rng.int(2), 1 + rng.int(2)];
      dil = [1 + (rng.int(4) === 0 ? 1 : 0), 1];
      pads = [rng.int(2), rng.int(2), rng.int(2), rng.int(2)];
      const oh = Math.floor((xs[2] + pads[0] + pads[2] - dil[0] * (kernel[0] - 1) - 1) / strides[0]) + 1;
      const ow = Math.floor((xs[3] + pads[1] + pads[3] - dil[1] * (kernel[1] - 1) - 1) / strides[1]) + 1;
      if (oh < 1 || ow < 1) {
        kernel = [1, 1];
        dil = [1, 1];
        pads = [0, 0, 0, 0];
        strides = [1, 1];
      }
      const h = Math.floor((xs[2] + pads[0] + pads[2] - dil[0] * (kernel[0] - 1) - 1) / strides[0]) + 1;
      const w = Math.floor((xs[3] + pads[1] + pads[3] - dil[1] * (kernel[1] - 1) - 1) / strides[1]) + 1;
      K = (C / group) * kernel[0] * kernel[1];
      wShape = [N, C / group, kernel[0], kernel[1]];
      outShape = [xs[0], N, h, w];
    }
    const perCh = rng.int(2) === 0;
    const sw = Float32Array.from({ length: perCh ? N : 1 }, () => Math.fround(2 ** u(rng, -8, -4)));
    const zw = wSigned ? 0 : 2 ** (bits - 1) + rng.int(5) - 2;
    const wq: QParams = { scale: sw, zeroPoint: new Int32Array(sw.length).fill(zw), axis: perCh ? 0 : -1, bits, signed: wSigned, narrow };
    const data = Int32Array.from({ length: wShape.reduce((a, b) => a * b, 1) }, () => wlo + rng.int(whi - wlo + 1));
    const hasBias = rng.int(3) > 0;
    const bias = hasBias ? Int32Array.from({ length: N }, () => Math.round(u(rng, -1, 1) * Math.sqrt(K) * 2 ** (bits + 5))) : null;
    const out = this.name(kind === 'gemm' ? 'fc' : 'conv');
    const layer0: QLinearLayer = {
      kind: kind === 'gemm' ? 'gemm' : 'conv', name: out, inputs: [x], output: out,
      weight: { data, shape: wShape, q: wq }, bias, kernel, strides, pads, dilations: dil, group, activation: { kind: 'none' },
    };
    this.add(layer0, out, pt(1, 0, 8, this.signed), outShape);
    const [lo, hi] = this.realRange(layer0, xq);
    const yq = this.outParams(lo, hi, rng.int(8) === 0);
    const act = this.activation(yq);
    this.layers.pop();
    this.kinds.pop();
    this.add({ ...layer0, activation: act }, out, yq, outShape);
    return out;
  }

  /** A second branch of the same shape as x: a cheap 1×1 conv of x. */
  twin(x: string): string {
    const xs = this.shapes.get(x)!;
    const rng = this.rng;
    const xq = this.tensors.get(x)!.q;
    const N = xs[1];
    const sw = Float32Array.of(Math.fround(2 ** u(rng, -7, -5)));
    const data = Int32Array.from({ length: N * N }, () => rng.int(15) - 7);
    const out = this.name('branch');
    const l: QLinearLayer = {
      kind: 'conv', name: out, inputs: [x], output: out, weight: { data, shape: [N, N, 1, 1], q: { scale: sw, zeroPoint: Int32Array.of(0), axis: -1, bits: 4, signed: true, narrow: false } },
      bias: null, kernel: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1, activation: { kind: 'none' },
    };
    this.add(l, out, pt(1, 0, 8, this.signed), [...xs]);
    const [lo, hi] = this.realRange(l, xq);
    this.tensors.set(out, { name: out, shape: [...xs], q: this.outParams(lo, hi) });
    return out;
  }

  step(x: string, op: string): string {
    const rng = this.rng;
    const xs = this.shapes.get(x)!;
    const xq = this.tensors.get(x)!.q;
    const s = xq.scale[0];
    const [qmin, qmax] = typeRange(this.signed);
    const mid = this.signed ? 0 : 128;
    switch (op) {
      case 'conv':
      case 'dw':
        return this.linear(x, op);
      case 'add': {
        const b = this.twin(x);
        const out = this.name('add');
        const sy = Math.fround((s + this.tensors.get(b)!.q.scale[0]) * u(rng, 0.4, 1));
        const yq = pt(sy, mid + rng.int(41) - 20, 8, this.signed, rng.int(8) === 0);
        const act = rng.int(3) === 0 ? clampBounds('relu', yq, { rounding: 'even' }) : ({ kind: 'none' } as const);
        return this.add({ kind: 'add', name: out, inputs: [x, b], output: out, activation: act }, out, yq, [...xs]);
      }
      case 'concat': {
        const b = this.twin(x);
        const out = this.name('concat');
        // sometimes the output shares x's parameters (ORT then copies that input)
        const yq = rng.int(3) === 0 ? xq : pt(Math.fround(s * u(rng, 0.7, 1.5)), mid + rng.int(21) - 10, 8, this.signed);
        const xs2 = [...xs];
        xs2[1] *= 2;
        return this.add({ kind: 'concat', name: out, inputs: [x, b], output: out, axis: 1 }, out, yq, xs2);
      }
      case 'avgpool':
      case 'maxpool': {
        const k: [number, number] = [Math.min(xs[2], 1 + rng.int(3)), Math.min(xs[3], 1 + rng.int(3))];
        const st: [number, number] = [1 + rng.int(2), 1 + rng.int(2)];
        const p: [number, number, number, number] = [rng.int(k[0]), rng.int(k[1]), rng.int(k[0]), rng.int(k[1])];
        let ceil = rng.int(3) === 0;
        const cip = rng.int(2) === 0;
        const dim = (i: number, kk: number, ss: number, pa: number, pb: number) => {
          const v = (i + pa + pb - kk) / ss;
          let o = (ceil ? Math.ceil(v) : Math.floor(v)) + 1;
          if (ceil && (o - 1) * ss >= i + pa) o--;
          return o;
        };
        // ONNX's static shape inference lacks ORT's runtime rule that drops a last window starting
        // in the end padding; where they disagree ORT rejects the model downstream, so avoid it
        const onnxDim = (i: number, kk: number, ss: number, pa: number, pb: number) => Math.ceil((i + pa + pb - kk) / ss) + 1;
        if (ceil && (dim(xs[2], k[0], st[0], p[0], p[2]) !== onnxDim(xs[2], k[0], st[0], p[0], p[2]) || dim(xs[3], k[1], st[1], p[1], p[3]) !== onnxDim(xs[3], k[1], st[1], p[1], p[3]))) ceil = false;
        const outShape = [xs[0], xs[1], dim(xs[2], k[0], st[0], p[0], p[2]), dim(xs[3], k[1], st[1], p[1], p[3])];
        const out = this.name(op);
        const yq = op === 'maxpool' ? xq : pt(Math.fround(s * u(rng, 0.5, 1.2)), Math.max(qmin, Math.min(qmax, xq.zeroPoint[0] + rng.int(11) - 5)), 8, this.signed);
        this.add(
          { kind: op, name: out, inputs: [x], output: out, kernel: k, strides: st, pads: p, dilations: [1, 1], ceilMode: ceil, countIncludePad: cip },
          out,
          yq,
          outShape,
        );
        // ONNX's output size (ceil_mode drops a window starting in the end padding), checked against the executor's
        const got = runQuantized(this.net([{ name: out, dtype: this.signed ? 'int8' : 'uint8', shape: [] }]), this.feeds, EXEC).outputs[out].shape;
        expect([...got], `${op} output shape`).toEqual(outShape);
        return out;
      }
      case 'sigmoid':
      case 'lut': {
        const out = this.name(op);
        const fn = op === 'sigmoid' ? 'sigmoid' : pick(rng, ['hardswish', 'tanh', 'gelu'] as const);
        const yq = fn === 'sigmoid' ? pt(Math.fround(1 / 256), this.signed ? -128 : 0, 8, this.signed) : pt(Math.fround(s * u(rng, 0.5, 1.5)), mid, 8, this.signed);
        const entries = op === 'sigmoid' ? 256 : pick(rng, [256, 64, 32]);
        if (op === 'lut') this.hasGatherLut = true;
        return this.add({ kind: 'activation', name: out, inputs: [x], output: out, activation: lutActivation(fn, { ...xq, bits: 8 }, yq, entries) }, out, yq, [...xs]);
      }
    }
    throw new Error(op);
  }
}

function randomNet(seed: number): { net: QuantizedNetwork; feeds: Record<string, Tensor>; outs: string[]; gatherLut: boolean; kinds: string[]; signed: boolean } {
  const rng = new Prng(seed);
  const signed = rng.int(2) === 0;
  const b = new NetBuilder(rng, signed, [1 + rng.int(2), 1 + rng.int(4), 3 + rng.int(5), 3 + rng.int(5)]);
  let t = 't0';
  const nOps = 1 + rng.int(4);
  for (let i = 0; i < nOps; i++) t = b.step(t, pick(rng, ['conv', 'conv', 'dw', 'add', 'concat', 'avgpool', 'maxpool', 'sigmoid', 'lut']));
  const tail = rng.int(3);
  if (tail > 0) {
    const xs = b.shapes.get(t)!;
    const q = b.tensors.get(t)!.q;
    let f: string;
    if (tail === 1) {
      const g = b.name('gap');
      b.add(
        { kind: 'globalavgpool', name: g, inputs: [t], output: g, kernel: [0, 0], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], ceilMode: false, countIncludePad: false },
        g,
        pt(Math.fround(q.scale[0] * u(rng, 0.3, 1)), q.zeroPoint[0], 8, signed),
        [xs[0], xs[1], 1, 1],
      );
      f = b.name('flat');
      b.add({ kind: 'flatten', name: f, inputs: [g], output: f, param: [1] }, f, b.tensors.get(g)!.q, [xs[0], xs[1]]);
    } else {
      f = b.name('flat');
      b.add({ kind: 'flatten', name: f, inputs: [t], output: f, param: [1] }, f, q, [xs[0], xs[1] * xs[2] * xs[3]]);
    }
    t = b.linear(f, 'gemm');
  }
  const shape = b.shapes.get(t)!;
  let outs: { name: string; dtype: 'float32' | 'int8' | 'uint8'; shape: number[] }[];
  if (rng.int(2) === 0) {
    b.add({ kind: 'dequantize', name: 'dequantize', inputs: [t], output: 'y' }, 'y', b.tensors.get(t)!.q, shape);
    b.tensors.delete('y');
    outs = [{ name: 'y', dtype: 'float32', shape }];
  } else outs = [{ name: t, dtype: signed ? 'int8' : 'uint8', shape }];
  return { net: b.net(outs), feeds: b.feeds, outs: outs.map((o) => o.name), gatherLut: b.hasGatherLut, kinds: b.kinds, signed };
}

/** LUT layers the export writes as Gather (not ORT's own sigmoid table) */
const gatherLutLayer = (l: QuantizedNetwork['layers'][number]): boolean => l.kind === 'activation' && l.activation.kind === 'lut' && !(l.activation.fn === 'sigmoid' && l.activation.entries === 2 ** l.activation.inQ.bits);

/** Gather LUT layers whose input or output scale no other layer's ONNX form carries: fed by another Gather LUT, read only by them, or an integer graph output. */
function openGatherLuts(net: QuantizedNetwork): string[] {
  const gathers = new Set(net.layers.filter(gatherLutLayer).map((l) => l.output));
  const outs = new Set(net.outputs.map((o) => o.name));
  return net.layers
    .filter(gatherLutLayer)
    .filter((l) => {
      const readers = net.layers.filter((r) => r.inputs.includes(l.output));
      return gathers.has(l.inputs[0]) || outs.has(l.output) || (readers.length > 0 && readers.every(gatherLutLayer));
    })
    .map((l) => l.name);
}

describe('(b) random QuantizedNetworks: ORT(export) == runQuantized, bit for bit', () => {
  it(`${RUNS} random chains (conv+clamps / depthwise / gemm / add / concat / pools / sigmoid / LUT; per-tensor, per-channel; u8, s8; 4–8-bit weights)`, async () => {
    const kinds = new Map<string, number>();
    let qdqUnfused = 0;
    let qdqUnfusedMax = 0;
    let s8Opt = 0;
    let s8Values = 0;
    let compared = 0;
    let interior = 0;
    let gatherLutTrips = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (seed) => {
        const c = randomNet(seed);
        for (const k of c.kinds) kinds.set(k, (kinds.get(k) ?? 0) + 1);
        const ref = runQuantized(c.net, c.feeds, EXEC).outputs;
        const qop = exportQuantizedOnnx(c.net, { format: 'qop' });
        expect(diff(ref, await runOrt(qop, c.feeds, 'disabled'), c.outs).mismatches, 'qop, optimizations off').toBe(0);
        expect(diff(ref, await runOrt(qop, c.feeds, 'all'), c.outs).mismatches, 'qop, optimizations all').toBe(0);
        const qdq = exportQuantizedOnnx(c.net, { format: 'qdq' });
        const opt = diff(ref, await runOrt(qdq, c.feeds, 'all'), c.outs);
        // uint8 activations: ORT fuses every island (checked below), so this must be exact;
        // int8 activations: ORT (x86) leaves Conv / Gemm / pools / Concat in float, so count
        if (!c.signed) expect(opt.mismatches, 'qdq uint8, fused by ORT').toBe(0);
        else {
          s8Opt += opt.mismatches;
          s8Values += c.outs.reduce((a, o) => a + ref[o].data.length, 0);
          qdqUnfusedMax = Math.max(qdqUnfusedMax, opt.maxAbs);
        }
        const un = diff(ref, await runOrt(qdq, c.feeds, 'disabled'), c.outs);
        qdqUnfused += un.mismatches;
        qdqUnfusedMax = Math.max(qdqUnfusedMax, un.maxAbs);
        for (const o of c.outs) {
          const d = plain(ref[o]);
          compared += d.data.length;
          if (d.dtype === 'float32') interior += d.data.length;
          else for (const v of d.data) if (v > (d.dtype === 'int8' ? -128 : 0) && v < (d.dtype === 'int8' ? 127 : 255)) interior++;
        }
        // round trip: the export read back runs the same — Gather LUTs included (quant/onnx/gather-lut.ts)
        // where the layers around them give their scales; otherwise the import says so by name
        const open = openGatherLuts(c.net);
        for (const bytes of [qop, qdq]) {
          if (open.length === 0) sameRun(ref, runQuantized(importQuantizedOnnx(bytes, 'rt.onnx'), c.feeds, EXEC).outputs, c.outs);
          else expect(() => importQuantizedOnnx(bytes, 'rt.onnx')).toThrow(new RegExp(`${open[0]}/Gather.*does not give the scale`));
        }
        if (c.gatherLut && open.length === 0) gatherLutTrips++;
      }),
      { numRuns: RUNS },
    );
    // the generator must actually exercise every layer kind, with outputs mostly unsaturated
    for (const k of ['conv', 'gemm', 'add', 'concat', 'avgpool', 'globalavgpool', 'maxpool', 'activation', 'flatten', 'dequantize']) expect(kinds.get(k) ?? 0, k).toBeGreaterThan(5);
    expect(interior / compared).toBeGreaterThan(0.5);
    expect(gatherLutTrips, 'round trips through a Gather LUT').toBeGreaterThan(3);
    console.log(
      `qdq un-fused (ORT optimizations off): ${qdqUnfused} of ${compared} output values differ; ` +
        `qdq int8 activations at level 'all' (partly un-fused): ${s8Opt} of ${s8Values} differ; max |Δ| ${qdqUnfusedMax}`,
    );
    // un-fused float arithmetic may land on the other side of a rounding tie: rare, one code
    expect(qdqUnfused + s8Opt).toBeLessThanOrEqual(Math.ceil(0.01 * compared));
    expect(qdqUnfusedMax).toBeLessThanOrEqual(1);
  });
});

/** Op types of the graph ORT actually runs (its optimized model, written to a temp file). */
async function optimizedOps(bytes: Uint8Array): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'qexport-'));
  const file = join(dir, 'opt.onnx');
  try {
    const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', optimizedModelFilePath: file, intraOpNumThreads: 1, logSeverityLevel: 3 });
    await s.release();
    const m = ModelProto.decode(readFileSync(file)) as unknown as PModel;
    return (m.graph?.node ?? []).map((n) => n.op_type ?? '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const FLOAT_OPS = ['Conv', 'Gemm', 'MatMul', 'Add', 'Concat', 'AveragePool', 'GlobalAveragePool', 'Sigmoid'];

describe('QDQ export: which Q/DQ islands ORT (x86 CPU) fuses into integer kernels', () => {
  it('uint8 activations: after optimization no float Conv / Gemm / MatMul / Add / Concat / AveragePool / GlobalAveragePool / Sigmoid remains', async () => {
    const seen = new Map<string, number>();
    const s8Left = new Map<string, number>();
    for (let seed = 1; seed <= 40; seed++) {
      const c = randomNet(seed);
      const ops = await optimizedOps(exportQuantizedOnnx(c.net, { format: 'qdq' }));
      for (const o of ops) {
        if (!c.signed) seen.set(o, (seen.get(o) ?? 0) + 1);
        else if (FLOAT_OPS.includes(o)) s8Left.set(o, (s8Left.get(o) ?? 0) + 1);
      }
    }
    console.log(`ops ORT runs for the uint8 QDQ exports among 40: ${[...seen].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    console.log(`float ops ORT leaves un-fused in the int8 ones: ${[...s8Left].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    for (const op of FLOAT_OPS) expect(seen.get(op) ?? 0, `float ${op} left un-fused`).toBe(0);
    for (const op of ['QLinearConv', 'QLinearAdd', 'QLinearConcat', 'QLinearAveragePool', 'QLinearGlobalAveragePool', 'QLinearSigmoid']) expect(seen.get(op) ?? 0, op).toBeGreaterThan(0);
  });
});

// ------------------------------------------------------------------------------------------------
// (c) bundled models through the PTQ pipeline (quant/pipeline.ts), exported in both forms

/** The pipeline is written concurrently by another engineer: these cases run once it imports. */
const pipeline = await (async () => {
  try {
    const p = await import('../../quant/pipeline.js');
    const c = await import('../../quant/config.js');
    const zoo = await import('../../nets/zoo/index.js');
    const data = await import('../../nets/data/index.js');
    return { quantizeNetwork: p.quantizeNetwork, resolvePtqConfig: c.resolvePtqConfig, loadModel: zoo.loadModel, loadDataset: data.loadDataset };
  } catch (e) {
    return { error: (e as Error).message };
  }
})();

const BUNDLED: [string, 'fmnist' | 'mnist'][] = [
  ['fmnist-cnn', 'fmnist'],
  ['fmnist-dwsep', 'fmnist'],
  ['mnist-mlp', 'mnist'],
];
const PRESETS = ['w8a8-pc', 'w4a8-pc'];
const CALIB_SAMPLES = 64;
const EVAL_IMAGES = 8;

describe.skipIf('error' in pipeline)('(c) bundled models, PTQ pipeline → export: ORT == runQuantized on real images', () => {
  const unfused: string[] = [];
  it.each(BUNDLED.flatMap(([m, d]) => PRESETS.map((p) => [m, d, p] as const)))('%s (%s) %s', async (model, dataset, preset) => {
    if ('error' in pipeline) return;
    const { graph } = pipeline.loadModel(model);
    const calib = pipeline.loadDataset(dataset, 'train', { samples: CALIB_SAMPLES, seed: 1 });
    // 8-bit weights at ortWeightBits(8): 7 where ORT's kernels saturate (no VNNI)
    const cfg = pipeline.resolvePtqConfig(preset, { wBits: ortWeightBits(Number(/^w(\d)/.exec(preset)![1])) });
    const { net } = await pipeline.quantizeNetwork(graph, { images: calib.images, shape: calib.shape, count: calib.count }, cfg);
    const test = pipeline.loadDataset(dataset, 'test', { samples: EVAL_IMAGES, seed: 2 });
    const inp = net.inputs[0];
    const batch = inp.shape[0] > 0 ? inp.shape[0] : EVAL_IMAGES;
    const per = test.images.length / test.count;
    const feeds = { [inp.name]: { dtype: 'float32' as const, shape: [batch, ...inp.shape.slice(1)], data: test.images.slice(0, batch * per) } };
    const outs = net.outputs.map((o) => o.name);
    const ref = runQuantized(net, feeds, EXEC).outputs;
    const qop = exportQuantizedOnnx(net, { format: 'qop' });
    const qdq = exportQuantizedOnnx(net, { format: 'qdq' });
    expect(diff(ref, await runOrt(qop, feeds, 'disabled'), outs).mismatches, 'qop, optimizations off').toBe(0);
    expect(diff(ref, await runOrt(qop, feeds, 'all'), outs).mismatches, 'qop, optimizations all').toBe(0);
    // ORT (x86) fuses the QDQ islands of uint8 activations only (see the fusion test above)
    const fused = diff(ref, await runOrt(qdq, feeds, 'all'), outs);
    const int8Acts = [...net.tensors.values()].some((t) => t.q.signed && t.q.bits <= 8);
    if (!int8Acts) expect(fused.mismatches, 'qdq, fused by ORT').toBe(0);
    const un = diff(ref, await runOrt(qdq, feeds, 'disabled'), outs);
    unfused.push(`${model} ${preset}: qdq at 'all' ${fused.mismatches} values differ${int8Acts ? ' (int8 activations: partly un-fused)' : ''}; un-fused ${un.mismatches} differ (max |Δ| ${un.maxAbs})`);
    for (const bytes of [qop, qdq]) sameRun(ref, runQuantized(importQuantizedOnnx(bytes, 'rt.onnx'), feeds, EXEC).outputs, outs);
  });
  it('report', () => {
    console.log(unfused.join('\n'));
  });
});

if ('error' in pipeline) {
  describe('(c) bundled models through the PTQ pipeline', () => {
    it.skip(`skipped: quant/pipeline.ts does not load yet (${pipeline.error})`, () => {});
  });
}
