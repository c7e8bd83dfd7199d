/**
 * Layer boundaries kept on chip (arch memories.onChipBoundaries). The DRAM traffic a kept boundary
 * removes is checked against tensor sizes worked out by hand here (a small residual network: what
 * crossed each boundary, and which tensor must still be written because a later layer reads it);
 * the optimal policy against an exhaustive search over every set of boundaries; greedy against
 * optimal on a chain built so that the first saving blocks a larger one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../../arch/presets.js';
import { validateArchSpec, type ArchSpec } from '../../../arch/spec.js';
import { ConfigError } from '../../../arch/errors.js';
import type { QLinearLayer, QParams, QuantizedNetwork } from '../../../qnet/network.js';
import { gemmShape, reservedBytes } from '../../../sim/engine/fold-model.js';
import { planGemmLayer, planOnChip, planVectorLayer, simulate, workloadFromQuantizedNetwork } from '../../../sim/engine/index.js';
import type { Workload, WorkloadLayer } from '../../../sim/engine/workload.js';
import { gemmViewOfGemm } from '../../../sim/timing/gemm-view.js';

const qp = (scale: number, zp: number, signed = false): QParams => ({ scale: Float32Array.of(scale), zeroPoint: Int32Array.of(zp), axis: -1, bits: 8, signed, narrow: false });
const edge = (policy?: 'greedy' | 'optimal', capacity = '256 KiB', bands = false): ArchSpec =>
  validateArchSpec({
    ...PRESETS['edge-npu'],
    name: `edge-${policy ?? 'none'}${bands ? '-bands' : ''}`,
    memories: { ...PRESETS['edge-npu'].memories, glb: { ...PRESETS['edge-npu'].memories.glb!, capacity }, ...(policy && { onChipBoundaries: policy }), ...(bands && { fusion: 'bands' as const }) },
  });

/** quantize → conv1 (8→16) → conv2 (16→c2), 3×3 pad 1 on 32×32, → dequantize; or a dense head */
function convChain(c2: number, head: 'conv' | 'dense' = 'conv'): QuantizedNetwork {
  const conv = (name: string, input: string, output: string, cin: number, cout: number): QLinearLayer => ({
    kind: 'conv', name, inputs: [input], output, weight: { data: new Int32Array(cout * cin * 9), shape: [cout, cin, 3, 3], q: qp(0.01, 0, true) }, bias: new Int32Array(cout),
    kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1, activation: { kind: 'clamp', fn: 'relu', lo: 0, hi: 255 } as never,
  });
  const t = (name: string, shape: number[]) => [name, { name, shape, q: qp(0.1, 0) }] as const;
  const dense = {
    kind: 'gemm', name: 'fc', inputs: ['f'], output: 'y2', weight: { data: new Int32Array(10 * 16384), shape: [10, 16384], q: qp(0.01, 0, true) }, bias: new Int32Array(10), activation: { kind: 'none' },
  } as unknown as QLinearLayer;
  return {
    name: 'chain',
    inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 8, 32, 32] }],
    outputs: [{ name: 'z', dtype: 'float32', shape: head === 'conv' ? [-1, c2, 32, 32] : [-1, 10] }],
    tensors: new Map([t('xq', [-1, 8, 32, 32]), t('y1', [-1, 16, 32, 32]), t('f', [-1, 16384]), t('y2', head === 'conv' ? [-1, c2, 32, 32] : [-1, 10])]),
    layers: [
      { kind: 'quantize', name: 'q', inputs: ['x'], output: 'xq' },
      conv('conv1', 'xq', 'y1', 8, 16),
      ...(head === 'conv' ? [conv('conv2', 'y1', 'y2', 16, c2)] : [{ kind: 'flatten', name: 'flatten', inputs: ['y1'], output: 'f', axis: 1 }, dense]),
      { kind: 'dequantize', name: 'dq', inputs: ['y2'], output: 'z' },
    ] as QuantizedNetwork['layers'],
  };
}

/** quantize → conv1 → conv2 → add(conv2, conv1) → flatten → fc → dequantize, 3×8×8 input */
function residual(): QuantizedNetwork {
  const conv = (name: string, input: string, output: string, cin: number): QLinearLayer => ({
    kind: 'conv', name, inputs: [input], output, weight: { data: new Int32Array(8 * cin * 9), shape: [8, cin, 3, 3], q: qp(0.01, 0, true) }, bias: new Int32Array(8),
    kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1, activation: { kind: 'clamp', fn: 'relu', lo: 0, hi: 255 } as never,
  });
  const gemm: QLinearLayer = {
    kind: 'gemm', name: 'fc', inputs: ['f'], output: 'z8', weight: { data: new Int32Array(10 * 512), shape: [10, 512], q: qp(0.01, 0, true) }, bias: new Int32Array(10), activation: { kind: 'none' },
  } as unknown as QLinearLayer;
  const t = (name: string, shape: number[]) => [name, { name, shape, q: qp(0.1, 0) }] as const;
  return {
    name: 'residual',
    inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 3, 8, 8] }],
    outputs: [{ name: 'z', dtype: 'float32', shape: [-1, 10] }],
    tensors: new Map([t('xq', [-1, 3, 8, 8]), t('y1', [-1, 8, 8, 8]), t('y2', [-1, 8, 8, 8]), t('s', [-1, 8, 8, 8]), t('f', [-1, 512]), t('z8', [-1, 10])]),
    layers: [
      { kind: 'quantize', name: 'q', inputs: ['x'], output: 'xq' },
      conv('conv1', 'xq', 'y1', 3),
      conv('conv2', 'y1', 'y2', 8),
      { kind: 'add', name: 'add', inputs: ['y2', 'y1'], output: 's', activation: { kind: 'none' } },
      { kind: 'flatten', name: 'flatten', inputs: ['s'], output: 'f', axis: 1 },
      gemm,
      { kind: 'dequantize', name: 'dq', inputs: ['z8'], output: 'z' },
    ] as QuantizedNetwork['layers'],
  };
}

describe('layer boundaries kept on chip', () => {
  it('removes exactly the DRAM traffic of the tensors that no longer cross the boundary (sizes by hand)', () => {
    const net = residual();
    const none = simulate(edge(), workloadFromQuantizedNetwork(net, [1, 3, 8, 8], edge()));
    const spec = edge('optimal');
    const kept = simulate(spec, workloadFromQuantizedNetwork(net, [1, 3, 8, 8], spec));
    // bytes by hand (8-bit codes): xq 3·8·8 = 192; y1, y2, s 8·8·8 = 512; z8 10
    // q→conv1: xq kept (192 not written, not read); conv1→conv2: y1 kept for conv2 but also written
    // (the add reads it later: 512 written, 512 of conv2's read saved); conv2→add: y2 kept (512 +
    // 512; the add still reads y1's 512 from DRAM); add→fc through the flatten view: 512 + 512;
    // fc→dq: z8 kept (10 + 10); dq writes the float logits to the host (40)
    const saved: Record<string, { read: number; write: number }> = {
      q: { read: 0, write: 192 },
      conv1: { read: 192, write: 0 },
      conv2: { read: 512, write: 512 },
      add: { read: 512, write: 512 },
      flatten: { read: 0, write: 0 },
      fc: { read: 512, write: 10 },
      dq: { read: 10, write: 0 },
    };
    for (let i = 0; i < none.layers.length; i++) {
      const a = none.layers[i];
      const b = kept.layers[i];
      expect({ layer: a.name, read: a.dramBytes.read - b.dramBytes.read, write: a.dramBytes.write - b.dramBytes.write }).toEqual({ layer: a.name, ...saved[a.name] });
    }
    expect(none.totals.dramBytes.read - kept.totals.dramBytes.read).toBe(192 + 512 * 3 + 10);
    expect(none.totals.dramBytes.write - kept.totals.dramBytes.write).toBe(192 + 512 * 2 + 10);
    expect(kept.layers.find((l) => l.name === 'conv1')!.onChip).toEqual({ inputBytes: 192, output: 'kept-and-written' });
    expect(kept.layers.find((l) => l.name === 'add')!.onChip).toEqual({ inputBytes: 512, output: 'kept' });
    // the kept tensors' DRAM energy is gone, and the inference does not get slower
    expect(kept.totals.energyPj).toBeLessThan(none.totals.energyPj);
    expect(kept.totals.cycles).toBeLessThanOrEqual(none.totals.cycles);
    // what the plan reports of each boundary
    const plan = planOnChip(spec, workloadFromQuantizedNetwork(net, [1, 3, 8, 8], spec));
    expect(plan.boundaries.map((b) => [b.tensor, b.bytes, b.consumerBytes, b.kept, b.alsoWritten])).toEqual([
      ['xq', 192, 192, true, false],
      ['y1', 512, 512, true, true],
      ['y2', 512, 512, true, false],
      ['s', 512, 512, true, false],
      ['z8', 10, 10, true, false],
    ]);
    expect(plan.dramBytesNone - plan.dramBytes).toBe(2 * 192 + 512 * 5 + 2 * 10);
  });

  it('zero skipping is refused on an IS array (it streams weights), naming the field; ws and os accept it', () => {
    const base = PRESETS['edge-npu'];
    expect(() => validateArchSpec({ ...base, array: { ...base.array, dataflow: 'is' }, pe: { ...base.pe, zeroSkipping: 'activation' } })).toThrow(/pe\.zeroSkipping.*ws or os/);
    expect(validateArchSpec({ ...base, pe: { ...base.pe, zeroSkipping: 'activation' } }).pe.zeroSkipping).toBe('activation');
    expect(validateArchSpec({ ...base, pe: { ...base.pe, zeroSkipping: 'none' } }).pe.zeroSkipping).toBeUndefined();
  });

  it('refuses a split-buffer arch, naming the field', () => {
    const split = PRESETS['scalesim-like'] ?? Object.values(PRESETS).find((p) => p.memories.ifmap);
    expect(() => validateArchSpec({ ...split!, memories: { ...split!.memories, onChipBoundaries: 'greedy' } })).toThrow(ConfigError);
    expect(() => validateArchSpec({ ...split!, memories: { ...split!.memories, onChipBoundaries: 'greedy' } })).toThrow(/memories\.onChipBoundaries.*unified buffer/);
    expect(() => validateArchSpec({ ...PRESETS['edge-npu'], memories: { ...PRESETS['edge-npu'].memories, onChipBoundaries: 'always' as never } })).toThrow(/memories\.onChipBoundaries/);
  });

  /** a vector layer of `inBytes` → `outBytes` reading tensor `input`, writing `output` */
  const vec = (name: string, input: string, output: string, inBytes: number, outBytes: number): WorkloadLayer => ({
    name, kind: 'vector', view: null, vectorOp: 'activation', vectorElements: Math.max(inBytes, outBytes), weightBits: 0, activationBits: 8, outputBits: 8, accBits: 32,
    weightBytes: 0, ifmapBytes: inBytes, ofmapBytes: outBytes, biasBytes: 0, requantParamBytes: 0, perChannel: false, activation: { kind: 'none' }, zeroPointTerm: false,
    tensors: { inputs: [input], inputBytes: [inBytes], output },
  });

  it('greedy keeps the first boundary that fits; optimal gives it up for a larger one it blocks', () => {
    // 64 KiB buffer: a (40 KiB) and b (50 KiB) cannot both be held while the middle layer runs
    const KiB = 1024;
    const w: Workload = { name: 'chain', outputs: ['out'], layers: [vec('v0', 'in', 'a', 8 * KiB, 40 * KiB), vec('v1', 'a', 'b', 40 * KiB, 50 * KiB), vec('v2', 'b', 'out', 50 * KiB, 4 * KiB)] };
    const greedy = planOnChip(edge('greedy', '64 KiB'), w);
    const optimal = planOnChip(edge('optimal', '64 KiB'), w);
    expect(greedy.boundaries.map((b) => b.kept)).toEqual([true, false]);
    expect(optimal.boundaries.map((b) => b.kept)).toEqual([false, true]);
    // by hand: no boundary kept moves 8 + 40 + 40 + 50 + 50 + 4 KiB; greedy saves 2·40, optimal 2·50
    expect(greedy.dramBytesNone).toBe(192 * KiB);
    expect(greedy.dramBytes).toBe(112 * KiB);
    expect(optimal.dramBytes).toBe(92 * KiB);
  });

  it('optimal equals the least DRAM traffic of every feasible set of boundaries (exhaustive, random chains)', () => {
    const spec = edge('optimal', '64 KiB');
    const cap = 64 * 1024;
    const dramOf = (l: WorkloadLayer): number => {
      const flagged = (l.ifmapOnChipBytes ?? 0) > 0 || l.ofmapOnChip !== undefined;
      if (flagged && (reservedBytes(l) >= cap || (l.kind === 'gemm' && !gemmShape(spec, l).fits))) return Infinity;
      const a = l.kind === 'gemm' ? planGemmLayer(spec, l).accounting : planVectorLayer(spec, l).accounting;
      return a.dramRead + a.dramWrite;
    };
    const layer = fc.record({ gemm: fc.boolean(), n: fc.integer({ min: 1, max: 600 }) });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 600 }), fc.array(layer, { minLength: 2, maxLength: 6 }), (m, k0, ls) => {
        // a chain of M-row tensors: layer i reads t{i} (k elements a row) and writes t{i+1}; a GEMM
        // makes rows of n, an element layer keeps the row length
        let k = k0;
        const layers: WorkloadLayer[] = ls.map((p, i) => {
          const inBytes = m * k;
          if (!p.gemm) return vec(`v${i}`, `t${i}`, `t${i + 1}`, inBytes, inBytes);
          const l: WorkloadLayer = {
            name: `g${i}`, kind: 'gemm', view: gemmViewOfGemm(`g${i}`, m, k, p.n), vectorOp: null, vectorElements: 0, weightBits: 8, activationBits: 8, outputBits: 8, accBits: 32,
            weightBytes: k * p.n, ifmapBytes: inBytes, ofmapBytes: m * p.n, biasBytes: 4 * p.n, requantParamBytes: 5 * p.n, perChannel: true, activation: { kind: 'none' }, zeroPointTerm: false,
            tensors: { inputs: [`t${i}`], inputBytes: [inBytes], output: `t${i + 1}` },
          };
          k = p.n;
          return l;
        });
        const w: Workload = { name: 'chain', layers, outputs: [`t${layers.length}`] };
        const plan = planOnChip(spec, w);
        let best = Infinity;
        const B = layers.length - 1;
        for (let mask = 0; mask < 1 << B; mask++) {
          let total = 0;
          for (let i = 0; i < layers.length; i++) {
            const inKept = i > 0 && (mask >> (i - 1)) & 1;
            const outKept = i < B && (mask >> i) & 1;
            const { tensors: _t, ...rest } = layers[i];
            total += dramOf({ ...rest, ...(inKept && { ifmapOnChipBytes: layers[i].ifmapBytes }), ...(outKept && { ofmapOnChip: 'kept' as const }) });
          }
          best = Math.min(best, total);
        }
        expect(plan.dramBytes).toBe(best);
        // and the chosen boundaries' own traffic is what was reported
        expect(plan.dramBytes).toBeLessThanOrEqual(plan.dramBytesNone);
      }),
      { seed: 20261204, numRuns: 150 },
    );
  });

  it('keeps a tensor too large for the buffer as a band of rows: the whole tensor stays off DRAM (sizes by hand)', () => {
    // y1 = 16·32·32 = 16,384 bytes in a 16 KiB buffer: it cannot stay whole
    const net = convChain(16);
    const whole = edge('optimal', '16 KiB');
    const banded = edge('optimal', '16 KiB', true);
    const w = workloadFromQuantizedNetwork(net, [1, 8, 32, 32], banded);
    const plan = planOnChip(banded, w);
    const y1 = plan.boundaries.find((b) => b.tensor === 'y1')!;
    expect(y1.dramBytesKept).toBe(Infinity);
    expect(planOnChip(whole, workloadFromQuantizedNetwork(net, [1, 8, 32, 32], whole)).boundaries.find((b) => b.tensor === 'y1')!.kept).toBe(false);
    // the band: conv2's 3-row window plus one stride of rows, 4 of y1's 32 rows = 2,048 bytes
    expect([y1.kept, y1.mode, y1.bytes, y1.bandBytes]).toEqual([true, 'band', 16384, 2048]);
    // conv1 writes none of y1, conv2 reads none of it; nothing else of theirs changes
    const none = simulate(edge(undefined, '16 KiB'), workloadFromQuantizedNetwork(net, [1, 8, 32, 32], edge(undefined, '16 KiB')));
    const run = simulate(banded, w);
    const at = (r: typeof run, n: string) => r.layers.find((l) => l.name === n)!;
    expect(at(none, 'conv1').dramBytes.write - at(run, 'conv1').dramBytes.write).toBe(16384);
    expect(at(none, 'conv2').dramBytes.read - at(run, 'conv2').dramBytes.read).toBe(16384);
    // conv1 reserves the line buffer and conv2's weights, bias and requant parameters (and its
    // input xq, kept whole from the quantize layer before it, if the plan kept that too)
    const c2 = w.layers.find((l) => l.name === 'conv2')!;
    const xqKept = plan.boundaries.find((b) => b.tensor === 'xq')!.kept ? 8192 : 0;
    expect(at(run, 'conv1').onChip!.bandReserveBytes).toBe(xqKept + 2048 + c2.weightBytes + c2.biasBytes + c2.requantParamBytes);
    expect(c2.weightBytes).toBe(16 * 16 * 9);
    // the plan's total is the run's
    expect(run.totals.dramBytes.read + run.totals.dramBytes.write).toBe(plan.dramBytes);
    expect(plan.dramBytes).toBeLessThan(planOnChip(whole, workloadFromQuantizedNetwork(net, [1, 8, 32, 32], whole)).dramBytes);
  });

  it('refuses a band where the partner\'s weights cannot stay resident, and offers none into a dense layer', () => {
    // conv2 with 160 output channels: 16·160·9 = 23,040 bytes of weights, more than the 16 KiB buffer
    const big = edge('optimal', '16 KiB', true);
    const plan = planOnChip(big, workloadFromQuantizedNetwork(convChain(160), [1, 8, 32, 32], big));
    const y1 = plan.boundaries.find((b) => b.tensor === 'y1')!;
    expect(y1.bandBytes).toBe(2048);
    expect([y1.kept, y1.dramBytesBand]).toEqual([false, Infinity]);
    // a dense layer needs its whole input vector: no band
    const dense = planOnChip(big, workloadFromQuantizedNetwork(convChain(16, 'dense'), [1, 8, 32, 32], big));
    expect(dense.boundaries.find((b) => b.tensor === 'y1')!.bandBytes).toBeNull();
    // fusion without boundaries kept is refused, naming the field
    expect(() => validateArchSpec({ ...PRESETS['edge-npu'], memories: { ...PRESETS['edge-npu'].memories, fusion: 'bands' } })).toThrow(/memories\.fusion.*onChipBoundaries/);
  });
});
