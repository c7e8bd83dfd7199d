/**
 * The `qloom` point runner against the library calls the CLI makes. The reference path is written
 * out here from the lower-level pieces (quantizeNetwork on a train subset, the engine's
 * runSimulation batch by batch as `qloom run` did it, and `qloom eval --quant`'s
 * quantizedOutputs/top1Of on sim/qexec), so a runner that quantized with other settings, picked
 * other images, lost a sample or mis-summed a metric fails here.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { PRESETS } from '../../../arch/presets.js';
import { validateArchSpec, type ArchSpec } from '../../../arch/spec.js';
import { loadDataset } from '../../../nets/data/index.js';
import type { Tensor } from '../../../nets/graph.js';
import { layerStats } from '../../../nets/shapes.js';
import { loadModel } from '../../../nets/zoo/index.js';
import { configHash, resolvePtqConfig } from '../../../quant/config.js';
import { quantizedOutputs, top1Of } from '../../../scenarios/debug.js';
import { quantizeNetwork, type PtqResult } from '../../../quant/pipeline.js';
import { workloadFromQuantizedNetwork } from '../../../sim/engine/index.js';
import { BITS_CLASSES, runSummary } from '../../../sim/result.js';
import { archRequant } from '../../../sim/requant-unit.js';
import { runSimulation, type SimulationResult } from '../../../sim/run.js';
import { ptqConfigOf } from '../../../scenarios/ptq.js';
import { runPoint } from '../../../scenarios/qloom-runner.js';
import { expandPoints } from '../../../scenarios/points.js';
import { validateScenario, type PointConfig } from '../../../scenarios/scenario.js';

const CALIB = 64;
const SAMPLES = 60;
const METRICS = ['accuracy', 'top1', 'agreement', 'cycles', 'stallCycles', 'energyPj', 'energyByComponent', 'bitsMoved', 'bitsByClass', 'requantParamBits', 'paramBytes', 'overflows', 'overflowsPerSample', 'overflowsBy', 'overflowRate', 'minSafeAccBits', 'note'];

function points(over: Record<string, unknown> = {}): PointConfig[] {
  const s = validateScenario({
    name: 'row',
    seed: 0,
    runner: 'qloom',
    networks: ['fmnist-cnn'],
    ptq: [{ preset: 'w8a8-pc', calibSamples: CALIB }],
    archs: ['edge-npu'],
    metrics: METRICS,
    data: { samples: SAMPLES },
    ...over,
  });
  return expandPoints(s).map((p) => p.config);
}

describe('qloom runner: one pc-vs-pt row equals the direct library calls', () => {
  let direct: { ptq: PtqResult; timing: SimulationResult; overflows: number; correct: number; spec: ArchSpec; evalQuantTop1: number };
  let row: Record<string, unknown>;

  beforeAll(async () => {
    const cfg = resolvePtqConfig('w8a8-pc', { calibSamples: CALIB, seed: 0 });
    const { graph } = loadModel('fmnist-cnn');
    const calib = loadDataset('fmnist', 'train', { samples: CALIB, seed: 0 });
    const ptq = await quantizeNetwork(graph, { images: calib.images, shape: calib.shape, count: calib.count }, cfg);
    const spec = validateArchSpec(structuredClone(PRESETS['edge-npu']));
    const set = loadDataset('fmnist', 'test', { samples: SAMPLES, seed: 0 });
    const net = ptq.net;
    const shape = net.inputs[0].shape.slice(1);
    const workload = workloadFromQuantizedNetwork(net, [1, ...shape], spec);
    const per = 28 * 28;
    let timing: SimulationResult | null = null;
    let overflows = 0;
    let correct = 0;
    // batches of 25: the runner uses 100, so this also checks that batching changes nothing
    for (let start = 0; start < set.count; start += 25) {
      const n = Math.min(25, set.count - start);
      const feeds = { [net.inputs[0].name]: { dtype: 'float32', shape: [n, ...shape], data: set.images.subarray(start * per, (start + n) * per) } as Tensor };
      // the arch's requant unit: fixed-point, M0 at requant.multiplierBits (sim/requant-unit.ts)
      runSimulation(spec, workload, { net, feeds, seed: 0, requant: archRequant(spec) }).subscribe({
        next: (u) => {
          if (u.type !== 'result') return;
          timing ??= u.result;
          overflows += u.result.totals.overflows;
          const d = u.result.outputs![net.outputs[0].name].data as Float32Array;
          for (let i = 0; i < n; i++) {
            let best = 0;
            for (let j = 1; j < 10; j++) if (d[i * 10 + j] > d[i * 10 + best]) best = j;
            if (best === set.labels[start + i]) correct++;
          }
        },
      });
    }
    // `qloom eval --quant`: the functional executor (sim/qexec, 32-bit accumulator) on the same images
    const evalQuantTop1 = top1Of(quantizedOutputs(net, graph, set), set.count, set.labels);
    direct = { ptq, timing: timing!, overflows, correct, spec, evalQuantTop1 };
    row = (await runPoint(points()[0])) as Record<string, unknown>;
  }, 120_000);

  it('quantizes with exactly the preset (+ calibSamples) a CLI user gets', () => {
    const cfg = ptqConfigOf(points()[0].ptq, 0);
    expect(configHash(cfg)).toBe(direct.ptq.configHash);
  });

  it('a point equals `qloom run --json` of the same configuration (simulateModel → runSummary)', async () => {
    // cost counts do not depend on the calibration or the images, so the CLI's own defaults
    // (preset calibration, 10 samples) must give the point's cycles, energy and bits
    const { simulateModel } = await import('../../../scenarios/simulate-model.js');
    const r = await simulateModel({ arch: 'edge-npu', model: 'fmnist-cnn', preset: 'w8a8-pc', data: 'fmnist', samples: 10 });
    const t = runSummary(r.result).totals;
    expect(row.cycles).toEqual(t.cycles);
    expect(row.energyPj).toBe(t.energyPj);
    // MACs: the simulated layers' = `qloom inspect`'s totalMacs of the float graph
    expect(t.macs).toEqual(layerStats(loadModel('fmnist-cnn').graph).totalMacs);
    let cells = 0;
    for (const level of [t.bits.dramBuffer, t.bits.bufferArray]) for (const k of BITS_CLASSES) cells += level[k];
    expect(row.bitsMoved).toEqual(cells);
  }, 120_000);

  it('cycles, stalls, energy, bits and storage equal the engine run', () => {
    const t = direct.timing.totals;
    expect(row.cycles).toEqual(t.cycles);
    expect(row.stallCycles).toEqual(t.stallCycles);
    expect(row.energyPj).toBe(t.energyPj);
    expect(row.paramBytes).toEqual(t.paramBytes);
    expect(row.requantParamBits).toEqual(t.bits.dramBuffer.requantParams + t.bits.bufferArray.requantParams);
    // bitsMoved is the sum of every level × class cell of `qloom run --json` (runSummary), each
    // bit once: the partial-sum spills are the psums class, not an addend (issue 20)
    const j = JSON.parse(JSON.stringify(runSummary(direct.timing))) as { totals: { bitsMoved: number; bits: Record<string, Record<string, number>> } };
    const cells = Object.values(j.totals.bits).flatMap((level) => Object.values(level));
    expect(cells).toHaveLength(2 * BITS_CLASSES.length);
    expect(row.bitsMoved).toEqual(cells.reduce((a, x) => a + x, 0));
    expect(row.bitsMoved).toEqual(j.totals.bitsMoved);
    const byClass = row.bitsByClass as Record<string, number>;
    expect(Object.keys(byClass)).toEqual([...BITS_CLASSES]);
    expect(Object.values(byClass).reduce((a, x) => a + x, 0)).toEqual(row.bitsMoved);
    const comp = row.energyByComponent as Record<string, number>;
    const sum = Object.values(comp).reduce((a, x) => a + x, 0);
    expect(Math.abs(sum - t.energyPj)).toBeLessThan(1e-6 * t.energyPj);
    expect(Object.keys(comp)).toEqual(Object.keys(direct.timing.energy.byComponent));
  });

  it('accuracy equals the engine functional run and `eval --quant` (no overflow on a 32-bit accumulator)', () => {
    expect(row.top1).toBe(direct.correct / SAMPLES);
    expect(row.accuracy).toBe(row.top1);
    expect(row.agreement).toBeNull();
    expect(direct.overflows).toEqual(0);
    expect(row.overflows).toEqual(0);
    expect(row.overflowsPerSample).toEqual(0);
    expect(row.overflowsBy).toEqual({ array: 0, accumulator: 0 });
    expect(row.overflowRate).toEqual(0);
    // `eval --quant` requantizes in float (ONNX Runtime's arithmetic), the arch in 32-bit fixed
    // point: the two differ in the last bit of some logits, not in top-1 on these images
    expect(row.top1).toBe(direct.evalQuantTop1);
    expect(row.note).toBeNull();
  });

  it('minimum safe accumulator width per linear layer, each within 8…32 bits for W8A8', () => {
    const m = row.minSafeAccBits as Record<string, number>;
    const linears = direct.ptq.net.layers.filter((l) => l.kind === 'conv' || l.kind === 'gemm').map((l) => l.name);
    expect(Object.keys(m)).toEqual(linears);
    // one int8×uint8 product needs 16 bits; the sums of these layers stay below 2^31
    for (const v of Object.values(m)) {
      expect(v).toBeGreaterThanOrEqual(16);
      expect(v).toBeLessThanOrEqual(32);
    }
  });

  it('timing-only metrics come from the same engine run (no samples needed)', async () => {
    const [c] = points({ metrics: ['cycles', 'energyPj', 'paramBytes'] });
    const r = await runPoint(c);
    expect(r).toEqual({ cycles: direct.timing.totals.cycles, energyPj: direct.timing.totals.energyPj, paramBytes: direct.timing.totals.paramBytes });
  });
});

describe('qloom runner: the pc-vs-pt axes mean what they say', () => {
  it('per-channel weights on a per-tensor-only requant unit are reported unsupported, with the reason', async () => {
    const [c] = points({ archs: ['mcu-npu'] });
    expect(c.arch.requant.perChannel).toBe(false);
    const r = await runPoint(c);
    for (const m of METRICS) if (m !== 'note') expect(r[m]).toBeNull();
    expect(String(r.note)).toMatch(/unsupported: mcu-npu requantizes per tensor only/);
  });

  it('asymmetric weights: nonzero weight zero points, and the z_w·Σq_x accumulation costs cycles', async () => {
    const [sym, asym] = points({ ptq: [{ preset: 'w8a8-pt', calibSamples: CALIB }], axes: { 'ptq.symmetric': [true, false] }, metrics: ['cycles', 'energyPj', 'accuracy'] });
    const cfg = ptqConfigOf(asym.ptq, 0);
    expect(cfg.weights.symmetric).toBe(false);
    expect(cfg.weights.signed).toBe(false);
    const rs = await runPoint(sym);
    const ra = await runPoint(asym);
    expect(ra.cycles as number).toBeGreaterThan(rs.cycles as number);
    expect(ra.energyPj as number).toBeGreaterThan(rs.energyPj as number);
    expect(ra.accuracy as number).toBeGreaterThan(0.5);
  }, 60_000);
});

describe('scenario validation for the real runner', () => {
  function problems(doc: Record<string, unknown>): string[] {
    try {
      validateScenario({ name: 'v', seed: 0, runner: 'qloom', networks: ['fmnist-cnn', 'mobilenetv2'], archs: ['edge-npu'], metrics: ['accuracy'], ...doc });
    } catch (e) {
      return (e as { problems: { path: string; message: string }[] }).problems.map((p) => `${p.path}: ${p.message}`);
    }
    return [];
  }

  it('a PTQ combination the pipeline refuses fails before any work, naming the point', () => {
    const p = problems({ ptq: [{ preset: 'w8a8-pt', adaround: true }], axes: { 'ptq.biasCorrection': ['none', 'empirical'] } });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^ptq\[0\]\.biasCorrection: AdaRound and bias correction are alternatives.*ptq\.biasCorrection="empirical"/);
  });

  it('samplesByNetwork: per-network sample counts, unknown networks and bad counts listed together', () => {
    const s = validateScenario({ name: 'v', seed: 0, runner: 'qloom', networks: ['fmnist-cnn', 'mobilenetv2'], archs: ['edge-npu'], metrics: ['accuracy'], data: { samples: 50, samplesByNetwork: { mobilenetv2: 3 } } });
    expect(expandPoints(s).map((p) => [p.config.network, p.config.samples])).toEqual([
      ['fmnist-cnn', 50],
      ['mobilenetv2', 3],
    ]);
    const p = problems({ data: { samples: 50, samplesByNetwork: { mobilenetv3: 3, 'fmnist-cnn': 0 } } });
    expect(p.map((x) => x.split(':')[0]).sort()).toEqual(['data.samplesByNetwork.fmnist-cnn', 'data.samplesByNetwork.mobilenetv3']);
  });

  it('the presets come from quant/config.ts: a flat preset resolves back to the same PtqConfig', () => {
    for (const name of ['w8a8-pt', 'w8a8-pc', 'w8a8-pt-asym', 'w4a8-pc', 'w8a8-pt-cle']) {
      const [c] = points({ ptq: [name], metrics: ['cycles'] });
      expect(configHash(ptqConfigOf(c.ptq, 0))).toBe(configHash(resolvePtqConfig(name, { seed: 0 })));
    }
  });
});
