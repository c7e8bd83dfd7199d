/**
 * The `synthetic` point runner: a STAND-IN, not a simulation. It computes every metric in closed
 * form from the point config (a roofline latency model, a per-action energy model, an A2Q-style
 * accumulator bound, and a made-up accuracy response to the PTQ choices) so that scenarios, sweeps
 * and reports are testable end to end before the PTQ pipeline (issue 4) and the simulator
 * (issue 5) provide the real runner. Its numbers have the right shape (more PEs → fewer compute
 * cycles, too little bandwidth → memory bound, narrower accumulators → overflows) but are not
 * results; reports name the runner so nobody mistakes them for ones.
 *
 * Deterministic: a function of the config alone; the seeded PRNG (nets/prng.ts, seeded from the
 * scenario seed and the config) adds a reproducible ±0.5 % "measurement" jitter to cycles and a
 * ±0.2 pt one to accuracy. Per-network layer shapes are drawn from a PRNG seeded by the network
 * name, scaled to the MAC and parameter counts of nets/zoo/manifest.json where it has them.
 */
import { readFileSync } from 'node:fs';
import { Prng } from '../nets/prng.js';
import type { PointMetrics } from './runners.js';
import type { JsonValue, PointConfig } from './scenario.js';

interface NetStats {
  macs: number;
  params: number;
  top1: number;
}

/** networks without a manifest entry: MobileNetV2 1.0/224 (Sandler et al., CVPR 2018: 300 M MACs, 3.4 M params) */
const KNOWN: Readonly<Record<string, NetStats>> = { mobilenetv2: { macs: 300e6, params: 3.4e6, top1: 1 } };

let manifest: Record<string, { macs: number; params: number; top1: number }> | undefined;
function netStats(name: string): NetStats {
  if (!manifest) {
    try {
      manifest = (JSON.parse(readFileSync(new URL('../nets/zoo/manifest.json', import.meta.url), 'utf8')) as { models: typeof manifest }).models ?? {};
    } catch {
      manifest = {};
    }
  }
  const m = manifest![name];
  if (m) return { macs: m.macs, params: m.params, top1: m.top1 };
  if (KNOWN[name]) return KNOWN[name];
  const r = new Prng(fnv1a(name));
  return { macs: 1e6 * (1 + 100 * r.next()), params: 1e4 * (1 + 100 * r.next()), top1: 1 };
}

/** key-sorted JSON (arch/validate.ts has one too, but importing it would load mathjs into every worker) */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

interface Layer {
  /** reduction length (kh·kw·Cin) */
  k: number;
  /** output channels */
  n: number;
  /** output pixels */
  m: number;
}

/** Four stand-in GEMM layers whose MACs add up to the network's, shapes drawn per network name. */
function layersOf(name: string, macs: number): Layer[] {
  const r = new Prng(fnv1a(`layers:${name}`));
  const raw = [0, 1, 2, 3].map(() => ({ k: 9 * (4 << r.int(5)), n: 8 << r.int(5), m: 4 << r.int(6) }));
  const total = raw.reduce((s, l) => s + l.k * l.n * l.m, 0);
  const f = macs / total;
  return raw.map((l) => ({ ...l, m: Math.max(1, Math.round(l.m * f)) }));
}

function round6(x: number): number {
  return x === 0 || !Number.isFinite(x) ? x : Number(x.toPrecision(6));
}

const fill = (d: number, lanes: number): number => d / (Math.ceil(d / lanes) * lanes);

export function runPoint(c: PointConfig): PointMetrics {
  const rng = new Prng((c.seed ^ fnv1a(canonical(c))) >>> 0);
  const net = netStats(c.network);
  const layers = layersOf(c.network, net.macs);
  const a = c.arch;
  const wb = c.ptq.weightBits;
  const ab = c.ptq.actBits;
  const { rows, cols, dataflow } = a.array;
  const pes = rows * cols;
  const capacityBytes = a.memories.layout === 'unified' ? a.memories.glb!.capacityBytes : a.memories.ifmap!.capacityBytes + a.memories.filter!.capacityBytes + a.memories.ofmap!.capacityBytes;
  const fused = a.requant.fused.includes('relu');
  const perChannel = c.ptq.perChannel;
  const paramBitsPerSet = a.requant.multiplierBits + 8 + 32; // M0, shift, weight scale

  let computeCycles = 0;
  let cycles = 0;
  let dramBytes = 0;
  let sramBytes = 0;
  const bits = { weights: 0, inputs: 0, outputs: 0, psums: 0, bias: 0, requantParams: 0 };
  let overflowEvents = 0;
  let accumulations = 0;
  let accuracyPenalty = 0;
  const overflowRateByLayer: Record<string, number> = {};
  const minSafeAccBits: Record<string, number> = {};
  let outputsTotal = 0;
  let channels = 0;

  layers.forEach((l, i) => {
    const macs = l.k * l.n * l.m;
    // spatial utilization: which GEMM dims map onto rows × cols depends on the dataflow
    const util = dataflow === 'ws' ? fill(l.k, rows) * fill(l.n, cols) : dataflow === 'os' ? fill(l.m, rows) * fill(l.n, cols) : fill(l.k, rows) * fill(l.m, cols);
    // asymmetric weights: the data-dependent z_w·Σq_x term is one more accumulation per output
    const extra = c.ptq.symmetric ? 0 : l.m * l.n * l.k / cols;
    const compute = (macs + extra) / (pes * util) + rows + cols;
    const weightBytes = (l.k * l.n * wb) / 8;
    const inBytes = (l.k * l.m * ab) / 8 / 9; // im2col reuse ≈ 9 for 3×3
    const outBytes = (l.m * l.n * ab) / 8;
    const refetch = Math.max(1, Math.ceil((weightBytes + inBytes + outBytes) / capacityBytes));
    const paramSets = perChannel ? l.n : 1;
    const paramBytes = (paramSets * paramBitsPerSet) / 8 + l.n * 4;
    const unfusedBytes = fused ? 0 : 2 * l.m * l.n * 4; // int32 out and back
    const layerDram = weightBytes + inBytes * refetch + outBytes + paramBytes + unfusedBytes;
    const memory = layerDram / a.memories.dram.bytesPerCycle + a.memories.dram.latencyCycles;
    const requant = (l.m * l.n) / a.requant.lanesPerCycle + a.requant.latencyCycles;
    computeCycles += compute;
    cycles += Math.max(compute, memory) + requant * (fused ? 0.1 : 1);
    dramBytes += layerDram;
    sramBytes += weightBytes * Math.ceil(l.m / cols) + inBytes * 9 + outBytes;
    bits.weights += weightBytes * 8;
    bits.inputs += inBytes * 8 * refetch;
    bits.outputs += outBytes * 8 + unfusedBytes * 8;
    bits.psums += refetch > 1 ? l.m * l.n * a.accumulator.psumBits : 0;
    bits.bias += l.n * 32;
    bits.requantParams += paramSets * paramBitsPerSet;
    outputsTotal += l.m * l.n;
    channels += l.n;

    // A2Q-style worst case: K · max|q_w| · max|q_x| < 2^(P−1)
    const bound = l.k * 2 ** (wb - 1) * (2 ** ab - 1);
    const minSafe = Math.floor(Math.log2(bound)) + 2;
    // typical |acc| grows like √K: what overflows in practice is well below the worst case
    const typicalBits = Math.log2(Math.sqrt(l.k) * 2 ** (wb - 1) * 2 ** (ab - 1) * 0.25) + 1;
    const rate = a.accumulator.bits >= minSafe ? 0 : 1 / (1 + Math.exp(3 * (a.accumulator.bits - typicalBits)));
    overflowRateByLayer[`layer${i}`] = round6(rate);
    minSafeAccBits[`layer${i}`] = minSafe;
    overflowEvents += rate * macs;
    accumulations += macs;
    accuracyPenalty += rate * (a.accumulator.overflow === 'wrap' ? 4 : a.accumulator.overflow === 'saturate' ? 0.8 : 0);
  });

  // accuracy response to the PTQ choices (made up, monotone in the obvious directions)
  const bitsPenalty = (b: number, base: number) => base * 2 ** (8 - b) - base;
  let quantPenalty = 0.002 + bitsPenalty(wb, perChannel ? 0.002 : 0.005) + bitsPenalty(ab, 0.006);
  if (!perChannel && c.ptq.cle) quantPenalty *= 0.6;
  if (c.ptq.weightRange === 'mse') quantPenalty *= 0.85;
  if (c.ptq.biasCorrection !== 'none') quantPenalty *= 0.8;
  if (c.ptq.adaround) quantPenalty *= 0.5;
  if (!c.ptq.symmetric) quantPenalty *= 0.95;
  if (c.ptq.pow2) quantPenalty *= 1.3;
  const floor = c.dataset === 'photos' ? 0.2 : 0.1;
  const accuracy = Math.min(1, Math.max(floor, net.top1 - quantPenalty - accuracyPenalty + 0.002 * (rng.next() - 0.5)));

  cycles *= 1 + 0.01 * (rng.next() - 0.5);
  const latencyS = cycles / a.clockHz;
  const macsTotal = accumulations;
  const sramPjPerByte = (10 / 8) * Math.max(1, capacityBytes / 8192) ** 0.35;
  const energy = {
    mac: macsTotal * 0.2 * ((a.pe.weightOperandBits * a.pe.activationOperandBits) / 64),
    accumulator: macsTotal * 0.1 * (a.accumulator.bits / 32),
    requant: outputsTotal * (perChannel ? 3.3 : 3.1) * (a.requant.multiplierBits / 32),
    sram: sramBytes * sramPjPerByte,
    dram: dramBytes * 8 * (a.memories.dram.energyPerBitPj ?? 1300 / 64),
  };
  const energyPj = energy.mac + energy.accumulator + energy.requant + energy.sram + energy.dram;
  const bitsMoved = Object.values(bits).reduce((s, x) => s + x, 0);
  const paramBytes = (net.params * wb) / 8 + channels * 4 + ((perChannel ? channels : layers.length) * paramBitsPerSet) / 8;

  const roundMap = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round6(v)]));
  const all: Record<string, JsonValue> = {
    top1: c.dataset === 'photos' ? null : round6(accuracy),
    agreement: c.dataset === 'photos' ? round6(accuracy) : null,
    accuracy: round6(accuracy),
    sqnrDb: round6(6.02 * Math.min(wb, ab) + 1.76 - 20 * quantPenalty),
    cycles: Math.round(cycles),
    stallCycles: Math.max(0, Math.round(cycles - computeCycles)),
    latencyS: round6(latencyS),
    utilization: round6(macsTotal / (pes * cycles)),
    macs: macsTotal,
    energyPj: round6(energyPj),
    energyByComponent: roundMap(energy),
    edp: round6(energyPj * latencyS),
    bitsMoved: Math.round(bitsMoved),
    dramBytes: Math.round(dramBytes),
    bitsByClass: roundMap(bits),
    requantParamBits: Math.round(bits.requantParams),
    paramBytes: Math.round(paramBytes),
    // overflowEvents is per sample; the stand-in puts them all at the accumulator (it models no in-array partial sums)
    overflows: Math.round(overflowEvents * c.samples),
    overflowsPerSample: round6(overflowEvents),
    overflowsBy: { array: 0, accumulator: Math.round(overflowEvents * c.samples) },
    overflowRate: round6(overflowEvents / accumulations),
    overflowRateByLayer,
    minSafeAccBits,
  };
  const out: Record<string, JsonValue> = {};
  for (const m of c.metrics) out[m] = all[m] ?? null;
  return out;
}
