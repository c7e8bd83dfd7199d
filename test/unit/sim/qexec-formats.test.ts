/**
 * runQuantized on number formats: a conv (3×3, padding 1, ReLU) → flatten → gemm network with its
 * weights and activations in FP8 E4M3 / E5M2, BF16, MXFP8, MXINT8, MXFP4 and per-group INT4 /
 * INT8 activations, against a float64 reference written here: operands dequantized from their
 * codes, exact products, each add rounded to the accumulator format in the executor's default
 * order (K in ONNX order, one tile: the first product loaded, each further one an in-array add,
 * then one add onto the bias), MX / group blocks summed exactly and rounded once to FP32. Outputs
 * compared as float32 bit patterns; swamping reported per linear layer.
 */
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../../nets/graph.js';
import { floatFormatByName, snapToFormat } from '../../../qnet/formats/descriptor.js';
import { decodeTable, encodeFloat, type FloatFormat } from '../../../qnet/formats/float.js';
import { dequantizeMx, quantizeMx, MXFP4_E2M1, MXFP8_E4M3, MXINT8, type MxFormat } from '../../../qnet/formats/mx.js';
import type { ActFormat, AccFormat, LinearFormat, QLayer, QParams, QTensorInfo, QuantizedNetwork, WeightFormat } from '../../../qnet/network.js';
import { quantizeGroupsMse } from '../../../quant/formats.js';
import { runQuantized } from '../../../sim/qexec.js';
import { dotTile } from '../../helpers/float-acc.js';

const CIN = 2;
const COUT = 3;
const H = 4;
const NOUT = 4;
const KC = CIN * 9;
const KG = COUT * H * H;

/** seeded uniform values in (−a, a) with a few outliers (×8) */
function values(n: number, seed: number, a = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32;
    out[i] = (u * 2 - 1) * a * (i % 13 === 5 ? 8 : 1);
  }
  return out;
}

const X = values(CIN * H * H, 1, 2);
const WC = values(COUT * KC, 2, 0.5);
const BC = values(COUT, 3, 0.2);
const WG = values(NOUT * KG, 4, 0.2);
const BG = values(NOUT, 5, 0.1);

const affine = (bits: number, signed: boolean, scale = 1, zp = 0): QParams => ({ scale: Float32Array.of(scale), zeroPoint: Int32Array.of(zp), axis: -1, bits, signed, narrow: false });

type Case =
  | { kind: 'float'; el: string; acc: AccFormat }
  | { kind: 'mx'; mx: MxFormat }
  | { kind: 'group'; bits: number; g: number };

/** the network of a case, with the weight codes the reference reads */
function build(c: Case): QuantizedNetwork {
  const tinfo = (name: string, shape: number[], format?: ActFormat, q = affine(8, false)): QTensorInfo => ({ name, shape, q, ...(format && { format }) });
  const tensors = new Map<string, QTensorInfo>();
  let fmtOf: (amax: number) => ActFormat | undefined = () => undefined;
  let wfmt: (w: Float32Array, n: number, k: number) => { data: Int32Array; format: WeightFormat };
  if (c.kind === 'float') {
    const f = floatFormatByName(c.el);
    // FP8 scaled so the range's max is max finite; 16-bit formats unscaled (their range is enough)
    const unit = f.bits >= 16;
    fmtOf = (amax) => ({ kind: 'float', element: c.el, scale: unit ? 1 : Math.fround(amax / f.maxFinite) });
    wfmt = (w, n, k) => {
      const scale = new Float32Array(n);
      for (let o = 0; o < n; o++) scale[o] = unit ? 1 : Math.fround(Math.max(...Array.from(w.subarray(o * k, (o + 1) * k), Math.abs)) / f.maxFinite);
      const data = new Int32Array(n * k);
      for (let i = 0; i < n * k; i++) data[i] = encodeFloat(f, Math.fround(w[i] / scale[Math.floor(i / k)]), true);
      return { data, format: { kind: 'float', element: c.el, scale } };
    };
  } else if (c.kind === 'mx') {
    fmtOf = () => ({ kind: 'mx', mx: c.mx.name });
    wfmt = (w, n, k) => {
      const q = quantizeMx(c.mx, w, { outer: n, k, inner: 1 });
      return { data: Int32Array.from(q.codes), format: { kind: 'mx', mx: c.mx.name, scales: q.scales } };
    };
  } else {
    wfmt = (w, n, k) => {
      const q = quantizeGroupsMse(w, n, k, c.bits, c.g);
      return { data: q.codes, format: { kind: 'group', bits: c.bits, groupSize: c.g, scale: q.scale } };
    };
  }
  const group = c.kind === 'group';
  tensors.set('xq', tinfo('xq', [1, CIN, H, H], fmtOf(16), affine(8, false, 16 / 255, 128)));
  tensors.set('h', tinfo('h', [1, COUT, H, H], fmtOf(4), affine(8, false, 4 / 255, 0)));
  tensors.set('hf', tinfo('hf', [1, KG], fmtOf(4), affine(8, false, 4 / 255, 0)));
  tensors.set('yq', tinfo('yq', [1, NOUT], fmtOf(8), affine(8, false, 16 / 255, 128)));
  const acc: AccFormat = c.kind === 'float' ? c.acc : 'fp32';
  const lf = (input: string, bias: Float32Array, relu: boolean): LinearFormat => ({
    input: group ? null : tensors.get(input)!.format!,
    acc,
    bias,
    act: relu && !group ? { kind: 'clamp', min: 0, max: Infinity } : { kind: 'none' },
  });
  const wc = wfmt(WC, COUT, KC);
  const wg = wfmt(WG, NOUT, KG);
  const win = { kernel: [3, 3] as [number, number], strides: [1, 1] as [number, number], pads: [1, 1, 1, 1] as [number, number, number, number], dilations: [1, 1] as [number, number] };
  const layers: QLayer[] = [
    { kind: 'quantize', name: 'q', inputs: ['x'], output: 'xq' },
    {
      kind: 'conv', name: 'conv', inputs: ['xq'], output: 'h', ...win, group: 1, bias: null,
      weight: { data: wc.data, shape: [COUT, CIN, 3, 3], q: affine(8, true), format: wc.format },
      activation: group ? { kind: 'clamp', fn: 'relu', lo: 0, hi: 255 } : { kind: 'none' },
      format: lf('xq', BC, true),
    },
    { kind: 'flatten', name: 'flat', inputs: ['h'], output: 'hf', param: [1] },
    {
      kind: 'gemm', name: 'fc', inputs: ['hf'], output: 'yq', ...win, group: 1, bias: null,
      weight: { data: wg.data, shape: [NOUT, KG], q: affine(8, true), format: wg.format },
      activation: { kind: 'none' },
      format: lf('hf', BG, false),
    },
    { kind: 'dequantize', name: 'dq', inputs: ['yq'], output: 'y' },
  ];
  return {
    name: 'formats',
    inputs: [{ name: 'x', dtype: 'float32', shape: [1, CIN, H, H] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [1, NOUT] }],
    tensors,
    layers,
  };
}

// ---------------------------------------------------------------------------------------------
// the reference

/** im2col rows of a 3×3, pad-1 conv over [CIN, H, H] (K in ONNX ckk order; padding `pad`) */
function im2col(x: ArrayLike<number>, pad: number): number[][] {
  const rows: number[][] = [];
  for (let oy = 0; oy < H; oy++)
    for (let ox = 0; ox < H; ox++) {
      const r: number[] = [];
      for (let ci = 0; ci < CIN; ci++)
        for (let ky = 0; ky < 3; ky++)
          for (let kx = 0; kx < 3; kx++) {
            const y = oy + ky - 1;
            const xx = ox + kx - 1;
            r.push(y < 0 || y >= H || xx < 0 || xx >= H ? pad : x[ci * H * H + y * H + xx]);
          }
      rows.push(r);
    }
  return rows;
}

/** a linear layer's real outputs [rows][n] on the reference arithmetic */
function refLinear(c: Case, net: QuantizedNetwork, layer: 'conv' | 'fc', rows: number[][], xq?: QParams): number[][] {
  const l = net.layers.find((x) => x.name === layer)!;
  if (l.kind !== 'conv' && l.kind !== 'gemm') throw new Error('not linear');
  const wf = l.weight.format!;
  const lf = l.format!;
  const k = rows[0].length;
  const n = l.weight.shape[0];
  return rows.map((row) =>
    Array.from({ length: n }, (_, o) => {
      const b = lf.bias![o];
      if (c.kind === 'float' && wf.kind === 'float' && lf.input?.kind === 'float') {
        const f: FloatFormat = floatFormatByName(c.el);
        const t = decodeTable(f);
        const sx = Math.fround(lf.input.scale);
        const s = Math.fround(sx * wf.scale[o]);
        // operands as codes, products of the decoded values (exact in a double)
        const prods = row.map((v, j) => t[encodeFloat(f, Math.fround(v / sx), true)] * t[l.weight.data[o * k + j]]);
        return Math.fround(dotTile(c.acc, prods, Math.fround(b / s)) * s);
      }
      if (c.kind === 'mx' && wf.kind === 'mx') {
        const xr = Float32Array.from(row);
        const xq2 = quantizeMx(c.mx, xr, { outer: 1, k, inner: 1 });
        const xd = dequantizeMx(c.mx, xq2.codes, xq2.scales, { outer: 1, k, inner: 1 });
        const wd = dequantizeMx(c.mx, Uint8Array.from(l.weight.data.subarray(o * k, (o + 1) * k)), wf.scales.subarray(o * Math.ceil(k / 32), (o + 1) * Math.ceil(k / 32)), { outer: 1, k, inner: 1 });
        const blocks: number[] = [];
        for (let b0 = 0; b0 < k; b0 += 32) {
          let sum = 0;
          for (let j = b0; j < Math.min(k, b0 + 32); j++) {
            const next = sum + xd[j] * wd[j];
            expect(next - sum === xd[j] * wd[j]).toBe(true);
            sum = next;
          }
          blocks.push(Math.fround(sum));
        }
        return dotTile('fp32', blocks, b);
      }
      if (c.kind === 'group' && wf.kind === 'group' && xq) {
        const g = wf.groupSize;
        const nb = Math.ceil(k / g);
        const blocks: number[] = [];
        for (let q = 0; q < nb; q++) {
          let t = 0;
          for (let j = q * g; j < Math.min(k, (q + 1) * g); j++) t += (row[j] - xq.zeroPoint[0]) * l.weight.data[o * k + j];
          blocks.push(Math.fround(t * Math.fround(xq.scale[0] * wf.scale[o * nb + q])));
        }
        return dotTile('fp32', blocks, b);
      }
      throw new Error('case and network disagree');
    }),
  );
}

/** the whole network on the reference arithmetic: y as float32 */
function reference(c: Case, net: QuantizedNetwork): Float32Array {
  const fmt = (t: string) => net.tensors.get(t)!.format;
  const snap = (t: string, v: Float32Array, shape: number[]) => (fmt(t) ? snapToFormat(fmt(t)!, v, shape) : v);
  if (c.kind === 'group') {
    const xq = net.tensors.get('xq')!.q;
    // QuantizeLinear: round half to even of the float32 quotient, saturate to uint8
    const q = (v: number, p: QParams) => {
      const d = Math.fround(v / p.scale[0]);
      const r = Math.round(d);
      return Math.min(255, Math.max(0, (Math.abs(d % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r) + p.zeroPoint[0]));
    };
    const xi = Array.from(X, (v) => q(v, xq));
    const h = refLinear(c, net, 'conv', im2col(xi, xq.zeroPoint[0]), xq);
    const hq = net.tensors.get('h')!.q;
    const hcodes = new Array<number>(KG);
    h.forEach((r, p) => r.forEach((v, o) => (hcodes[o * H * H + p] = Math.max(hq.zeroPoint[0], q(v, hq)))));
    const y = refLinear(c, net, 'fc', [hcodes], hq)[0];
    const yq = net.tensors.get('yq')!.q;
    return Float32Array.from(y, (v) => (q(v, yq) - yq.zeroPoint[0]) * yq.scale[0]);
  }
  const xs = snap('xq', X, [1, CIN, H, H]);
  const h = refLinear(c, net, 'conv', im2col(xs, 0));
  const hv = new Float32Array(KG);
  h.forEach((r, p) => r.forEach((v, o) => (hv[o * H * H + p] = Math.max(0, v))));
  const hs = snap('h', hv, [1, COUT, H, H]);
  const y = refLinear(c, net, 'fc', [Array.from(hs)])[0];
  return snap('yq', Float32Array.from(y), [1, NOUT]);
}

const CASES: [string, Case][] = [
  ['FP8 E4M3, FP32 accumulator', { kind: 'float', el: 'fp8-e4m3', acc: 'fp32' }],
  ['FP8 E4M3, BF16 accumulator', { kind: 'float', el: 'fp8-e4m3', acc: 'bf16' }],
  ['FP8 E5M2, FP16 accumulator', { kind: 'float', el: 'fp8-e5m2', acc: 'fp16' }],
  ['BF16, FP32 accumulator', { kind: 'float', el: 'bf16', acc: 'fp32' }],
  ['MXFP8 E4M3', { kind: 'mx', mx: MXFP8_E4M3 }],
  ['MXINT8', { kind: 'mx', mx: MXINT8 }],
  ['MXFP4', { kind: 'mx', mx: MXFP4_E2M1 }],
  ['per-group INT4 (g 8) weights, INT8 activations', { kind: 'group', bits: 4, g: 8 }],
];

describe('runQuantized on number formats', () => {
  it.each(CASES)('%s: the output equals the float64 reference bit for bit, swamping reported per linear layer', (_, c) => {
    const net = build(c);
    const feeds: Record<string, Tensor> = { x: { dtype: 'float32', shape: [1, CIN, H, H], data: X } };
    const r = runQuantized(net, feeds, { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' } });
    const got = r.outputs.y.data as Float32Array;
    const want = reference(c, net);
    expect(new Uint32Array(got.buffer, got.byteOffset, got.length)).toEqual(new Uint32Array(want.buffer, want.byteOffset, want.length));
    expect(Object.keys(r.swamping)).toEqual(['conv', 'fc']);
    // one tile: every product but the first an in-array add, plus the tile's add onto the bias
    const blocks = c.kind === 'float' ? [KC, KG] : c.kind === 'mx' ? [Math.ceil(KC / 32), Math.ceil(KG / 32)] : [Math.ceil(KC / c.g), Math.ceil(KG / c.g)];
    expect(r.swamping.conv.adds).toBe(COUT * H * H * blocks[0]);
    expect(r.swamping.fc.adds).toBe(NOUT * blocks[1]);
    expect(Object.keys(r.overflow)).toEqual([]);
    // the outputs are not trivially equal across formats: this case's y is nonzero somewhere
    expect(got.some((v) => v !== 0)).toBe(true);
  });

  it('a BF16 accumulator swamps where FP32 does not: long sums of small products onto a large bias', () => {
    const f32 = build({ kind: 'float', el: 'fp8-e4m3', acc: 'fp32' });
    const bf = build({ kind: 'float', el: 'fp8-e4m3', acc: 'bf16' });
    const feeds: Record<string, Tensor> = { x: { dtype: 'float32', shape: [1, CIN, H, H], data: X } };
    const opts = { requant: { mode: 'float' as const }, acc: { bits: 32, policy: 'wrap' as const } };
    const a = runQuantized(f32, feeds, opts).swamping;
    const b = runQuantized(bf, feeds, opts).swamping;
    expect(b.fc.events + b.conv.events).toBeGreaterThan(a.fc.events + a.conv.events);
  });
});
