/**
 * The discrete-event engine on tiny layers whose cycles, bytes and counts are worked out by hand
 * in each test (SCALE-Sim's per-fold cycle formulas: OS K + R + C − 2, WS/IS 2R + C + T − 2).
 */
import { describe, expect, it } from 'vitest';
import { HOROWITZ_45NM, validateEnergyTable } from '../../../arch/energy.js';
import { validateArchSpec, type ArchSpec, type ArchSpecInput } from '../../../arch/spec.js';
import { EventHeap, simulate, workloadFromViews, type Workload, type WorkloadLayer } from '../../../sim/engine/index.js';
import { EVENT_CHUNK_SIZE, EventKind, type EventChunk, type TileEvent } from '../../../sim/events.js';
import { recomputeEnergy } from '../../../sim/result.js';
import { gemmViewOfGemm, type GemmView } from '../../../sim/timing/gemm-view.js';

type Over = Partial<Omit<ArchSpecInput, 'memories'>> & { memories?: ArchSpecInput['memories'] };

function arch(o: Over = {}): ArchSpec {
  return validateArchSpec({
    name: 'tiny',
    array: { rows: 4, cols: 4, dataflow: 'os' },
    memories: {
      ifmap: { capacityBytes: 65536 },
      filter: { capacityBytes: 65536 },
      ofmap: { capacityBytes: 65536 },
      dram: { bytesPerCycle: 4, latencyCycles: 10, mode: 'user' },
    },
    requant: { lanesPerCycle: 4, latencyCycles: 0, perChannel: true, multiplierBits: 32 },
    // one-byte bursts and no outstanding-request limit: transfers cost ⌈bytes / bytesPerCycle⌉
    // (the burst and window effects have their own test)
    dma: { engines: 2, burstBytes: 1, maxOutstanding: 65536 },
    ...o,
  } as ArchSpecInput);
}

const calc = (o: Over = {}): ArchSpec =>
  arch({
    ...o,
    memories: o.memories ?? {
      ifmap: { capacityBytes: 65536 },
      filter: { capacityBytes: 65536 },
      ofmap: { capacityBytes: 65536 },
      dram: { bytesPerCycle: 4, latencyCycles: 0, mode: 'calc' },
    },
  });

function gemm(spec: ArchSpec, M: number, K: number, N: number, patch: Partial<WorkloadLayer> = {}): Workload {
  const w = workloadFromViews([gemmViewOfGemm('L', M, K, N)], spec);
  return { name: 'w', layers: [{ ...w.layers[0], ...patch }] };
}

describe('EventHeap', () => {
  it('pops in (cycle, insertion) order', () => {
    const h = new EventHeap(2);
    const pushed: [number, number][] = [];
    let x = 12345;
    for (let i = 0; i < 500; i++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      const cycle = x % 37;
      h.push(cycle, i % 4, i);
      pushed.push([cycle, i]);
    }
    const want = [...pushed].sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((p) => p[1]);
    const got: number[] = [];
    while (h.size > 0) {
      got.push(h.peekArg());
      h.pop();
    }
    expect(got).toEqual(want);
  });
});

describe('simulate: hand-calculated layers', () => {
  it('one OS fold, CALC DRAM: K + R + C − 2 cycles', () => {
    // 4×4 OS, M=4 K=8 N=4: one fold of 8 + 4 + 4 − 2 = 14 cycles; requant latency 0
    const r = simulate(calc(), gemm(calc(), 4, 8, 4));
    expect(r.layers[0].cycles).toEqual(14);
    expect(r.layers[0].computeCycles).toEqual(14);
    expect(r.layers[0].stallCycles).toEqual(0);
    expect(r.layers[0].macs).toEqual(4 * 8 * 4);
  });

  it('zero-vector skipping shortens each fold\'s stream by the skipped share, rounded down (OS: the K steps, WS: the M rows)', () => {
    // OS 4×4, M=4 K=8 N=4: 14 cycles; 30 % of the K steps all zero: ⌊8 · 0.3⌋ = 2 fewer → 12
    expect(simulate(calc(), gemm(calc(), 4, 8, 4, { skipFraction: 0.3 })).layers[0].cycles).toBe(12);
    // WS 4×4, M=5 K=4 N=4: 2R + C + M − 2 = 15; half the streamed rows zero: ⌊5 · 0.5⌋ = 2 → 13
    const ws = calc({ array: { rows: 4, cols: 4, dataflow: 'ws' } });
    expect(simulate(ws, gemm(ws, 5, 4, 4)).layers[0].cycles).toBe(15);
    expect(simulate(ws, gemm(ws, 5, 4, 4, { skipFraction: 0.5 })).layers[0].cycles).toBe(13);
    // WS, M=5 K=8 N=8: 2 row × 2 column folds of 15, each 2 shorter: 4 · 13
    expect(simulate(ws, gemm(ws, 5, 8, 8, { skipFraction: 0.5 })).layers[0].cycles).toBe(4 * 13);
    // nothing else moves: the same MACs and bytes
    const a = simulate(ws, gemm(ws, 5, 8, 8)).layers[0];
    const b = simulate(ws, gemm(ws, 5, 8, 8, { skipFraction: 0.5 })).layers[0];
    expect([b.macs, b.dramBytes, b.bits]).toEqual([a.macs, a.dramBytes, a.bits]);
  });

  it('one OS fold, DRAM-bound: load, compute, requant, write', () => {
    // load before the fold: ifmap 4·8 + weights 8·4 + bias 4·4 + requant params 4·(32+8)/8 = 100 B
    //   → ⌈100/4⌉ = 25 bus cycles + latency 10 = done at 35 (array waits: operand late 35)
    // fold 14 cycles → 49; requant: 16 outputs at 4 lanes over the 4-cycle drain → done at 49
    // write 16 B: 4 bus cycles + 10 latency → 63
    const r = simulate(arch(), gemm(arch(), 4, 8, 4));
    const l = r.layers[0];
    expect(l.cycles).toEqual(63);
    expect(l.stalls).toEqual({ operandLate: 35, bufferFull: 0, requantBusy: 0 });
    expect(l.tailCycles).toEqual(14);
    expect(l.dramBytes).toEqual({ read: 100, write: 16 });
    expect(l.bits.dramBuffer).toEqual({ weights: 256, inputs: 256, outputs: 128, psums: 0, bias: 128, requantParams: 160, attention: 0 });
  });

  it('DMA bursts round a transfer up on the bus, and outstanding bursts cap its rate by the latency', () => {
    // the 100 B load of the layer above in 16 B bursts: ⌈100/16⌉ = 7 bursts = 112 B on the bus →
    // ⌈112/4⌉ = 28 bus cycles; the 16 B write: 1 burst, 4 cycles
    const wide = arch({ dma: { engines: 2, burstBytes: 16, maxOutstanding: 65536 } });
    // no window limit: load done 28 + 10 = 38; fold 14 → 52; write 4 + 10 → 66
    const a = simulate(wide, gemm(wide, 4, 8, 4)).layers[0];
    expect([a.cycles, a.stalls.operandLate]).toEqual([66, 38]);
    // two bursts outstanding: 7 bursts go in ⌈7/2⌉ = 4 round trips, the first three waited for
    // (3 × 10 = 30 > 28 bus cycles) → load done 30 + 10 = 40; fold → 54; write (one burst) → 68
    const narrow = arch({ dma: { engines: 2, burstBytes: 16, maxOutstanding: 2 } });
    const b = simulate(narrow, gemm(narrow, 4, 8, 4)).layers[0];
    expect([b.cycles, b.stalls.operandLate]).toEqual([68, 40]);
    // bytes moved are the bytes asked for: bursts cost time, not traffic
    expect(b.dramBytes).toEqual({ read: 100, write: 16 });
  });

  it('requant slower than the drain stalls the array (requant busy) and adds its latency', () => {
    // same fold; 1 lane: 16 outputs take 16 cycles from the drain start (14 − 4 = 10) → 26: 12 stall;
    // latency 5 → results at 31
    const spec = calc({ requant: { lanesPerCycle: 1, latencyCycles: 5 } });
    const l = simulate(spec, gemm(spec, 4, 8, 4)).layers[0];
    expect(l.stalls).toEqual({ operandLate: 0, bufferFull: 0, requantBusy: 12 });
    expect(l.cycles).toEqual(31);
  });

  it('buffer-bound WS layer: folds cut into sub-tiles, same compute cycles, output slots stall', () => {
    // 4×4 WS, M=64 K=4 N=4: one fold of 2·4 + 4 + 64 − 2 = 74 cycles; output tile 64·4 = 256 B,
    // two of them in a 128-B ofmap buffer → 4 sub-tiles of 18, 18, 18, 20 cycles and 64 B of outputs
    const mem = (mode: 'calc' | 'user', bpc: number, lat: number) => ({
      ifmap: { capacityBytes: 65536 },
      filter: { capacityBytes: 65536 },
      ofmap: { capacityBytes: 128 },
      dram: { bytesPerCycle: bpc, latencyCycles: lat, mode },
    });
    const c = calc({ array: { rows: 4, cols: 4, dataflow: 'ws' }, memories: mem('calc', 1, 0) });
    const rc = simulate(c, gemm(c, 64, 4, 4));
    expect(rc.layers[0].cycles).toEqual(74);
    const ev: number[] = [];
    simulate(c, gemm(c, 64, 4, 4), { events: { chunk: (k) => { for (let i = 0; i < k.count; i++) if (k.kind[i] === EventKind.Fold) ev.push(k.endCycle[i] - k.startCycle[i]); } } });
    expect(ev).toEqual([18, 18, 18, 20]);
    // 1 B/cycle: the writes (and the loads queued behind them) hold the array up
    const u = arch({ array: { rows: 4, cols: 4, dataflow: 'ws' }, memories: mem('user', 1, 0) });
    const l = simulate(u, gemm(u, 64, 1, 4)).layers[0];
    expect(l.stallCycles).toBeGreaterThan(0);
    // 256 B of outputs must leave at 1 B/cycle after the first results exist
    expect(l.cycles).toBeGreaterThanOrEqual(l.dramBytes.read + l.dramBytes.write);
  });

  it('output-bound OS layer: the array waits for an output slot (buffer full)', () => {
    // 4×4 OS, M=4 K=1 N=64: 16 column folds of 1 + 4 + 4 − 2 = 7 cycles, each loading 4 B of
    // weights (the ifmap slice stays) and writing 16 B of outputs: at 1 B/cycle a write outlasts
    // two folds, so folds wait for one of the two output slots
    const u = arch({ memories: { ifmap: { capacityBytes: 65536 }, filter: { capacityBytes: 65536 }, ofmap: { capacityBytes: 65536 }, dram: { bytesPerCycle: 1, latencyCycles: 0, mode: 'user' } } });
    const l = simulate(u, gemm(u, 4, 1, 64)).layers[0];
    expect(l.stalls.bufferFull).toBeGreaterThan(0);
    expect(l.computeCycles).toEqual(16 * 7);
    expect(l.cycles).toBeGreaterThanOrEqual(l.dramBytes.read + l.dramBytes.write);
  });

  it('WS partial sums that exceed the accumulators spill to the buffer, counted', () => {
    // 4×4 WS, M=64 K=8 N=4: 2 K folds; partial tile 64·4 = 256 entries > 16 accumulators
    // (16 PEs · 4 B / 4 B) → 256 spilled after K fold 0 and read back before K fold 1
    const spec = calc({ array: { rows: 4, cols: 4, dataflow: 'ws' } });
    const l = simulate(spec, gemm(spec, 64, 8, 4)).layers[0];
    expect(l.spills).toEqual({ toBuffer: 256, toDram: 0 });
    // the psums class is the spill traffic, once, at the level it went to (issue 20)
    expect(l.bits.bufferArray.psums).toEqual(2 * 256 * 32);
    expect(l.bits.dramBuffer.psums).toEqual(0);
    expect(l.cycles).toEqual(2 * (2 * 4 + 4 + 64 - 2));
  });

  it('asymmetric weights: one extra array column and M·K + M·N extra adds', () => {
    // OS 4×4, M=4 K=8 N=4 with the ones column: N+1 = 5 → 2 column folds of 14 cycles
    const spec = calc();
    const l = simulate(spec, gemm(spec, 4, 8, 4, { zeroPointTerm: true })).layers[0];
    expect(l.cycles).toEqual(28);
    expect(l.extraAdds).toEqual(4 * 8 + 4 * 4);
    expect(l.macs).toEqual(128);
  });

  it('requant parameters: per-channel sets follow every output tile, a per-tensor set is read once', () => {
    // OS 4×4, M=8 K=8 N=8 → 2 row folds × 2 column folds = 4 output tiles of 4 channels each;
    // one (M0, shift) set is 32 + 8 = 40 bits (multiplierBits 32, an 8-bit shift)
    const spec = calc();
    const pc = simulate(spec, gemm(spec, 8, 8, 8)).layers[0];
    expect(pc.bits.dramBuffer.requantParams).toEqual(8 * 40);
    expect(pc.bits.bufferArray.requantParams).toEqual(4 * 4 * 40);
    const pt = simulate(spec, gemm(spec, 8, 8, 8, { perChannel: false, requantParamBytes: 5 })).layers[0];
    expect(pt.bits.dramBuffer.requantParams).toEqual(40);
    expect(pt.bits.bufferArray.requantParams).toEqual(40);
  });

  it('a vector layer runs on the requant unit: ⌈elements / lanes⌉ cycles plus its latency', () => {
    // add of 256 elements at 4 lanes: 64 cycles; CALC DRAM; results 2 cycles after the last input
    const spec = calc({ requant: { lanesPerCycle: 4, latencyCycles: 2 } });
    const base = gemm(spec, 4, 4, 4).layers[0];
    const l = simulate(spec, {
      name: 'v',
      layers: [{ ...base, kind: 'vector', view: null, vectorOp: 'add', vectorElements: 256, weightBytes: 0, ifmapBytes: 512, ofmapBytes: 256, biasBytes: 0, requantParamBytes: 0 }],
    }).layers[0];
    expect(l.computeCycles).toEqual(64);
    expect(l.cycles).toEqual(66);
    expect(l.macs).toEqual(0);
    expect(l.bits.dramBuffer.inputs).toEqual(512 * 8);
    // two rescaling multiplies and one add per element
    expect(l.counts.filter((c) => c.label === 'vector').map((c) => [c.component, c.count])).toEqual([
      ['multiplier', 512],
      ['adder', 256],
    ]);
  });

  it('unfused activations write int32 out and read it back; LUT activations count table reads', () => {
    const spec = calc();
    const fused = simulate(spec, gemm(spec, 4, 8, 4, { activation: { kind: 'clamp', fn: 'relu', fused: true } })).layers[0];
    const unfused = simulate(spec, gemm(spec, 4, 8, 4, { activation: { kind: 'clamp', fn: 'relu', fused: false } })).layers[0];
    expect(unfused.bits.bufferArray.outputs - fused.bits.bufferArray.outputs).toEqual(2 * 16 * 32);
    const lut = simulate(spec, gemm(spec, 4, 8, 4, { activation: { kind: 'lut', fn: 'sigmoid', fused: true, entries: 256 } })).layers[0];
    expect(lut.counts.filter((c) => c.label === 'lut').map((c) => c.count)).toEqual([16]);
  });
});

describe('simulate: sinks', () => {
  it('functional tiles come per fold in dataflow order with the K split (WS, half-open ranges)', () => {
    // 4×4 WS, M=8 K=10 N=6: row folds K [0,4) [4,8) [8,10), column folds N [0,4) [4,6); row folds fastest
    const spec = calc({ array: { rows: 4, cols: 4, dataflow: 'ws' } });
    const tiles: TileEvent[] = [];
    const seen: string[] = [];
    simulate(spec, gemm(spec, 8, 10, 6), {
      functional: { beginLayer: (l) => seen.push(`b${l}`), tile: (t) => tiles.push(t), endLayer: (l) => seen.push(`e${l}`) },
    });
    expect(seen).toEqual(['b0', 'e0']);
    expect(tiles.map((t) => [t.m0, t.m1, t.n0, t.n1, t.k0, t.k1, t.kFold, t.kFolds])).toEqual([
      [0, 8, 0, 4, 0, 4, 0, 3],
      [0, 8, 0, 4, 4, 8, 1, 3],
      [0, 8, 0, 4, 8, 10, 2, 3],
      [0, 8, 4, 6, 0, 4, 0, 3],
      [0, 8, 4, 6, 4, 8, 1, 3],
      [0, 8, 4, 6, 8, 10, 2, 3],
    ]);
    for (let i = 1; i < tiles.length; i++) expect(tiles[i].cycle).toBeGreaterThan(tiles[i - 1].cycle);
  });

  it('event chunks hold ≤ 4096 events and fold spans add up to the compute cycles', () => {
    // OS 4×4, M=400 K=4 N=4: 100 folds of 4 + 4 + 4 − 2 = 10 cycles, slow DRAM → plenty of events
    const spec = arch({ memories: { glb: { capacityBytes: 1024 }, dram: { bytesPerCycle: 1, latencyCycles: 3 } } });
    const views: GemmView[] = [];
    for (let i = 0; i < 30; i++) views.push(gemmViewOfGemm(`L${i}`, 400, 4, 4));
    let folds = 0;
    let chunks = 0;
    let max = 0;
    const r = simulate(spec, workloadFromViews(views, spec), {
      events: {
        chunk: (c: EventChunk) => {
          chunks++;
          max = Math.max(max, c.count);
          for (let i = 0; i < c.count; i++) if (c.kind[i] === EventKind.Fold) folds += c.endCycle[i] - c.startCycle[i];
        },
      },
    });
    expect(max).toBeLessThanOrEqual(EVENT_CHUNK_SIZE);
    expect(chunks).toBeGreaterThan(1);
    expect(folds).toEqual(r.totals.computeCycles);
    expect(r.totals.computeCycles).toEqual(30 * 100 * 10);
  });

  it('cancellation between layers returns the layers done', () => {
    const spec = calc();
    let calls = 0;
    const views = [gemmViewOfGemm('a', 4, 4, 4), gemmViewOfGemm('b', 4, 4, 4), gemmViewOfGemm('c', 4, 4, 4)];
    const r = simulate(spec, workloadFromViews(views, spec), { cancelled: () => ++calls > 2 });
    expect(r.cancelled).toBe(true);
    expect(r.layers.map((l) => l.name)).toEqual(['a', 'b']);
  });
});

describe('energy after the run', () => {
  it('recomputeEnergy with DRAM at twice the energy adds exactly the DRAM energy again', () => {
    const spec = arch();
    const r = simulate(spec, gemm(spec, 16, 32, 8));
    const dram = r.energy.byComponent.dram.read + r.energy.byComponent.dram.write;
    expect(dram).toBeGreaterThan(0);
    const doubled = validateEnergyTable({
      ...HOROWITZ_45NM,
      name: 'dram-x2',
      entries: HOROWITZ_45NM.entries.map((e) => (e.component === 'dram' ? { ...e, energy: '2.6 nJ' } : e)),
    });
    const again = recomputeEnergy(JSON.parse(JSON.stringify(r)), doubled);
    expect(again.totals.energyPj).toBeCloseTo(r.totals.energyPj + dram, 6);
    expect(again.layers[0].energyPj).toBeCloseTo(r.layers[0].energyPj + dram, 6);
    expect(again.totals.cycles).toEqual(r.totals.cycles);
    expect(again.energy.table).toBe('dram-x2');
  });
});

describe('workloadFromQuantizedNetwork', () => {
  it('linear layers become GEMM views, element layers vector work, layout layers free', async () => {
    const { workloadFromQuantizedNetwork } = await import('../../../sim/engine/index.js');
    const q = (bits: number, zp = 0, n = 1) => ({ scale: new Float32Array(n).fill(0.1), zeroPoint: new Int32Array(n).fill(zp), axis: n > 1 ? 0 : -1, bits, signed: zp === 0, narrow: false });
    const t = (name: string, shape: number[]) => [name, { name, shape, q: q(8, 3) }] as const;
    const conv = {
      kind: 'conv' as const,
      name: 'conv',
      inputs: ['x'],
      output: 'c',
      weight: { data: new Int32Array(4 * 3 * 3 * 3), shape: [4, 3, 3, 3], q: q(8, 1, 4) },
      bias: new Int32Array(4),
      kernel: [3, 3] as const,
      strides: [1, 1] as const,
      pads: [1, 1, 1, 1] as const,
      dilations: [1, 1] as const,
      group: 1,
      activation: { kind: 'clamp' as const, fn: 'relu' as const, lo: 3, hi: 255 },
    };
    const net = {
      name: 'tiny',
      inputs: [{ name: 'x', dtype: 'uint8' as const, shape: [-1, 3, 8, 8] }],
      outputs: [{ name: 'y', dtype: 'uint8' as const, shape: [-1, 10] }],
      tensors: new Map([t('x', [-1, 3, 8, 8]), t('c', [-1, 4, 8, 8]), t('a', [-1, 4, 8, 8]), t('f', [-1, 256]), t('y', [-1, 10])]),
      layers: [
        conv,
        { kind: 'add' as const, name: 'add', inputs: ['c', 'c'], output: 'a', activation: { kind: 'none' as const } },
        { kind: 'flatten' as const, name: 'flat', inputs: ['a'], output: 'f', param: [1] },
        { ...conv, kind: 'gemm' as const, name: 'fc', inputs: ['f'], output: 'y', weight: { data: new Int32Array(2560), shape: [10, 256], q: q(8) }, bias: null, activation: { kind: 'none' as const } },
      ],
    };
    const spec = calc();
    const w = workloadFromQuantizedNetwork(net, [1, 3, 8, 8], spec);
    expect(w.layers.map((l) => l.kind)).toEqual(['gemm', 'vector', 'free', 'gemm']);
    const [c, a, , g] = w.layers;
    // conv: 8×8 outputs (pad 1), K = 3·3·3, N = 4; asymmetric weights (z_w = 1) in the raw PE form
    expect([c.view!.M, c.view!.K, c.view!.N]).toEqual([64, 27, 4]);
    expect(c.zeroPointTerm).toBe(true);
    expect(c.perChannel).toBe(true);
    expect([c.weightBytes, c.ifmapBytes, c.ofmapBytes, c.biasBytes]).toEqual([108, 192, 256, 16]);
    // 4 channels × (32-bit M0 + 8-bit shift + the 8-bit weight zero point the raw form applies)
    expect(c.requantParamBytes).toEqual(24);
    expect(c.activation).toEqual({ kind: 'clamp', fn: 'relu', fused: true });
    expect([a.vectorElements, a.ifmapBytes, a.ofmapBytes]).toEqual([256, 512, 256]);
    expect([g.view!.M, g.view!.K, g.view!.N, g.zeroPointTerm, g.biasBytes]).toEqual([1, 256, 10, false, 0]);
    const r = simulate(spec, w);
    expect(r.layers[2].cycles).toEqual(0);
    expect(r.layers[0].extraAdds).toEqual(64 * 27 + 64 * 4);
    expect(r.layers[1].macs).toEqual(0);
    expect(r.layers[1].cycles).toBeGreaterThanOrEqual(256 / spec.requant.lanesPerCycle);
  });
});
