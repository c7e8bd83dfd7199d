/**
 * The arch's requant unit decides what the functional path computes: M0 at the
 * arch's `requant.multiplierBits` in fixed mode — the default, every arch's unit being fixed-point —
 * and per-channel weights refused on a per-tensor-only unit, by the library call every run path
 * makes (evaluateOnArch). The references are the functional executor (sim/qexec) run with the
 * explicit RequantConfig, in the arch's accumulation order: what `--requant fixed` computed before
 * the arch's width was passed (32 bits) and what an 8-bit M0 computes.
 */
import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { PRESETS } from '../../../arch/presets.js';
import { validateArchSpec, type ArchSpec } from '../../../arch/spec.js';
import { UsageError } from '../../../errors/index.js';
import type { Tensor } from '../../../nets/graph.js';
import { resolvePtqConfig } from '../../../quant/config.js';
import type { QuantizedNetwork } from '../../../qnet/network.js';
import type { RequantConfig } from '../../../qnet/requant.js';
import { evaluationSet, type EvalSet } from '../../../scenarios/datasets.js';
import { evaluateOnArch, inputShapeFor } from '../../../scenarios/evaluate.js';
import { quantizeModel } from '../../../scenarios/quantize.js';
import { timingAccumulator, timingOrder } from '../../../sim/functional.js';
import { runQuantized } from '../../../sim/qexec.js';
import { archRequant, hasPerChannelWeights } from '../../../sim/requant-unit.js';

const FMNIST = '/usr/share/datasets/fashion-mnist';
const SAMPLES = 20;

const withMultiplier = (bits: number): ArchSpec => validateArchSpec({ ...PRESETS['mcu-npu'], name: `mcu-npu-m${bits}`, requant: { ...PRESETS['mcu-npu'].requant, multiplierBits: bits } });

/** the network's first output on `spec`'s accumulator and order, requantized as `requant` says */
function reference(net: QuantizedNetwork, set: EvalSet, spec: ArchSpec, requant: RequantConfig): Float32Array {
  const shape = inputShapeFor(net, set.shape);
  const feeds: Record<string, Tensor> = { [net.inputs[0].name]: { dtype: 'float32', shape: [set.count, ...shape], data: set.images } };
  const r = runQuantized(net, feeds, { requant, acc: timingAccumulator(spec), order: timingOrder(spec), form: spec.pe.form });
  return r.outputs[net.outputs[0].name].data as Float32Array;
}

describe('archRequant: the arch names the requant arithmetic', () => {
  it('fixed by default, M0 at requant.multiplierBits; float only when asked for', () => {
    expect(archRequant(withMultiplier(12))).toEqual({ mode: 'fixed', multiplierBits: 12, rounding: 'double' });
    expect(archRequant(validateArchSpec(structuredClone(PRESETS['mcu-npu'])))).toMatchObject({ mode: 'fixed', multiplierBits: 16 });
    expect(archRequant(withMultiplier(12), 'float')).toEqual({ mode: 'float' });
  });
});

describe.skipIf(!existsSync(FMNIST))('evaluateOnArch on fmnist-cnn: the multiplier width reaches the outputs', () => {
  let net: QuantizedNetwork;
  let set: EvalSet;
  beforeAll(async () => {
    net = (await quantizeModel('fmnist-cnn', 'fmnist', resolvePtqConfig('w8a8-pt', { calibSamples: 64, seed: 0 }))).net;
    set = evaluationSet('fmnist', 'fmnist-cnn', SAMPLES, 0);
  }, 120_000);

  it('a 32-bit M0 gives the previous fixed-point result bit for bit; an 8-bit M0 other logits (its own reference)', async () => {
    const m32 = withMultiplier(32);
    const m8 = withMultiplier(8);
    const ev32 = await evaluateOnArch(m32, net, set, { batch: 8 });
    const ev8 = await evaluateOnArch(m8, net, set, { batch: 8 });
    // `--requant fixed` before the arch's width was passed: RequantConfig { mode: 'fixed' }, 32-bit m0
    expect(ev32.outputs).toEqual(reference(net, set, m32, { mode: 'fixed' }));
    expect(ev8.outputs).toEqual(reference(net, set, m8, { mode: 'fixed', multiplierBits: 8 }));
    let differ = 0;
    for (let i = 0; i < ev8.outputs.length; i++) if (ev8.outputs[i] !== ev32.outputs[i]) differ++;
    expect(differ).toBeGreaterThan(0);
    // float stays available, and is the other arithmetic (so the default above was not it)
    const evFloat = await evaluateOnArch(m32, net, set, { batch: 8, requant: 'float' });
    expect(evFloat.outputs).toEqual(reference(net, set, m32, { mode: 'float' }));
    expect(evFloat.outputs).not.toEqual(ev32.outputs);
  }, 120_000);

  it('per-channel weights on a per-tensor-only requant unit: UsageError naming the arch and the field', async () => {
    // the same network with one scale per output channel on its first conv (the values do not matter: it is refused before any work)
    const layers = net.layers.map((l, i) => {
      if (i !== net.layers.findIndex((x) => x.kind === 'conv') || (l.kind !== 'conv' && l.kind !== 'gemm')) return l;
      const n = l.weight.shape[0];
      return { ...l, weight: { ...l.weight, q: { ...l.weight.q, axis: 0, scale: new Float32Array(n).fill(l.weight.q.scale[0]), zeroPoint: new Int32Array(n) } } };
    });
    const pc: QuantizedNetwork = { ...net, layers };
    expect(hasPerChannelWeights(net)).toBe(false);
    expect(hasPerChannelWeights(pc)).toBe(true);
    const mcu = validateArchSpec(structuredClone(PRESETS['mcu-npu']));
    const e = await evaluateOnArch(mcu, pc, set, { batch: 8 }).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toMatch(/^mcu-npu requantizes per tensor only \(requant\.perChannel false\)/);
    // a per-tensor network runs there
    await expect(evaluateOnArch(mcu, net, set, { batch: 8 })).resolves.toMatchObject({ samples: SAMPLES });
  }, 120_000);
});
