/**
 * Per-channel clamp bounds (CLE through ReLU6 with cleRelu6 'clip': channel i clipped at 6/s_i):
 * the integer bounds clampBounds derives (round half even of f/s plus z, saturated — checked by
 * hand), and the requant unit's clamp with them, bit for bit against a reference written here
 * (BigInt gemmlowp arithmetic for fixed mode, ORT's float32 steps for float mode) in qnet's
 * requantize, the functional executor (sim/qexec), ONNX Runtime on the exported network (QOperator
 * and QDQ: the clamp written as Clip, then Min) and the engine's functional path on an arch
 * (evaluateOnArch) — which also refuses such a network on an arch without per-channel bounds and
 * counts the bounds as requant parameters (stored and moved), one per output channel.
 */
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../../arch/presets.js';
import { validateArchSpec } from '../../../arch/spec.js';
import { UsageError } from '../../../errors/index.js';
import type { Tensor } from '../../../nets/graph.js';
import type { QActivation, QLinearLayer, QParams, QuantizedNetwork } from '../../../qnet/network.js';
import { clampBounds, clampCodes, quantizeMultiplier, requantize, requantParams } from '../../../qnet/requant.js';
import { evaluateOnArch } from '../../../scenarios/evaluate.js';
import { simulate } from '../../../sim/engine/index.js';
import { workloadFromQuantizedNetwork } from '../../../sim/engine/workload.js';
import { runQuantized } from '../../../sim/qexec.js';
import { hasPerChannelClamp, requantUnitProblem } from '../../../sim/requant-unit.js';
import { exportQuantizedOnnx } from '../../../quant/onnx/qexport.js';
import { mbqmRef } from '../../helpers/fixed-point-ref.js';
import { runOrt } from '../../helpers/ort.js';

const uint8 = (scale: number, zero: number): QParams => ({ scale: Float32Array.of(scale), zeroPoint: Int32Array.of(zero), axis: -1, bits: 8, signed: false, narrow: false });

describe('clampBounds with per-channel bounds', () => {
  it('each bound is z + round_half_even(f / s), saturated to [lo, qmax]; hi is their maximum (hand values)', () => {
    // s = 0.25 and z = 10 keep every f / s exact: 0.125 → 0.5 → 0 (half to even), 0.375 → 1.5 → 2,
    // 6 → 24, 12 → 48, 100 → 400 saturates at 255
    const act = clampBounds('clip', uint8(0.25, 10), { rounding: 'even', min: 0, max: 100, channelMax: Float32Array.of(0.125, 0.375, 6, 12, 100) });
    expect(act).toEqual({ kind: 'clamp', fn: 'clip', lo: 10, hi: 255, channelHi: Int32Array.of(10, 12, 34, 58, 255) });
    // TFLite's rounding (half away from zero) moves the first tie up
    const away = clampBounds('clip', uint8(0.25, 10), { rounding: 'away', min: 0, max: 100, channelMax: Float32Array.of(0.125, 0.375) });
    expect(away.kind === 'clamp' && Array.from(away.channelHi!)).toEqual([11, 12]);
    // a bound of 0 (a channel CLE silenced) clamps at the zero point
    const dead = clampBounds('clip', uint8(0.25, 10), { rounding: 'even', min: 0, max: 6, channelMax: Float32Array.of(0, 6) });
    expect(dead.kind === 'clamp' && Array.from(dead.channelHi!)).toEqual([10, 34]);
  });

  it('refuses a bound below the lower one and per-channel bounds on anything but a clip', () => {
    expect(() => clampBounds('clip', uint8(0.25, 10), { min: 0, max: 6, channelMax: Float32Array.of(6, -1) })).toThrow(/channel 1's bound -1 is below the lower bound 0/);
    expect(() => clampBounds('relu6', uint8(0.25, 10), { channelMax: Float32Array.of(6) })).toThrow(/per-channel bounds are a clip/);
  });
});

// ---- the reference: gemmlowp's fixed-point requant in BigInt (test/helpers), ORT's float32 one, then the clamp

function refFixed(acc: number, m0: number, shift: number, z: number): number {
  return Number(mbqmRef(BigInt(acc), BigInt(m0), shift, 'double')) + z;
}

function refFloat(acc: number, m: number, z: number, lo: number, hi: number): number {
  let v = Math.fround(Math.fround(acc) * m);
  v = Math.min(Math.max(v, lo - z), hi - z);
  const f = Math.floor(v);
  const r = v - f > 0.5 || (v - f === 0.5 && f % 2 !== 0) ? f + 1 : f;
  return r + z;
}

/** accumulators [n, c, h, w] → codes, the bounds of channel c: [max(0, lo), min(255, hi_c)] */
function reference(acc: Float64Array, shape: readonly number[], mode: 'fixed' | 'float', sx: number, sw: Float32Array, sy: number, z: number, act: Extract<QActivation, { kind: 'clamp' }>): Int32Array {
  const [, c, h, w] = shape;
  const out = new Int32Array(acc.length);
  for (let i = 0; i < acc.length; i++) {
    const ch = Math.floor(i / (h * w)) % c;
    const s = sw[sw.length === 1 ? 0 : ch];
    const lo = Math.max(0, act.lo);
    const hi = Math.min(255, act.channelHi![ch]);
    if (mode === 'float') out[i] = refFloat(acc[i], Math.fround(Math.fround(sx * s) / Math.fround(sy)), z, lo, hi);
    else {
      const q = quantizeMultiplier((Math.fround(sx) * s) / Math.fround(sy), 32, 'double');
      out[i] = Math.min(Math.max(refFixed(acc[i], q.m0, q.shift, z), lo), hi);
    }
  }
  return out;
}

const CLIP: Extract<QActivation, { kind: 'clamp' }> = { kind: 'clamp', fn: 'clip', lo: 3, hi: 200, channelHi: Int32Array.of(20, 200, 3) };

describe('requantize with per-channel clamp bounds', () => {
  const shape = [2, 3, 2, 2];
  const acc = Float64Array.from({ length: 24 }, (_, i) => ((i * 7919) % 97) * 53 - 1500);
  for (const mode of ['fixed', 'float'] as const) {
    for (const sw of [Float32Array.of(0.013), Float32Array.of(0.013, 0.021, 0.008)]) {
      it(`${mode} mode, ${sw.length === 1 ? 'per-tensor' : 'per-channel'} multipliers: the reference's codes`, () => {
        const params = requantParams(0.5, sw, 0.1, { mode });
        const got = requantize(acc, shape, params, 3, uint8(0.1, 3), CLIP);
        const want = reference(acc, shape, mode, 0.5, sw, 0.1, 3, CLIP);
        expect(Array.from(got)).toEqual(Array.from(want));
        // the bounds cut: channel 0 saturates at 20 and channel 2 sits at 3, where one bound (200) would not hold them
        const at = (c: number) => Array.from(got).filter((_, i) => Math.floor(i / 4) % 3 === c);
        expect(at(0)).toContain(20);
        expect(Math.max(...at(0))).toBe(20);
        expect(at(2).every((v) => v === 3)).toBe(true);
        expect(Math.max(...at(1))).toBeGreaterThan(20);
      });
    }
  }

  it('clampCodes (a standalone activation) cuts each channel at its bound and the type range', () => {
    const codes = Int32Array.from([0, 50, 250, 255, 0, 50, 250, 255, 0, 50, 250, 255]);
    expect(Array.from(clampCodes(codes, [1, 3, 4], CLIP, 0, 240))).toEqual([3, 20, 20, 20, 3, 50, 200, 200, 3, 3, 3, 3]);
    expect(() => clampCodes(new Int32Array(8), [1, 2, 4], CLIP)).toThrow(/3 clamp bounds for shape \[1,2,4\]/);
  });
});

/** x (float, [n, 3, 2, 2]) → quantize → 1×1 conv 3→3 with CLIP fused → dequantize */
function tinyNet(act: QActivation): QuantizedNetwork {
  const xq = uint8(0.5, 0);
  const yq = uint8(0.1, 3);
  const conv: QLinearLayer = {
    kind: 'conv',
    name: 'conv',
    inputs: ['xq'],
    output: 'yq',
    kernel: [1, 1],
    strides: [1, 1],
    pads: [0, 0, 0, 0],
    dilations: [1, 1],
    group: 1,
    weight: { data: Int32Array.of(40, -20, 7, 3, 90, -60, 127, 5, -9), shape: [3, 3, 1, 1], q: { scale: Float32Array.of(0.013), zeroPoint: Int32Array.of(0), axis: -1, bits: 8, signed: true, narrow: true } },
    bias: Int32Array.of(-30, 100, -2000),
    activation: act,
  };
  return {
    name: 'tiny',
    inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 3, 2, 2] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 3, 2, 2] }],
    tensors: new Map([
      ['xq', { name: 'xq', shape: [-1, 3, 2, 2], q: xq }],
      ['yq', { name: 'yq', shape: [-1, 3, 2, 2], q: yq }],
    ]),
    layers: [{ kind: 'quantize', name: 'q', inputs: ['x'], output: 'xq' }, conv, { kind: 'dequantize', name: 'dq', inputs: ['yq'], output: 'y' }],
  };
}

/** the conv's output codes by the reference: accumulators by hand (1×1 conv), then `reference` */
function tinyReference(images: Float32Array, n: number, mode: 'fixed' | 'float'): Int32Array {
  const net = tinyNet(CLIP);
  const conv = net.layers[1] as QLinearLayer;
  const acc = new Float64Array(n * 12);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < 3; o++) {
      for (let p = 0; p < 4; p++) {
        let a = conv.bias![o];
        for (let i = 0; i < 3; i++) {
          const x = images[b * 12 + i * 4 + p];
          const q = Math.min(255, Math.max(0, Math.round(x / 0.5))); // the inputs below are whole multiples of 0.5
          a += conv.weight.data[o * 3 + i] * q;
        }
        acc[b * 12 + o * 4 + p] = a;
      }
    }
  }
  return reference(acc, [n, 3, 2, 2], mode, 0.5, conv.weight.q.scale, 0.1, 3, CLIP);
}

describe('per-channel clamp bounds in sim/ and on an arch', () => {
  const n = 4;
  const images = Float32Array.from({ length: n * 12 }, (_, i) => ((i * 37) % 23) * 0.5);
  const feeds: Record<string, Tensor> = { x: { dtype: 'float32', shape: [n, 3, 2, 2], data: images } };
  const edge = validateArchSpec(structuredClone(PRESETS['edge-npu']));
  const mcu = validateArchSpec(structuredClone(PRESETS['mcu-npu']));

  it('the functional executor (sim/qexec) computes the reference codes, fixed and float', () => {
    for (const mode of ['fixed', 'float'] as const) {
      let codes: number[] = [];
      runQuantized(tinyNet(CLIP), feeds, { requant: { mode }, acc: { bits: 32, policy: 'wrap' }, onLayer: (l, out) => l.name === 'conv' && (codes = Array.from(out.data as Uint8Array)) });
      expect(codes).toEqual(Array.from(tinyReference(images, n, mode)));
    }
  });

  it('ONNX Runtime runs the exported network (the clamp as Clip, then Min with DQ(hi_c)) to the same codes, QOperator and QDQ', async () => {
    const want = Array.from(tinyReference(images, n, 'float'), (q) => Math.fround(Math.fround(0.1) * (q - 3)));
    for (const format of ['qop', 'qdq'] as const) {
      const bytes = exportQuantizedOnnx(tinyNet(CLIP), { format });
      const y = (await runOrt(bytes, feeds)).y.data as Float32Array;
      expect(Array.from(y)).toEqual(want);
    }
  });

  it('edge-npu (requant.perChannelClamp by default) runs it bit-exactly; mcu-npu refuses it by the shared check', async () => {
    expect(edge.requant.perChannelClamp).toBe(true);
    expect(mcu.requant.perChannelClamp).toBe(false);
    const set = { images, shape: [3, 2, 2], count: n };
    const ev = await evaluateOnArch(edge, tinyNet(CLIP), set, { batch: 2 });
    const want = Array.from(tinyReference(images, n, 'fixed'), (q) => Math.fround(Math.fround(0.1) * (q - 3)));
    expect(Array.from(ev.outputs)).toEqual(want);
    expect(hasPerChannelClamp(tinyNet(CLIP))).toBe(true);
    expect(requantUnitProblem('mcu-npu', mcu, tinyNet(CLIP))).toMatch(/^mcu-npu clamps with one range per tensor \(requant\.perChannelClamp false\)/);
    const e = await evaluateOnArch(mcu, tinyNet(CLIP), set, { batch: 2 }).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toMatch(/requant\.perChannelClamp false.*--cle-relu6/);
    // one bound for the tensor runs there
    const scalar: QActivation = { kind: 'clamp', fn: 'clip', lo: 3, hi: 200 };
    expect(requantUnitProblem('mcu-npu', mcu, tinyNet(scalar))).toBeNull();
  });

  it('the bounds are requant parameters: one set per output channel with the bound, stored and moved', () => {
    const scalar: QActivation = { kind: 'clamp', fn: 'clip', lo: 3, hi: 200 };
    const conv = (act: QActivation) => workloadFromQuantizedNetwork(tinyNet(act), [1, 3, 2, 2], edge).layers.find((l) => l.name === 'conv')!;
    const withBounds = conv(CLIP);
    const without = conv(scalar);
    // a set is M0 (32 bits) + shift (8) [+ the bound, an output code: 8]; per tensor one set, per channel three
    expect([without.perChannel, without.requantParamBytes, without.clampBoundBits]).toEqual([false, 5, 0]);
    expect([withBounds.perChannel, withBounds.requantParamBytes, withBounds.clampBoundBits]).toEqual([true, 18, 8]);
    const bits = (act: QActivation) => {
      const r = simulate(edge, workloadFromQuantizedNetwork(tinyNet(act), [1, 3, 2, 2], edge));
      return r.layers.find((l) => l.name === 'conv')!.bits;
    };
    // DRAM → buffer: the stored bytes; buffer → unit: one set per output channel of the tile
    expect(bits(scalar).dramBuffer.requantParams).toBe(40);
    expect(bits(CLIP).dramBuffer.requantParams).toBe(144);
    expect(bits(scalar).bufferArray.requantParams).toBe(40);
    expect(bits(CLIP).bufferArray.requantParams).toBe(3 * 48);
  });
});
