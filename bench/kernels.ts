/**
 * Integer MAC kernels (sim/kernels) against onnxruntime-node, single thread, in one run.
 *
 * Peers (ORT sessions with intraOpNumThreads = 1, built here as one-node ONNX models):
 *  - QLinearConv / QLinearMatMul — the kernels deployed int8 models run (MLAS, with VNNI where
 *    the CPU has it); the primary column. They also requantize: the `fused` column does too, `fast`
 *    returns the int32 accumulators.
 *  - ConvInteger / MatMulInteger — pure integer MACs into int32, exactly what the timed kernel
 *    computes (raw form, uint8 input with zero point 128, int8 symmetric weights in [−127, 127] —
 *    [−63, 63] on a CPU without VNNI, where MLAS' VPMADDUBSW kernels saturate pairs of larger
 *    products and stop being exact; the times do not depend on the values — no bias); their
 *    outputs are compared with qloom's bit for bit before anything is timed.
 *
 * qloom columns:
 *  - fast: 32-bit accumulator, proved safe by the bound analysis, one tile (per-step checks skipped);
 *  - fused: the same with QLinear's float requantization fused (int8 codes out, as `qloom eval
 *    --quant` runs a layer) — the like-for-like column against QLinearConv, its codes checked
 *    against QLinear's bit for bit;
 *  - checked/1: a 16-bit wrapping accumulator — cannot be proved, so every accumulator add is
 *    checked and the policy applied — with one tile per output (the floor of checking cost);
 *  - checked/64: the same with the K reduction cut in tiles of 64 (a 64-row array): 9× the adds
 *    for a 3×3×64 conv. Checked outputs are verified against ORT's reduced mod 2^16.
 *
 * Layers are prepared once (weights laid out, bounds analysed), as ORT prepacks its initializers
 * at session creation; the timed call is one inference of one layer on a fresh input: every call
 * of every variant takes the next of INPUTS different inputs, so no one's input sits in cache from
 * its previous call. Times are medians over interleaved rounds (each variant in turn, repeated),
 * so load from other processes on a shared machine hits all columns alike; ratios are qloom time
 * / peer time (lower is better). The results file records the CPU's SIMD flags, the load average
 * and whether this Node's WebAssembly has relaxed SIMD (and whether its int8 dot product is exact).
 *
 *   npm run bench -- kernels        (or: npx tsx bench/kernels.ts)
 */
import { cpuFlags, median, writeBenchResult } from './common.js';
import { cpus, loadavg } from 'node:os';
import v8 from 'node:v8';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { Prng } from '../nets/prng.js';
import { buildModule, Code, Op, relaxedFlagSet, Simd } from '../nets/wasm-binary.js';
import type { AccumulationOrder } from '../sim/kernels/accumulator.js';
import { prepareConvInt, prepareGemmInt } from '../sim/kernels/linear.js';
import type { FusedRequant } from '../sim/kernels/simd.js';
import { floatRequantChannels, requantParams } from '../qnet/requant.js';
import { buildModel, scalar } from '../test/helpers/onnx-build.js';

interface ConvCase {
  kind: 'conv';
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  pads: [number, number, number, number];
  group: number;
}
interface GemmCase {
  kind: 'gemm';
  name: string;
  m: number;
  k: number;
  n: number;
}
type Case = ConvCase | GemmCase;

const CASES: Case[] = [
  { kind: 'conv', name: '3×3 conv 64→64 @56×56', x: [1, 64, 56, 56], w: [64, 64, 3, 3], pads: [1, 1, 1, 1], group: 1 },
  { kind: 'conv', name: 'depthwise 3×3 ×32 @112×112', x: [1, 32, 112, 112], w: [32, 1, 3, 3], pads: [1, 1, 1, 1], group: 32 },
  { kind: 'conv', name: '1×1 conv 256→64 @28×28', x: [1, 256, 28, 28], w: [64, 256, 1, 1], pads: [0, 0, 0, 0], group: 1 },
  { kind: 'gemm', name: 'FC 1024→1000, batch 8', m: 8, k: 1024, n: 1000 },
];

const ZX = 128;
const CPU = cpuFlags();
/** the weights' bound: 7 bits where ORT's u8×s8 kernels saturate (no VNNI: VPMADDUBSW) */
const W_MAX = CPU.flags.avx512_vnni || CPU.flags.avx_vnni ? 127 : 63;
const ONE_TILE: AccumulationOrder = { kOrder: 'ckk', kTile: 0 };
const TILE_64: AccumulationOrder = { kOrder: 'ckk', kTile: 64 };

/** different inputs per case, used in turn: 8 × the 3×3 conv's 200 KB exceeds a core's L2 */
const INPUTS = 8;

type Variant = 'ortQLinear' | 'ortInteger' | 'fast' | 'fused' | 'checked1' | 'checked64';
const VARIANTS: Variant[] = ['ortQLinear', 'ortInteger', 'fast', 'fused', 'checked1', 'checked64'];
type Q = 'fast' | 'fused' | 'checked1' | 'checked64';

export interface KernelBenchRow {
  name: string;
  macs: number;
  /** median ms per call */
  ms: Record<Variant, number>;
  /** MAC/s */
  macPerSec: Record<Variant, number>;
  /** qloom time / ORT QLinearConv (QLinearMatMul) time */
  ratio: Record<Q, number>;
  /** qloom time / ORT ConvInteger (MatMulInteger) time */
  ratioInteger: Record<Q, number>;
  /** checked time / fast time */
  checkedOverFast: { checked1: number; checked64: number };
  kernel: { fast: string; checked1: string; checked64: string };
  proved: { fast: boolean; checked1: boolean };
  /** overflow events of one checked run (16-bit wrap) */
  events16: { checked1: number; checked64: number };
}

function randomData(prng: Prng, n: number, lo: number, hi: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + prng.int(hi - lo + 1);
  return a;
}

async function session(model: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
}

/** ORT models for one case: the integer-MAC peer and the QLinear one. */
function ortModels(c: Case, w: Int32Array): { integer: Uint8Array; qlinear: Uint8Array } {
  const u8 = (v: number) => ({ dtype: 'uint8' as const, shape: [], data: Uint8Array.of(v) });
  const i8s = (v: number) => ({ dtype: 'int8' as const, shape: [], data: Int8Array.of(v) });
  if (c.kind === 'conv') {
    const wt = { dtype: 'int8' as const, shape: c.w, data: Int8Array.from(w) };
    const attrs = { pads: c.pads, group: c.group, kernel_shape: [c.w[2], c.w[3]] };
    return {
      integer: buildModel({
        inputs: [{ name: 'x', dtype: 'uint8', shape: c.x }],
        outputs: [{ name: 'y', dtype: 'int32' }],
        inits: { w: wt, xz: u8(ZX) },
        nodes: [{ op: 'ConvInteger', inputs: ['x', 'w', 'xz'], outputs: ['y'], attrs }],
      }),
      qlinear: buildModel({
        inputs: [{ name: 'x', dtype: 'uint8', shape: c.x }],
        outputs: [{ name: 'y', dtype: 'uint8' }],
        inits: { w: wt, xs: scalar(0.02), xz: u8(ZX), ws: scalar(0.01), wz: i8s(0), ys: scalar(0.5), yz: u8(128) },
        nodes: [{ op: 'QLinearConv', inputs: ['x', 'xs', 'xz', 'w', 'ws', 'wz', 'ys', 'yz'], outputs: ['y'], attrs }],
      }),
    };
  }
  // MatMulInteger / QLinearMatMul take B as [k, n]: the transpose of gemmInt's [n, k]
  const bt = new Int8Array(c.k * c.n);
  for (let o = 0; o < c.n; o++) for (let i = 0; i < c.k; i++) bt[i * c.n + o] = w[o * c.k + i];
  const b = { dtype: 'int8' as const, shape: [c.k, c.n], data: bt };
  return {
    integer: buildModel({
      inputs: [{ name: 'x', dtype: 'uint8', shape: [c.m, c.k] }],
      outputs: [{ name: 'y', dtype: 'int32' }],
      inits: { b, xz: u8(ZX) },
      nodes: [{ op: 'MatMulInteger', inputs: ['x', 'b', 'xz'], outputs: ['y'] }],
    }),
    qlinear: buildModel({
      inputs: [{ name: 'x', dtype: 'uint8', shape: [c.m, c.k] }],
      outputs: [{ name: 'y', dtype: 'uint8' }],
      inits: { b, xs: scalar(0.02), xz: u8(ZX), bs: scalar(0.01), bz: i8s(0), ys: scalar(0.5), yz: u8(128) },
      nodes: [{ op: 'QLinearMatMul', inputs: ['x', 'xs', 'xz', 'b', 'bs', 'bz', 'ys', 'yz'], outputs: ['y'] }],
    }),
  };
}

function macsOf(c: Case): number {
  if (c.kind === 'gemm') return c.m * c.k * c.n;
  const [n, , h, w] = c.x;
  const [oc, icg, kh, kw] = c.w;
  const oh = h + c.pads[0] + c.pads[2] - kh + 1;
  const ow = w + c.pads[1] + c.pads[3] - kw + 1;
  return n * oc * oh * ow * icg * kh * kw;
}

interface QloomRun {
  run: (x: Int32Array) => { acc: Float64Array; overflow: { events: number; proved: boolean } };
  /** the fast path with the float requant fused (what `qloom eval --quant` runs): codes into `codes` */
  runCodes: (x: Int32Array, fr: FusedRequant, codes: Int32Array) => unknown;
  kernel: string;
}

function qloomLayer(c: Case, w: Int32Array, bits: number, order: AccumulationOrder): QloomRun {
  const common = {
    zx: ZX,
    zw: Int32Array.of(0),
    bias: null,
    acc: { bits, policy: 'wrap' as const },
    order,
    form: 'raw' as const,
    xBits: 8,
    xSigned: false,
    wBits: 8,
    wSigned: true,
  };
  if (c.kind === 'conv') {
    const l = prepareConvInt({ ...common, xShape: c.x, w, wShape: c.w, strides: [1, 1], pads: c.pads, dilations: [1, 1], group: c.group });
    return { run: (x) => l.run(x), runCodes: (x, fr, codes) => l.runCodes(x, fr, codes), kernel: l.kernel };
  }
  const l = prepareGemmInt({ ...common, w, k: c.k, nOut: c.n });
  return { run: (x) => l.run(x, c.m), runCodes: (x, fr, codes) => l.runCodes(x, c.m, fr, codes), kernel: l.kernel };
}

/** QLinearConv / QLinearMatMul's requantization of the ORT models below (xs 0.02, ws 0.01, ys 0.5, yz 128, uint8) as the fused kernel takes it */
function fusedRequant(nOut: number): FusedRequant {
  const f = floatRequantChannels(requantParams(0.02, Float32Array.of(0.01), 0.5, { mode: 'float' }), 128, { bits: 8, signed: false, narrow: false }, { kind: 'none' }, nOut)!;
  return { mode: 'float', ...f, zy: 128 };
}

function check(name: string, what: string, got: Float64Array, ref: ArrayLike<number>, wrap16: boolean): void {
  if (got.length !== ref.length) throw new Error(`${name}: ${what} has ${got.length} outputs, ORT ${ref.length}`);
  for (let i = 0; i < got.length; i++) {
    const r = wrap16 ? (Number(ref[i]) << 16) >> 16 : Number(ref[i]);
    if (got[i] !== r) throw new Error(`${name}: ${what} output ${i} = ${got[i]}, ORT gives ${r}: not bit-exact`);
  }
}

async function benchCase(c: Case, rounds: number, minMsPerRound: number): Promise<KernelBenchRow> {
  const prng = new Prng(0x5eed ^ macsOf(c));
  const wLen = c.kind === 'conv' ? c.w[0] * c.w[1] * c.w[2] * c.w[3] : c.n * c.k;
  const xLen = c.kind === 'conv' ? c.x[0] * c.x[1] * c.x[2] * c.x[3] : c.m * c.k;
  const xShape = c.kind === 'conv' ? c.x : [c.m, c.k];
  const w = randomData(prng, wLen, -W_MAX, W_MAX);
  const xs = Array.from({ length: INPUTS }, () => randomData(prng, xLen, 0, 255));
  const feeds = xs.map((x) => ({ x: new ort.Tensor('uint8', Uint8Array.from(x), xShape) }));
  const models = ortModels(c, w);
  const sInt = await session(models.integer);
  const sQ = await session(models.qlinear);
  const ref = (await sInt.run(feeds[0])).y.data as Int32Array;

  const fast = qloomLayer(c, w, 32, ONE_TILE);
  const checked1 = qloomLayer(c, w, 16, ONE_TILE);
  const checked64 = qloomLayer(c, w, 16, TILE_64);
  const rFast = fast.run(xs[0]);
  const r1 = checked1.run(xs[0]);
  const r64 = checked64.run(xs[0]);
  check(c.name, 'fast', rFast.acc, ref, false);
  check(c.name, 'checked/1', r1.acc, ref, true);
  check(c.name, 'checked/64', r64.acc, ref, true);
  if (!rFast.overflow.proved || r1.overflow.proved) throw new Error(`${c.name}: expected the 32-bit layer proved and the 16-bit one checked`);
  // the fused path's codes against QLinear's, bit for bit
  const fr = fusedRequant(c.kind === 'conv' ? c.w[0] : c.n);
  const codes = new Int32Array(ref.length);
  if (fast.runCodes(xs[0], fr, codes) === null) throw new Error(`${c.name}: the fast layer did not take the fused path`);
  const qRef = (await sQ.run(feeds[0])).y.data as Uint8Array;
  for (let i = 0; i < qRef.length; i++) if (codes[i] !== qRef[i]) throw new Error(`${c.name}: fused output ${i} = ${codes[i]}, QLinear gives ${qRef[i]}: not bit-exact`);

  let next = 0;
  const fresh = () => (next = (next + 1) % INPUTS);
  const runners: Record<Variant, () => Promise<unknown> | unknown> = {
    ortQLinear: () => sQ.run(feeds[fresh()]),
    ortInteger: () => sInt.run(feeds[fresh()]),
    fast: () => fast.run(xs[fresh()]),
    fused: () => fast.runCodes(xs[fresh()], fr, codes),
    checked1: () => checked1.run(xs[fresh()]),
    checked64: () => checked64.run(xs[fresh()]),
  };
  // warm up every variant (JIT and WebAssembly tier-up, ORT's first-run allocations)
  for (const v of VARIANTS) for (let i = 0; i < 5; i++) await runners[v]();
  const samples: Record<Variant, number[]> = { ortQLinear: [], ortInteger: [], fast: [], fused: [], checked1: [], checked64: [] };
  for (let r = 0; r < rounds; r++) {
    for (const v of VARIANTS) {
      let it = 0;
      const t0 = performance.now();
      let t = t0;
      while (t - t0 < minMsPerRound || it < 2) {
        await runners[v]();
        it++;
        t = performance.now();
      }
      samples[v].push((t - t0) / it);
    }
  }
  await sInt.release();
  await sQ.release();
  const macs = macsOf(c);
  const ms = Object.fromEntries(VARIANTS.map((v) => [v, median(samples[v])])) as Record<Variant, number>;
  const per = (peer: number) => ({ fast: ms.fast / peer, fused: ms.fused / peer, checked1: ms.checked1 / peer, checked64: ms.checked64 / peer });
  return {
    name: c.name,
    macs,
    ms,
    macPerSec: Object.fromEntries(VARIANTS.map((v) => [v, macs / (ms[v] / 1000)])) as Record<Variant, number>,
    ratio: per(ms.ortQLinear),
    ratioInteger: per(ms.ortInteger),
    checkedOverFast: { checked1: ms.checked1 / ms.fast, checked64: ms.checked64 / ms.fast },
    kernel: { fast: fast.kernel, checked1: checked1.kernel, checked64: checked64.kernel },
    proved: { fast: rFast.overflow.proved, checked1: r1.overflow.proved },
    events16: { checked1: r1.overflow.events, checked64: r64.overflow.events },
  };
}

/**
 * Relaxed SIMD in this Node: does a module using the int8 dot products validate without
 * --experimental-wasm-relaxed-simd, with it (set at run time), and are the two dot products
 * exact where the proposal says they are deterministic (second operand in [0, 127]), on random
 * and extreme inputs? The kernels do not use relaxed SIMD (wasm.ts says why); this records the facts.
 */
function relaxedSimdProbe(): { withoutFlag: boolean; withFlag: boolean; i16x8DotExact: boolean | null; i32x4DotAddExact: boolean | null } {
  // i32x4.relaxed_dot_i8x16_i7x16_add_s (0x113) and i16x8.relaxed_dot_i8x16_i7x16_s (0x112)
  const add = new Code();
  add.get(3).get(0).simd(Simd.Load).mem(4, 0).get(1).simd(Simd.Load).mem(4, 0).get(2).simd(Simd.Load).mem(4, 0).simd(0x113).simd(Simd.Store).mem(4, 0).op(Op.End);
  const dot = new Code();
  dot.get(3).get(0).simd(Simd.Load).mem(4, 0).get(1).simd(Simd.Load).mem(4, 0).simd(0x112).simd(Simd.Store).mem(4, 0).op(Op.End);
  const bytes = buildModule([
    { name: 'add', params: 4, locals: [], body: add },
    { name: 'dot', params: 4, locals: [], body: dot },
  ]);
  // an earlier bench in this process (fp32's relaxed madd) may have set the flag already
  const withoutFlag = WebAssembly.validate(bytes) && !relaxedFlagSet();
  if (!withoutFlag) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  const withFlag = WebAssembly.validate(bytes);
  if (!withFlag) return { withoutFlag, withFlag, i16x8DotExact: null, i32x4DotAddExact: null };
  const memory = new WebAssembly.Memory({ initial: 1 });
  const ex = new WebAssembly.Instance(new WebAssembly.Module(bytes), { e: { m: memory } }).exports as Record<string, (a: number, b: number, c: number, o: number) => void>;
  const a = new Int8Array(memory.buffer, 0, 16);
  const b = new Int8Array(memory.buffer, 16, 16);
  const acc = new Int32Array(memory.buffer, 32, 4);
  const o32 = new Int32Array(memory.buffer, 48, 4);
  const o16 = new Int16Array(memory.buffer, 48, 8);
  const prng = new Prng(7);
  let addOk = true;
  let dotOk = true;
  for (let t = 0; t < 2000; t++) {
    for (let i = 0; i < 16; i++) {
      a[i] = t < 4 ? [-128, 127, -128, 0][t] : prng.int(256) - 128;
      b[i] = t < 4 ? [127, 127, 0, 127][t] : prng.int(128);
    }
    for (let i = 0; i < 4; i++) acc[i] = prng.int(1 << 20) - (1 << 19);
    const c0 = Int32Array.from(acc);
    ex.add(0, 16, 32, 48);
    for (let i = 0; i < 4; i++) {
      let s = c0[i];
      for (let j = 0; j < 4; j++) s += a[4 * i + j] * b[4 * i + j];
      if (o32[i] !== s) addOk = false;
    }
    ex.dot(0, 16, 32, 48);
    for (let i = 0; i < 8; i++) if (o16[i] !== a[2 * i] * b[2 * i] + a[2 * i + 1] * b[2 * i + 1]) dotOk = false;
  }
  return { withoutFlag, withFlag, i16x8DotExact: dotOk, i32x4DotAddExact: addOk };
}

const g = (macPerSec: number) => `${(macPerSec / 1e9).toFixed(2)}`;
const t = (ms: number) => (ms < 1 ? ms.toFixed(3) : ms.toFixed(2));
const rt = (r: number) => `${r < 10 ? r.toFixed(2) : r.toFixed(1)}×`;

export function markdown(rows: readonly KernelBenchRow[]): string {
  const lines = [
    '| layer | MACs | ORT QLinear ms (GMAC/s) | ORT ConvInteger / MatMulInteger ms (GMAC/s) | qloom fast ms (GMAC/s) | fast / QLinear | fast / ConvInteger | fused requant ms | fused / QLinear | checked-16 1 tile ms | / QLinear | / fast | checked-16 64-row tiles ms | / QLinear | / fast |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.name} | ${(r.macs / 1e6).toFixed(1)} M | ${t(r.ms.ortQLinear)} (${g(r.macPerSec.ortQLinear)}) | ${t(r.ms.ortInteger)} (${g(r.macPerSec.ortInteger)}) | ${t(r.ms.fast)} (${g(r.macPerSec.fast)}) [${r.kernel.fast}] | ${rt(r.ratio.fast)} | ${rt(r.ratioInteger.fast)} | ${t(r.ms.fused)} | ${rt(r.ratio.fused)} | ${t(r.ms.checked1)} [${r.kernel.checked1}] | ${rt(r.ratio.checked1)} | ${rt(r.checkedOverFast.checked1)} | ${t(r.ms.checked64)} [${r.kernel.checked64}] | ${rt(r.ratio.checked64)} | ${rt(r.checkedOverFast.checked64)} |`,
    );
  }
  const geo = (f: (r: KernelBenchRow) => number) => rt(Math.exp(rows.reduce((s, r) => s + Math.log(f(r)), 0) / rows.length));
  lines.push(
    `| geometric mean | | | | | ${geo((r) => r.ratio.fast)} | ${geo((r) => r.ratioInteger.fast)} | | ${geo((r) => r.ratio.fused)} | | ${geo((r) => r.ratio.checked1)} | ${geo((r) => r.checkedOverFast.checked1)} | | ${geo((r) => r.ratio.checked64)} | ${geo((r) => r.checkedOverFast.checked64)} |`,
  );
  return lines.join('\n');
}

export async function main(opts: { rounds?: number; minMsPerRound?: number; out?: string } = {}): Promise<KernelBenchRow[]> {
  const rounds = opts.rounds ?? 7;
  const minMs = opts.minMsPerRound ?? 150;
  const loadBefore = loadavg();
  const relaxedSimd = relaxedSimdProbe();
  const rows: KernelBenchRow[] = [];
  for (const c of CASES) {
    process.stdout.write(`kernels: ${c.name} …\n`);
    rows.push(await benchCase(c, rounds, minMs));
  }
  const loadAfter = loadavg();
  const cpu = CPU;
  const md = markdown(rows);
  process.stdout.write(`\n## Integer MAC kernels vs onnxruntime-node ${ort.env.versions.common} (single thread)\n\n${md}\n\n`);
  process.stdout.write('[wasm] = WebAssembly SIMD kernel, [js] = Float64 loops. Ratios: qloom time / peer time (lower is better); / fast: checked time / fast time.\n');
  const flags = Object.entries(cpu.flags).filter(([, on]) => on).map(([f]) => f);
  process.stdout.write(`CPU: ${cpu.model}, ${cpus().length} cores; flags: ${flags.join(' ')}; load average before / after: ${loadBefore.map((l) => l.toFixed(2)).join(' ')} / ${loadAfter.map((l) => l.toFixed(2)).join(' ')}\n`);
  process.stdout.write(`relaxed SIMD: ${JSON.stringify(relaxedSimd)}\n`);
  const out = opts.out ?? join(dirname(fileURLToPath(import.meta.url)), 'results', 'kernels.json');
  writeBenchResult(
    out,
    JSON.stringify(
      {
        bench: 'kernels',
        date: new Date().toISOString(),
        node: process.version,
        onnxruntime: ort.env.versions.common,
        cpu: cpu.model,
        cores: cpus().length,
        cpuFlags: cpu.flags,
        loadAverage: { before: loadBefore, after: loadAfter },
        relaxedSimd,
        method: `median of ${rounds} interleaved rounds of ≥ ${minMs} ms per variant, each call on the next of ${INPUTS} different inputs; ORT intraOpNumThreads = 1; ratios are qloom time / peer time`,
        orders: { fast: ONE_TILE, checked1: ONE_TILE, checked64: TILE_64 },
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
