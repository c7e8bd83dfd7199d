/**
 * The FP32 reference executor (nets/fp32.ts) against onnxruntime-node's FP32 CPU run of the same
 * model and batch, single thread, in one run.
 *
 * Peer: the model's ONNX (the bundled file, or our export of a tfjs model) in an ORT session with
 * its default graph optimizations (BN folded into conv, activations fused) and intraOpNumThreads
 * = 1. qloom columns, each a whole forward pass by runFp32 (Conv → BatchNormalization → Relu / Clip
 * chains fused into the conv kernels' epilogue, with the unfused nodes' values):
 *  - scalar: the JS loops (float64 accumulation, four output channels per pass) — the "before";
 *  - simd-f64: the WebAssembly SIMD kernels with float64 accumulation — the default ('auto') —
 *    multiply-accumulating with relaxed SIMD's madd (FMA) where this Node has it;
 *  - simd-f64 mul+add: the same kernels with a multiply and an add (fp32Fma(false)): the outputs
 *    must equal the madd ones bit for bit (float32 products are exact in float64), checked here;
 *  - simd-f32: the same kernels with float32 lanes (ORT-like accumulation; not the reference).
 * Besides the total, the time spent in Conv / Gemm / MatMul nodes is reported ("linear"), measured
 * on one more pass per round run node by node (unfused), so it is the convolutions alone.
 * Outputs are checked against ORT (max |ours − ORT| / max |ORT|) before anything is timed.
 *
 * Times are medians over interleaved rounds (ORT, then each qloom variant, repeated) so load from
 * other processes hits all columns alike. GMAC/s = MACs of the model at that batch / time. Besides
 * wall time, the process's CPU time per pass is recorded (ORT computes on a thread of this process,
 * so its CPU time counts too): on a shared, oversubscribed machine wall-time medians favour the
 * shorter runs (a 10 ms ORT pass fits in one time slice, a 100 ms pass is preempted several
 * times), CPU time does not — ratios are given by both.
 *
 * The ceiling: what WebAssembly SIMD can do here at all — 8 independent accumulators (the conv
 * kernel's register tile) of acc += x·y in f64x2 and f32x4 lanes on registers alone, as mul + add
 * and (where available) as relaxed madd, measured in the same run. WebAssembly has no lanes wider
 * than 128 bits, where ORT's MLAS uses AVX2 / AVX-512 FMA; `floor / ORT` = (model MACs ÷ the
 * ceiling of the instruction the kernels use) / ORT time is the ratio no kernel could beat with the
 * model's MACs alone, each accumulation.
 *
 *   npm run bench -- fp32        (or: npx tsx bench/fp32.ts)
 */
import { cpuFlags, median, writeBenchResult } from './common.js';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { loadDataset } from '../nets/data/index.js';
import { batchInput } from '../nets/eval.js';
import { execNode, runFp32, type Fp32Kernels } from '../nets/fp32.js';
import type { Graph, Tensor } from '../nets/graph.js';
import { exportOnnx } from '../nets/onnx/export.js';
import { Prng } from '../nets/prng.js';
import { layerStats } from '../nets/shapes.js';
import { buildModule, Code, I32, Op, Simd, V128, VOID } from '../nets/wasm-binary.js';
import { loadModel } from '../nets/zoo/index.js';
import { fp32Fma } from '../nets/wasm-f32.js';
import { mac } from '../nets/wasm-f32-conv.js';

interface Case {
  model: string;
  batch: number;
  /** rounds for this case (the scalar mobilenetv2 takes seconds per pass) */
  rounds: number;
}

const CASES: Case[] = [
  { model: 'fmnist-cnn', batch: 64, rounds: 7 },
  { model: 'fmnist-cnn', batch: 256, rounds: 5 },
  { model: 'fmnist-dwsep', batch: 64, rounds: 7 },
  { model: 'fmnist-dwsep', batch: 256, rounds: 5 },
  { model: 'mnist-mlp', batch: 64, rounds: 7 },
  { model: 'mnist-mlp', batch: 256, rounds: 7 },
  { model: 'mobilenetv2', batch: 1, rounds: 5 },
  { model: 'mobilenetv2', batch: 8, rounds: 3 },
];

type Variant = 'ort' | 'scalar' | 'simdF64' | 'simdF64MulAdd' | 'simdF32';
type Ours = Exclude<Variant, 'ort'>;
const VARIANTS: Variant[] = ['ort', 'scalar', 'simdF64', 'simdF64MulAdd', 'simdF32'];
const OURS: Ours[] = ['scalar', 'simdF64', 'simdF64MulAdd', 'simdF32'];
const KERNELS: Record<Ours, Fp32Kernels> = { scalar: 'scalar', simdF64: 'simd-f64', simdF64MulAdd: 'simd-f64', simdF32: 'simd-f32' };

/** runFp32 (or one pass node by node) with a variant's kernels: relaxed madd on except for the mul+add column */
function withVariant<T>(v: Ours, f: (k: Fp32Kernels) => T): T {
  fp32Fma(v !== 'simdF64MulAdd');
  try {
    return f(KERNELS[v]);
  } finally {
    fp32Fma(true);
  }
}
const LINEAR = new Set(['Conv', 'Gemm', 'MatMul']);
const CPU = cpuFlags();
/** float32 lanes of ORT's (MLAS's) FMA kernels on this CPU */
const ORT_LANES = CPU.flags.avx512f ? 16 : CPU.flags.avx2 && CPU.flags.fma ? 8 : 4;

export interface Fp32BenchRow {
  model: string;
  batch: number;
  macs: number;
  /** median ms per forward pass */
  ms: Record<Variant, number>;
  /** median ms per pass inside Conv / Gemm / MatMul nodes (qloom variants) */
  linearMs: Record<Ours, number>;
  /** model MAC/s */
  macPerSec: Record<Variant, number>;
  /** qloom time / ORT time */
  ratioVsOrt: Record<Ours, number>;
  /** scalar time / SIMD time: whole pass and Conv/Gemm/MatMul only */
  speedup: { total: number; linear: number; totalF32: number; linearF32: number; fma: number };
  /** max |ours − ORT| / max |ORT| of the output, per qloom variant */
  relErrVsOrt: Record<Ours, number>;
  /** median process CPU ms per forward pass */
  cpuMs: Record<Variant, number>;
  /** qloom CPU time / ORT CPU time */
  cpuRatioVsOrt: Record<Ours, number>;
  /** whether the simd-f64 / simd-f32 columns multiply-accumulate with relaxed madd (fp32Fma()) */
  fma: boolean;
  /** simd-f64's output has the bits of simd-f64 mul+add's (checked; the bench stops otherwise) */
  fmaBitIdentical: boolean;
  /** register-only SIMD GMAC/s, the best of this case's rounds (see simdCeiling): mul + add, and relaxed madd (0 where unavailable) */
  ceilingMacPerSec: { f64: number; f32: number; f64Madd: number; f32Madd: number };
  /** (MACs ÷ ceiling of the kernels' instruction) / ORT time, both in CPU time: the ratio the MACs alone allow, each accumulation */
  floorVsOrt: { f64: number; f32: number };
  /**
   * ORT's share of its own FMA peak, the peak estimated as the measured f64x2 madd ceiling × (ORT's
   * float32 FMA lanes ÷ 2) — the same issue rate, wider lanes (ortLanes: 16 with AVX-512, 8 with
   * AVX2 + FMA); null without relaxed madd here. A qloom kernel as efficient as ORT against its own
   * peak would run at ortLanes / 2 × ORT's time in float64 lanes.
   */
  ortPeakShare: number | null;
}

/** One forward pass node by node (no fusion), timing the linear nodes apart. */
function forward(graph: Graph, feeds: Record<string, Tensor>, kernels: Fp32Kernels): { out: Tensor; totalMs: number; linearMs: number } {
  const values = new Map<string, Tensor>(graph.initializers);
  for (const [k, v] of Object.entries(feeds)) values.set(k, v);
  let linearMs = 0;
  const t0 = performance.now();
  for (const node of graph.nodes) {
    const ins = node.inputs.map((x) => (x === '' ? undefined : values.get(x)));
    const ts = performance.now();
    const outs = execNode(node, ins, kernels);
    if (LINEAR.has(node.op)) linearMs += performance.now() - ts;
    node.outputs.forEach((o, i) => o !== '' && values.set(o, outs[i]));
  }
  const totalMs = performance.now() - t0;
  return { out: values.get(graph.outputs[0].name)!, totalMs, linearMs };
}

/**
 * GMAC/s of `acc_r += x_i·x_j` (r < 8, distinct operand pairs so no product is shared) on registers
 * in f64x2 or f32x4 lanes: the loop returns every accumulator's sum, so none is optimized away.
 */
function simdCeiling(is64: boolean, madd: boolean): number {
  const c = new Code();
  const ACC = 1;
  const X = ACC + 8;
  for (let i = 0; i < 4; i++) c.simd(Simd.Const).op(i + 1, ...new Array<number>(15).fill(0)).set(X + i);
  const pairs: [number, number][] = [];
  for (let i = 0; i < 4; i++) for (let j = i; j < 4; j++) pairs.push([X + i, X + j]);
  c.op(Op.Loop, VOID);
  // the kernels' own multiply-accumulate emitter
  for (let r = 0; r < 8; r++) mac(c, is64 ? 'f64' : 'f32', madd, ACC + r, () => c.get(pairs[r][0]).get(pairs[r][1]));
  c.countDown(0);
  c.op(Op.End);
  c.get(ACC);
  for (let r = 1; r < 8; r++) c.get(ACC + r).simd(Simd.I32x4Add);
  c.simd(Simd.I32x4ExtractLane).op(0);
  c.op(Op.End);
  const mod = new WebAssembly.Module(buildModule([{ name: 'f', params: 1, results: [I32], locals: new Array<number>(12).fill(V128), body: c }]));
  const f = new WebAssembly.Instance(mod, { e: { m: new WebAssembly.Memory({ initial: 1 }) } }).exports.f as (n: number) => number;
  f(1e5);
  const n = 4e6;
  const times: number[] = [];
  for (let r = 0; r < 3; r++) {
    const c0 = process.cpuUsage();
    f(n);
    const cu = process.cpuUsage(c0);
    times.push((cu.user + cu.system) / 1000);
  }
  // a ceiling: the fastest run (load from other processes only ever lowers it)
  return (n * 8 * (is64 ? 2 : 4)) / (Math.min(...times) / 1000);
}

function inputsFor(model: string, graph: Graph, batch: number): Record<string, Tensor> {
  if (model === 'mnist-mlp' || model.startsWith('fmnist')) {
    const set = loadDataset(model === 'mnist-mlp' ? 'mnist' : 'fmnist', 'test', { samples: batch, seed: 7 });
    return batchInput(graph, set.images, set.shape, 0, batch);
  }
  const inp = graph.inputs[0];
  const shape = [batch, ...inp.shape.slice(1)];
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const prng = new Prng(7);
  for (let i = 0; i < data.length; i++) data[i] = prng.next();
  return { [inp.name]: { dtype: 'float32', shape, data } };
}

function relErr(ours: Float32Array, ref: Float32Array): number {
  let maxRef = 0;
  let maxErr = 0;
  for (let i = 0; i < ref.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
    maxErr = Math.max(maxErr, Math.abs(ours[i] - ref[i]));
  }
  return maxErr / maxRef;
}

async function benchCase(c: Case, minMsPerRound: number): Promise<Fp32BenchRow> {
  const { graph, source } = loadModel(c.model);
  const feeds = inputsFor(c.model, graph, c.batch);
  const bytes = source.endsWith('.onnx') ? new Uint8Array(readFileSync(source)) : exportOnnx(graph);
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor('float32', t.data as Float32Array, [...t.shape]);
  const outName = graph.outputs[0].name;
  const ref = (await session.run(ortFeeds))[outName].data as Float32Array;

  const relErrVsOrt = {} as Record<Ours, number>;
  const outs = {} as Record<Ours, Float32Array>;
  for (const v of OURS) {
    outs[v] = withVariant(v, (kernels) => runFp32(graph, feeds, { kernels }))[outName].data as Float32Array;
    relErrVsOrt[v] = relErr(outs[v], ref);
    if (!(relErrVsOrt[v] <= 1e-4)) throw new Error(`${c.model} batch ${c.batch}: ${v} differs from ORT by ${relErrVsOrt[v]} (relative)`);
  }
  const fmaBits = new Uint32Array(outs.simdF64.buffer, outs.simdF64.byteOffset, outs.simdF64.length);
  const plainBits = new Uint32Array(outs.simdF64MulAdd.buffer, outs.simdF64MulAdd.byteOffset, outs.simdF64MulAdd.length);
  const differ = fmaBits.findIndex((b, i) => b !== plainBits[i]);
  if (differ >= 0) throw new Error(`${c.model} batch ${c.batch}: simd-f64 with relaxed madd gives output ${differ} = ${outs.simdF64[differ]}, mul + add ${outs.simdF64MulAdd[differ]}`);

  const total = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
  const cpu = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
  const linear = Object.fromEntries(OURS.map((v) => [v, [] as number[]])) as Record<Ours, number[]>;
  const fma = fp32Fma();
  const ceiling = { f64: [] as number[], f32: [] as number[], f64Madd: [] as number[], f32Madd: [] as number[] };
  // warm up (JIT, ORT's first-run allocations)
  for (let i = 0; i < 2; i++) {
    await session.run(ortFeeds);
    for (const v of OURS) withVariant(v, (kernels) => runFp32(graph, feeds, { kernels }));
  }
  for (let r = 0; r < c.rounds; r++) {
    for (const v of VARIANTS) {
      let it = 0;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      let t = t0;
      while (t - t0 < minMsPerRound || it < 1) {
        if (v === 'ort') await session.run(ortFeeds);
        else withVariant(v, (kernels) => runFp32(graph, feeds, { kernels }));
        it++;
        t = performance.now();
      }
      const cu = process.cpuUsage(c0);
      total[v].push((t - t0) / it);
      cpu[v].push((cu.user + cu.system) / 1000 / it);
      if (v !== 'ort') linear[v].push(withVariant(v, (kernels) => forward(graph, feeds, kernels)).linearMs);
    }
    ceiling.f64.push(simdCeiling(true, false));
    ceiling.f32.push(simdCeiling(false, false));
    ceiling.f64Madd.push(fma ? simdCeiling(true, true) : 0);
    ceiling.f32Madd.push(fma ? simdCeiling(false, true) : 0);
  }
  await session.release();
  const macs = layerStats(graph, c.batch).totalMacs;
  const ms = Object.fromEntries(VARIANTS.map((v) => [v, median(total[v])])) as Record<Variant, number>;
  const linearMs = Object.fromEntries(OURS.map((v) => [v, median(linear[v])])) as Record<Ours, number>;
  const ceilingMacPerSec = { f64: Math.max(...ceiling.f64), f32: Math.max(...ceiling.f32), f64Madd: Math.max(...ceiling.f64Madd), f32Madd: Math.max(...ceiling.f32Madd) };
  const used = fma ? { f64: ceilingMacPerSec.f64Madd, f32: ceilingMacPerSec.f32Madd } : { f64: ceilingMacPerSec.f64, f32: ceilingMacPerSec.f32 };
  const cpuMs = Object.fromEntries(VARIANTS.map((v) => [v, median(cpu[v])])) as Record<Variant, number>;
  return {
    model: c.model,
    batch: c.batch,
    macs,
    ms,
    linearMs,
    macPerSec: Object.fromEntries(VARIANTS.map((v) => [v, macs / (ms[v] / 1000)])) as Record<Variant, number>,
    ratioVsOrt: Object.fromEntries(OURS.map((v) => [v, ms[v] / ms.ort])) as Record<Ours, number>,
    speedup: {
      total: ms.scalar / ms.simdF64,
      linear: linearMs.scalar / linearMs.simdF64,
      totalF32: ms.scalar / ms.simdF32,
      linearF32: linearMs.scalar / linearMs.simdF32,
      fma: ms.simdF64MulAdd / ms.simdF64,
    },
    relErrVsOrt,
    cpuMs,
    cpuRatioVsOrt: Object.fromEntries(OURS.map((v) => [v, cpuMs[v] / cpuMs.ort])) as Record<Ours, number>,
    fma,
    fmaBitIdentical: true,
    ceilingMacPerSec,
    floorVsOrt: { f64: ((macs / used.f64) * 1000) / cpuMs.ort, f32: ((macs / used.f32) * 1000) / cpuMs.ort },
    ortPeakShare: fma ? macs / (cpuMs.ort / 1000) / ((ceilingMacPerSec.f64Madd * ORT_LANES) / 2) : null,
  };
}

const g = (macPerSec: number) => (macPerSec / 1e9).toFixed(2);
const t = (ms: number) => (ms < 1 ? ms.toFixed(3) : ms.toFixed(1));
const x = (r: number) => `${r < 10 ? r.toFixed(2) : r.toFixed(1)}×`;

export function markdown(rows: readonly Fp32BenchRow[]): string {
  const lines = [
    '| model | batch | MACs | ORT ms (GMAC/s) | scalar ms (GMAC/s) | / ORT wall · CPU | simd-f64 ms (GMAC/s) | / ORT wall · CPU | speed-up total | speed-up conv/gemm | simd-f64 mul+add ms | / ORT wall · CPU | madd gain | simd-f32 ms (GMAC/s) | / ORT wall · CPU | f32 speed-up conv/gemm | SIMD ceiling f64 / f32 GMAC/s, mul+add · madd | floor / ORT f64 / f32 | ORT at its peak |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const both = (r: Fp32BenchRow, v: Exclude<Variant, 'ort'>) => `${x(r.ratioVsOrt[v])} · ${x(r.cpuRatioVsOrt[v])}`;
  for (const r of rows) {
    lines.push(
      `| ${r.model} | ${r.batch} | ${(r.macs / 1e6).toFixed(1)} M | ${t(r.ms.ort)} (${g(r.macPerSec.ort)}) | ${t(r.ms.scalar)} (${g(r.macPerSec.scalar)}) | ${both(r, 'scalar')} | ${t(r.ms.simdF64)} (${g(r.macPerSec.simdF64)}) | ${both(r, 'simdF64')} | ${x(r.speedup.total)} | ${x(r.speedup.linear)} | ${t(r.ms.simdF64MulAdd)} | ${both(r, 'simdF64MulAdd')} | ${x(r.speedup.fma)} | ${t(r.ms.simdF32)} (${g(r.macPerSec.simdF32)}) | ${both(r, 'simdF32')} | ${x(r.speedup.linearF32)} | ${g(r.ceilingMacPerSec.f64)} / ${g(r.ceilingMacPerSec.f32)} · ${g(r.ceilingMacPerSec.f64Madd)} / ${g(r.ceilingMacPerSec.f32Madd)} | ${x(r.floorVsOrt.f64)} / ${x(r.floorVsOrt.f32)} | ${r.ortPeakShare === null ? '—' : `${(100 * r.ortPeakShare).toFixed(0)} %`} |`,
    );
  }
  const geo = (f: (r: Fp32BenchRow) => number) => Math.exp(rows.reduce((s, r) => s + Math.log(f(r)), 0) / rows.length);
  const geoBoth = (v: Exclude<Variant, 'ort'>) => `${x(geo((r) => r.ratioVsOrt[v]))} · ${x(geo((r) => r.cpuRatioVsOrt[v]))}`;
  lines.push(
    `| geometric mean | | | | | ${geoBoth('scalar')} | | ${geoBoth('simdF64')} | ${x(geo((r) => r.speedup.total))} | ${x(geo((r) => r.speedup.linear))} | | ${geoBoth('simdF64MulAdd')} | ${x(geo((r) => r.speedup.fma))} | | ${geoBoth('simdF32')} | ${x(geo((r) => r.speedup.linearF32))} | | ${x(geo((r) => r.floorVsOrt.f64))} / ${x(geo((r) => r.floorVsOrt.f32))} | |`,
  );
  return lines.join('\n');
}

export async function main(opts: { minMsPerRound?: number; out?: string; cases?: Case[] } = {}): Promise<Fp32BenchRow[]> {
  const minMs = opts.minMsPerRound ?? 200;
  // other processes share the 2 cores: the 1/5/15-minute load before and after goes with the ratios
  const loadBefore = loadavg();
  const rows: Fp32BenchRow[] = [];
  for (const c of opts.cases ?? CASES) {
    process.stdout.write(`fp32: ${c.model} batch ${c.batch} …\n`);
    rows.push(await benchCase(c, minMs));
  }
  const md = markdown(rows);
  process.stdout.write(`\n## FP32 executor vs onnxruntime-node ${ort.env.versions.common} (single thread)\n\n${md}\n\n`);
  const loadAfter = loadavg();
  process.stdout.write('Ratios: qloom time / ORT time (lower is better) in wall time · process CPU time; speed-up: scalar time / SIMD time (wall), whole pass and Conv/Gemm/MatMul nodes only;\n');
  process.stdout.write(`floor / ORT: the model's MACs at the register-only SIMD ceiling of the kernels' instruction (${fp32Fma() ? 'relaxed madd' : 'mul + add'}; CPU time, same rounds), over ORT's CPU time; madd gain: simd-f64 mul+add time / simd-f64 time (same output bits).\n`);
  process.stdout.write(`ORT at its peak: its GMAC/s over the f64x2 madd ceiling × ${ORT_LANES}/2 (its ${ORT_LANES} float32 FMA lanes against 2, at the same issue rate); as efficient against its own peak, the float64 reference would take ${ORT_LANES / 2}× ORT's time.\n`);
  process.stdout.write(`load average (1/5/15 min): ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${loadAfter.map((l) => l.toFixed(2)).join(' ')} after\n`);
  const out = opts.out ?? join(dirname(fileURLToPath(import.meta.url)), 'results', 'fp32.json');
  writeBenchResult(
    out,
    JSON.stringify(
      {
        bench: 'fp32',
        date: new Date().toISOString(),
        node: process.version,
        onnxruntime: ort.env.versions.common,
        cpu: CPU.model,
        cpuFlags: CPU.flags,
        ortFmaLanes: ORT_LANES,
        relaxedMadd: fp32Fma(),
        cores: cpus().length,
        loadavg: { before: loadBefore, after: loadAfter },
        method: `median of interleaved rounds (per case) of ≥ ${minMs} ms per variant, wall and process CPU time; ORT intraOpNumThreads = 1, default graph optimizations`,
        rows,
        markdown: md,
      },
      null,
      2,
    ) + '\n',
  );
  process.stdout.write(`wrote ${out}\n`);
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
