/**
 * Integer MAC kernels (sim/kernels) against onnxruntime-node, single thread, in one run.
 *
 * Peer: ConvInteger / MatMulInteger — pure integer MACs into int32, exactly what the kernel
 * computes (raw form, uint8 input with zero point 128, int8 symmetric weights, no bias); their
 * outputs are compared bit for bit before anything is timed. QLinearConv / QLinearMatMul (which add
 * requantization and use ORT's best integer paths) are timed for information only.
 *
 * qloom columns:
 *  - fast: 32-bit accumulator, proved safe by the bound analysis, one tile (per-step checks skipped);
 *  - checked/1: a 16-bit wrapping accumulator — cannot be proved, so every accumulator add is
 *    checked and the policy applied — with one tile per output (the floor of checking cost);
 *  - checked/64: the same with the K reduction cut in tiles of 64 (a 64-row array): 9× the adds
 *    for a 3×3×64 conv. Checked outputs are verified against ORT's reduced mod 2^16.
 *
 * Layers are prepared once (weights laid out, bounds analysed), as ORT prepacks its initializers
 * at session creation; the timed call is one inference of one layer. Times are medians over
 * interleaved rounds (ORT, then each qloom variant, repeated), so load from other processes on a
 * shared machine hits all columns alike; ratios are qloom time / ConvInteger-or-MatMulInteger time.
 *
 *   npm run bench -- kernels        (or: npx tsx bench/kernels.ts)
 */
import { median, writeBenchResult } from './common.js';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { Prng } from '../nets/prng.js';
import type { AccumulationOrder } from '../sim/kernels/accumulator.js';
import { prepareConvInt, prepareGemmInt } from '../sim/kernels/linear.js';
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
const ONE_TILE: AccumulationOrder = { kOrder: 'ckk', kTile: 0 };
const TILE_64: AccumulationOrder = { kOrder: 'ckk', kTile: 64 };

type Variant = 'ort' | 'ortQLinear' | 'fast' | 'checked1' | 'checked64';
const VARIANTS: Variant[] = ['ort', 'ortQLinear', 'fast', 'checked1', 'checked64'];

export interface KernelBenchRow {
  name: string;
  macs: number;
  /** median ms per call */
  ms: Record<Variant, number>;
  /** MAC/s */
  macPerSec: Record<Variant, number>;
  /** qloom time / ORT ConvInteger (MatMulInteger) time */
  ratio: { fast: number; checked1: number; checked64: number };
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
  run: () => { acc: Float64Array; overflow: { events: number; proved: boolean } };
  kernel: string;
}

function qloomLayer(c: Case, w: Int32Array, x: Int32Array, bits: number, order: AccumulationOrder): QloomRun {
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
    return { run: () => l.run(x), kernel: l.kernel };
  }
  const l = prepareGemmInt({ ...common, w, k: c.k, nOut: c.n });
  return { run: () => l.run(x, c.m), kernel: l.kernel };
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
  const w = randomData(prng, wLen, -127, 127);
  const x = randomData(prng, xLen, 0, 255);
  const models = ortModels(c, w);
  const sInt = await session(models.integer);
  const sQ = await session(models.qlinear);
  const feeds = { x: new ort.Tensor('uint8', Uint8Array.from(x), c.kind === 'conv' ? c.x : [c.m, c.k]) };
  const ref = (await sInt.run(feeds)).y.data as Int32Array;

  const fast = qloomLayer(c, w, x, 32, ONE_TILE);
  const checked1 = qloomLayer(c, w, x, 16, ONE_TILE);
  const checked64 = qloomLayer(c, w, x, 16, TILE_64);
  const rFast = fast.run();
  const r1 = checked1.run();
  const r64 = checked64.run();
  check(c.name, 'fast', rFast.acc, ref, false);
  check(c.name, 'checked/1', r1.acc, ref, true);
  check(c.name, 'checked/64', r64.acc, ref, true);
  if (!rFast.overflow.proved || r1.overflow.proved) throw new Error(`${c.name}: expected the 32-bit layer proved and the 16-bit one checked`);

  const runners: Record<Variant, () => Promise<unknown> | unknown> = {
    ort: () => sInt.run(feeds),
    ortQLinear: () => sQ.run(feeds),
    fast: fast.run,
    checked1: checked1.run,
    checked64: checked64.run,
  };
  // warm up every variant (JIT, ORT's first-run allocations)
  for (const v of VARIANTS) for (let i = 0; i < 3; i++) await runners[v]();
  const samples: Record<Variant, number[]> = { ort: [], ortQLinear: [], fast: [], checked1: [], checked64: [] };
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
  return {
    name: c.name,
    macs,
    ms,
    macPerSec: Object.fromEntries(VARIANTS.map((v) => [v, macs / (ms[v] / 1000)])) as Record<Variant, number>,
    ratio: { fast: ms.fast / ms.ort, checked1: ms.checked1 / ms.ort, checked64: ms.checked64 / ms.ort },
    kernel: { fast: fast.kernel, checked1: checked1.kernel, checked64: checked64.kernel },
    proved: { fast: rFast.overflow.proved, checked1: r1.overflow.proved },
    events16: { checked1: r1.overflow.events, checked64: r64.overflow.events },
  };
}

const g = (macPerSec: number) => `${(macPerSec / 1e9).toFixed(2)}`;
const t = (ms: number) => (ms < 1 ? ms.toFixed(3) : ms.toFixed(2));
const rt = (r: number) => `${r < 10 ? r.toFixed(2) : r.toFixed(1)}×`;

export function markdown(rows: readonly KernelBenchRow[]): string {
  const lines = [
    '| layer | MACs | ORT ConvInteger/MatMulInteger ms (GMAC/s) | ORT QLinear ms | qloom fast ms (GMAC/s) | fast / ORT | checked-16 1 tile ms | / ORT | checked-16 64-row tiles ms | / ORT |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.name} | ${(r.macs / 1e6).toFixed(1)} M | ${t(r.ms.ort)} (${g(r.macPerSec.ort)}) | ${t(r.ms.ortQLinear)} | ${t(r.ms.fast)} (${g(r.macPerSec.fast)}) [${r.kernel.fast}] | ${rt(r.ratio.fast)} | ${t(r.ms.checked1)} [${r.kernel.checked1}] | ${rt(r.ratio.checked1)} | ${t(r.ms.checked64)} [${r.kernel.checked64}] | ${rt(r.ratio.checked64)} |`,
    );
  }
  const geo = (k: 'fast' | 'checked1' | 'checked64') => Math.exp(rows.reduce((s, r) => s + Math.log(r.ratio[k]), 0) / rows.length);
  lines.push(`| geometric mean | | | | | ${rt(geo('fast'))} | | ${rt(geo('checked1'))} | | ${rt(geo('checked64'))} |`);
  return lines.join('\n');
}

export async function main(opts: { rounds?: number; minMsPerRound?: number; out?: string } = {}): Promise<KernelBenchRow[]> {
  const rounds = opts.rounds ?? 7;
  const minMs = opts.minMsPerRound ?? 150;
  const rows: KernelBenchRow[] = [];
  for (const c of CASES) {
    process.stdout.write(`kernels: ${c.name} …\n`);
    rows.push(await benchCase(c, rounds, minMs));
  }
  const md = markdown(rows);
  process.stdout.write(`\n## Integer MAC kernels vs onnxruntime-node ${ort.env.versions.common} (single thread)\n\n${md}\n\n`);
  process.stdout.write('[wasm] = WebAssembly SIMD kernel, [js] = Float64 loops. Ratios: qloom time / ORT integer-MAC time (lower is better).\n');
  const out = opts.out ?? join(dirname(fileURLToPath(import.meta.url)), 'results', 'kernels.json');
  writeBenchResult(
    out,
    JSON.stringify(
      {
        bench: 'kernels',
        date: new Date().toISOString(),
        node: process.version,
        onnxruntime: ort.env.versions.common,
        cpu: cpus()[0]?.model ?? 'unknown',
        cores: cpus().length,
        method: `median of ${rounds} interleaved rounds of ≥ ${minMs} ms per variant; ORT intraOpNumThreads = 1`,
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
