/**
 * The SIMD path's WebAssembly module (the kernels: wasm-conv.ts's inner products, the operand
 * fill, epilogues, requants, the depthwise kernel, pool and scatter) and DotLayer, one layer's
 * kernels over its region of a KernelArena: weights laid out once, each run's operands, outputs
 * and codes behind them.
 */

import { buildModule, type Func } from '../../nets/wasm-binary.js';
import { convFunc, type Nc } from './wasm-conv.js';
import { rqFixedFunc, rqFunc, writeFixedChannels, type FixedChannels, type RqFn } from '../../qnet/requant-wasm.js';
import { dwFunc } from './wasm-depthwise.js';
import { epiFunc, epiVecFunc } from './wasm-epilogue.js';
import { fillFunc } from './wasm-fill.js';
import { poolFunc, scatterFunc } from './wasm-out.js';
import { invariant } from '../../nets/errors.js';
import type { OperandLayout } from './geometry.js';

/** Module (nets/wasm-binary.ts): imported memory e.m; exports conv{nc}x{np}, tiles{nc}x{np}, fill, epi, epiv, rq, rqx, dw, pool2, scatter, dw10, rq16, rqx16. */
function kernelModule(): Uint8Array<ArrayBuffer> {
  const fns: Func[] = [];
  for (const perTile of [false, true]) for (const nc of [1, 4] as const) for (const np of [1, 2] as const) fns.push(convFunc(perTile, nc, np));
  fns.push(fillFunc(), epiFunc(), epiVecFunc(), rqFunc('rq', 'i32'), rqFixedFunc('rqx', 'i32'), dwFunc(), poolFunc(), scatterFunc(), dwFunc(DW_LANES), rqFunc('rq16', 'i32', 'i16'), rqFixedFunc('rqx16', 'i32', 'i16'));
  return buildModule(fns);
}

/** lanes of the unrolled depthwise kernel (a 3×3 kernel's 9 taps in raster order and a padding lane of weight 0) */
const DW_LANES = 10;

let compiled: WebAssembly.Module | null | undefined;

/** The compiled module, or null where WebAssembly SIMD is unavailable (then the Float64 path runs). */
function kernelWasm(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(kernelModule());
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

type ConvFn = (
  xin: number,
  pos: number,
  p: number,
  gOff: number,
  lane: number,
  kp2: number,
  w: number,
  init: number,
  tiles: number,
  nT: number,
  ncb: number,
  out: number,
  oStride: number,
  xbuf: number,
  pb0: number,
  pb1: number,
) => number;

type EpiFn = (o: number, bStride: number, tStride: number, nT: number, nb: number, bp: number, p0: number, p: number, outRow: number, mode: number, sh: number, res: number) => void;
type FillFn = (src: number, dst: number, planes: number, h: number, w: number, wp: number, planeStride: number, dst0: number, sub: number, res: number, pl: number, pad: number) => void;

type PoolFn = (src: number, rowBytes: number, rows: number, n: number, oh: number, ow: number, ph: number, pw: number) => void;

type ScatterFn = (src: number, rowBytes: number, rows: number, n: number, areaBytes: number, dst: number, imgBytes: number) => void;

type DwFn = (xin: number, pos: number, p: number, gOff: number, lane: number, kp: number, w: number, init: number, out: number, flags: number) => number;

const PAGE = 65536;

/**
 * A WebAssembly memory DotLayers share: regions handed out from its end, the memory grown as they
 * need. A layer alone has its own; a chain of layers that hand their codes on (sim/qexec.ts: a
 * conv whose output only the next conv reads writes that conv's operand input) shares one, so
 * that one layer's requant can write where the next layer's kernel reads. Growing detaches
 * every view of the memory: a caller keeps views across another layer's run only where no layer
 * of the arena can run in between (a chain runs in order, its last layer last).
 */
export class KernelArena {
  readonly memory = new WebAssembly.Memory({ initial: 1 });
  private top = 0;

  /** `bytes` of room (64-byte aligned), or the region at `at` of `had` bytes extended in place where it is the last one */
  alloc(bytes: number, at = -1, had = 0): number {
    const start = at >= 0 && at + had === this.top ? at : align(this.top);
    this.top = start + bytes;
    const have = this.memory.buffer.byteLength;
    if (this.top > have) this.memory.grow(Math.ceil((this.top - have) / PAGE));
    return start;
  }
}

function align(n: number): number {
  return (n + 63) & ~63;
}

/**
 * One layer's WebAssembly memory and kernels. Static part (written once, when the layer is
 * prepared): weights per group in register-block order, starting values, tile ends, lane
 * offsets. Per run, behind it: positions' origins, the padded int16 input, one block's im2col,
 * the outputs — grown as a run needs.
 */
export class DotLayer {
  readonly kp2: number;
  readonly nTiles: number;
  /** channels per register block: 4, or 1 for groups of fewer than 4 channels */
  readonly nc: Nc;
  /** channel blocks per group */
  readonly ncb: number;
  readonly arena: KernelArena;
  private readonly memory: WebAssembly.Memory;
  private readonly fns: Record<string, ConvFn>;
  /** the weights, [g][cb][kp2][nc][2] int16 */
  private readonly wPtr: number;
  /** this layer's run regions (begin()): where and how many bytes */
  private dynBase = -1;
  private dynBytes = 0;
  private codesBytes = 0;
  /** the operand layout whose padding and position origins the run region holds (acceptInput), null once the region moved */
  private padded: OperandLayout | null = null;
  /** position blocks per runTiles() call (bounds the per-tile output buffer) */
  chunk = 0;
  /** positions per block of the current run: 8, or 4 when the run has at most 4 positions */
  blockPositions = 8;
  private readonly initPtr: number;
  private readonly tilesPtr: number;
  private readonly lanePtr: number;
  private readonly resPtr: number;
  /** the fused float requant's parameters: f32 multiplier [nOut], f32 upper bound [nOut], f32 lower bound */
  private readonly rqPtr: number;
  /** the fused fixed requant's: {m, 2^ls, rs} [nOut] (i32), upper bound [nOut] (i32), lower bound */
  private readonly rqxPtr: number;
  private readonly nOut: number;
  private srcPtr = 0;
  private epiPtr = 0;
  private posPtr = 0;
  private inPtr = 0;
  private xPtr = 0;
  private outPtr = 0;
  private positions = 0;
  /** per position block of the run: 1 where its 8 receptive fields are consecutive (depthwise()) */
  private flagPtr = 0;
  private flagsReady = false;
  private dwUseful = false;
  /** DW_LANES lanes: depthwise() may run the unrolled kernel */
  readonly dwUnrolled: boolean;
  /** the NCHW codes scatter() writes (reserveCodes) */
  private codesPtr = 0;
  /** row stride (int32) of the last run() / runRange() / depthwise() outputs */
  private runStride = 0;

  /**
   * null where WebAssembly SIMD is unavailable, or where padding each tile to whole lane pairs
   * would more than double the work (tiles of one index). `wSeq` [nOut][k] in arrival order,
   * `stepEnd` the tiles' ends, `kOff` each arrival index's input offset.
   */
  static create(wSeq: Float64Array, nOut: number, k: number, group: number, stepEnd: Int32Array, init: Float64Array, kOff: Int32Array, arena?: KernelArena): DotLayer | null {
    const mod = kernelWasm();
    if (!mod) return null;
    // each tile rounded up to whole lane pairs; a padded lane has weight 0
    const laneSrc: number[] = [];
    const tileEnds = new Int32Array(stepEnd.length);
    let j = 0;
    for (let s = 0; s < stepEnd.length; s++) {
      for (; j < stepEnd[s]; j++) laneSrc.push(j);
      if (laneSrc.length % 2 !== 0) laneSrc.push(-1);
      tileEnds[s] = laneSrc.length / 2;
    }
    if (laneSrc.length > 2 * k) return null;
    return new DotLayer(mod, wSeq, nOut, k, group, tileEnds, init, kOff, Int32Array.from(laneSrc), arena ?? new KernelArena());
  }

  private constructor(mod: WebAssembly.Module, wSeq: Float64Array, nOut: number, k: number, group: number, tileEnds: Int32Array, init: Float64Array, kOff: Int32Array, laneSrc: Int32Array, arena: KernelArena) {
    const kp = laneSrc.length;
    this.kp2 = kp / 2;
    const off = (l: number) => kOff[laneSrc[l]];
    this.dwUnrolled = kp === DW_LANES && laneSrc[9] < 0 && laneSrc.subarray(0, 9).every((a) => a >= 0) && [0, 3, 6].every((l) => off(l + 1) === off(l) + 1 && off(l + 2) === off(l) + 2);
    this.nTiles = tileEnds.length;
    const ocg = nOut / group;
    const NC = ocg >= 4 ? 4 : 1;
    this.nc = NC;
    this.ncb = Math.ceil(ocg / NC);
    const rows = group * this.ncb * NC;
    // the static part: offsets from wPtr
    const initOff = align(rows * kp * 2);
    const tilesOff = align(initOff + rows * 4);
    const laneOff = align(tilesOff + this.nTiles * 4);
    const resOff = align(laneOff + kp * 4);
    this.nOut = nOut;
    // res: the epilogues' scalars (0 … 52) and epiv's lane scratch (64 … 80)
    const rqOff = align(resOff + 96);
    const rqxOff = rqOff + 8 * nOut + 4;
    this.arena = arena;
    this.wPtr = arena.alloc(rqxOff + 16 * nOut + 4);
    this.initPtr = this.wPtr + initOff;
    this.tilesPtr = this.wPtr + tilesOff;
    this.lanePtr = this.wPtr + laneOff;
    this.resPtr = this.wPtr + resOff;
    this.rqPtr = this.wPtr + rqOff;
    this.rqxPtr = this.wPtr + rqxOff;
    this.memory = arena.memory;
    const inst = new WebAssembly.Instance(mod, { e: { m: this.memory } });
    this.fns = inst.exports as unknown as Record<string, ConvFn>;
    const buf = this.memory.buffer;
    // weights: [g][cb][kp2][4 ch][2]; channels past the group's end stay 0
    const w16 = new Int16Array(buf, this.wPtr, rows * kp);
    const init32 = new Int32Array(buf, this.initPtr, rows);
    for (let g = 0; g < group; g++) {
      for (let ci = 0; ci < ocg; ci++) {
        const c = g * ocg + ci;
        const cb = g * this.ncb + Math.floor(ci / NC);
        const base = cb * this.kp2 * 2 * NC + (ci % NC) * 2;
        const src = c * k;
        for (let l = 0; l < kp; l++) {
          const a = laneSrc[l];
          w16[base + (l >> 1) * 2 * NC + (l & 1)] = a < 0 ? 0 : wSeq[src + a];
        }
        init32[cb * NC + (ci % NC)] = init[c];
      }
    }
    new Int32Array(buf, this.tilesPtr, this.nTiles).set(tileEnds);
    const lanes = new Int32Array(buf, this.lanePtr, kp);
    for (let l = 0; l < kp; l++) lanes[l] = laneSrc[l] < 0 ? 0 : kOff[laneSrc[l]];
  }

  /**
   * Lays out memory for a run over `positions` outputs, and returns the two things the caller
   * fills: each position's receptive-field origin (int32) and the padded operand input (int16,
   * `inputLength` elements) — directly, or with fill() from `srcLength` int32 values. `perTile`
   * sizes the output for runTiles() — in chunks of position blocks, so that it stays near 4 MiB.
   */
  begin(inputLength: number, positions: number, perTile: boolean, srcLength = 0): { posBase: Int32Array; input: Int16Array } {
    this.blockPositions = positions <= 4 ? 4 : 8;
    const bp = this.blockPositions;
    const nPB = Math.ceil(positions / bp);
    this.positions = positions;
    const tileBlock = this.ncb * this.nc * this.nTiles * bp * 4;
    this.chunk = perTile ? Math.max(1, Math.min(nPB, Math.floor((4 << 20) / tileBlock))) : nPB;
    // offsets in the run region; 16 bytes of slack after the input: the gather's vector loads read 8 lanes from a valid one
    const inOff = align(positions * 4);
    const xOff = align(inOff + inputLength * 2 + 16);
    const outOff = align(xOff + this.kp2 * bp * 4);
    const srcOff = align(outOff + (perTile ? this.chunk * tileBlock : this.ncb * this.nc * nPB * bp * 4));
    const epiOff = align(srcOff + srcLength * 4);
    // whole blocks: epiv stores whole vectors
    const flagOff = align(epiOff + (perTile ? Math.ceil(positions / 8) * 8 * 4 : 0));
    const end = flagOff + nPB;
    if (end > this.dynBytes) {
      this.dynBase = this.arena.alloc(end, this.dynBase, this.dynBytes);
      this.dynBytes = end;
    }
    const inPtr = this.dynBase + inOff;
    if (inPtr !== this.inPtr) this.padded = null;
    this.posPtr = this.dynBase;
    this.inPtr = inPtr;
    this.xPtr = this.dynBase + xOff;
    this.outPtr = this.dynBase + outOff;
    this.srcPtr = this.dynBase + srcOff;
    this.epiPtr = this.dynBase + epiOff;
    this.flagPtr = this.dynBase + flagOff;
    this.flagsReady = false;
    return { posBase: new Int32Array(this.memory.buffer, this.posPtr, positions), input: new Int16Array(this.memory.buffer, this.inPtr, inputLength) };
  }

  /**
   * Readies the operand input for codes the layer before hands on (its requantHandoff(), which
   * writes them where fill() would): lays the run out as begin() does for `posBase.length`
   * positions, and sets their origins and the padding of layout `l` — once while the run's
   * region stays where it is (the codes overwrite only the rows inside the padding; a conv's
   * origins are the same every run).
   */
  acceptInput(l: OperandLayout, posBase: Int32Array): void {
    const buf = this.begin(l.length, posBase.length, false, 0);
    if (this.padded !== l) {
      buf.posBase.set(posBase);
      buf.input.fill(l.padValue);
      this.padded = l;
    }
  }

  /**
   * requantInto() into the next layer's operand input instead (`to`, of the same arena, after its
   * acceptInput(l)): rows 0 … rows−1 of the last run's outputs, each n images of h×w (l's) from
   * the row's start — images b0 … — channel c0 + r of image b as int16 code − l.sub in the rows of
   * plane b·channels + c0 + r of the padded layout, as fill() lays out an NCHW input.
   */
  requantHandoff(rows: number, c0: number, zy: number, fixed: boolean, n: number, b0: number, to: DotLayer, l: OperandLayout, channels: number): void {
    invariant(to.arena === this.arena && to.padded === l, 'requantHandoff: the next layer is of another arena, or has not accepted the input');
    const fn = (fixed ? this.fns.rqx16 : this.fns.rq16) as unknown as RqFn;
    const nOut = this.nOut;
    const plane = l.hp * l.wp;
    const rowSkip = 2 * (l.wp - l.w);
    const imageSkip = 2 * (channels * plane - l.h * l.wp);
    const first = to.inPtr + 2 * (l.pt * l.wp + l.pl);
    for (let r = 0; r < rows; r++) {
      const c = c0 + r;
      const src = this.outPtr + r * this.runStride * 4;
      const dst = first + 2 * (b0 * channels + c) * plane;
      if (fixed) fn(src, dst, n, l.h, l.w, this.rqxPtr + 12 * c, this.rqxPtr + 12 * nOut + 4 * c, this.rqxPtr + 16 * nOut, zy - l.sub, rowSkip, imageSkip, 1);
      else fn(src, dst, n, l.h, l.w, this.rqPtr + 4 * c, this.rqPtr + 4 * nOut + 4 * c, this.rqPtr + 8 * nOut, zy - l.sub, rowSkip, imageSkip, 1);
    }
  }

  /**
   * The padded int16 operand input from the integer input x (begin() with srcLength ≥ x.length
   * first), as geometry.ts fillOperands lays it out; false when a value lies outside [l.lo, l.hi]
   * (the caller then reports it — fillOperands finds which).
   */
  fill(x: Int32Array, l: OperandLayout, input: Int16Array): boolean {
    const buf = this.memory.buffer;
    new Int32Array(buf, this.srcPtr, x.length).set(x);
    const plane = l.hp * l.wp;
    // fillFunc writes the padding too (every element of `input`), except of planes with no rows or columns
    if (l.h === 0 || l.w === 0) input.fill(l.padValue);
    (this.fns.fill as unknown as FillFn)(this.srcPtr, this.inPtr, l.planes, l.h, l.w, l.wp, plane, l.pt * l.wp + l.pl, l.sub, this.resPtr, l.pl, l.padValue);
    const res = new Int32Array(buf, this.resPtr, 2);
    return x.length === 0 || (res[0] >= l.lo && res[1] <= l.hi);
  }

  /**
   * The checked accumulator of channel ci of group-local channel block layout over the tile sums
   * of the last runTiles() (blocks [pb0, pb0 + nb)), in WebAssembly (wasm-epilogue.ts epiFunc;
   * `vec`: epiVecFunc, four positions at a time, where Prepared.vecEpilogue holds): wrap (mode 0)
   * or saturate (1) at ≤ 32 bits, outputs into epilogueOutput(). The caller sets epiScratch()'s
   * maxAbs, e0, a0, lo, hi first and reads maxAbs back after; returns firstPos, firstStep, events.
   */
  epilogue(ci: number, pb0: number, nb: number, mode: number, bits: number, vec = false): Int32Array {
    const bp = this.blockPositions;
    const nc = this.nc;
    const T = this.nTiles;
    const tileBytes = nc * bp * 4;
    const o = this.outPtr + ((Math.floor(ci / nc) * T * nc + (ci % nc)) * bp) * 4;
    (this.fns[vec ? 'epiv' : 'epi'] as unknown as EpiFn)(o, this.ncb * T * tileBytes, tileBytes, T, nb, bp, pb0 * bp, this.positions, this.epiPtr, mode, 32 - bits, this.resPtr);
    return new Int32Array(this.memory.buffer, this.resPtr + 40, 3);
  }

  /** epilogue()'s f64 inputs and maxAbs: [maxAbs, e0, a0, lo, hi] */
  epiScratch(): Float64Array {
    return new Float64Array(this.memory.buffer, this.resPtr, 5);
  }

  /** epilogue()'s outputs, int32 [positions] (valid at the positions of the last call's blocks) */
  epilogueOutput(): Int32Array {
    return new Int32Array(this.memory.buffer, this.epiPtr, this.positions);
  }

  /** output row stride (int32 elements) of run(): positions rounded up to whole blocks */
  get rowStride(): number {
    return Math.ceil(this.positions / this.blockPositions) * this.blockPositions;
  }

  /**
   * Group g (input offset gOff), all positions: the outputs int32 [ncb·nc][rowStride] (read them
   * with output()); returns max |running sum| at tile ends.
   */
  run(g: number, gOff: number): number {
    return this.runRange(g, gOff, 0, this.positions);
  }

  /**
   * run() on positions [p0, p1) only (p0 a multiple of blockPositions): the outputs int32
   * [ncb·nc][runStride] with runStride = p1 − p0 rounded up to whole blocks — a part of a run
   * whose outputs stay in cache for requant(), pool2x2() and scatter() after it.
   */
  runRange(g: number, gOff: number, p0: number, p1: number): number {
    const bp = this.blockPositions;
    invariant(p0 % bp === 0 && p0 < p1 && p1 <= this.positions, `runRange [${p0}, ${p1}) of ${this.positions} positions in blocks of ${bp}`);
    const fn = this.fns[`conv${this.nc}x${bp / 4}`];
    const pb0 = p0 / bp;
    const pb1 = Math.ceil(p1 / bp);
    this.runStride = (pb1 - pb0) * bp;
    const rows = this.ncb * this.nc;
    // the kernel writes block pb at out + pb·bp·4 of each row: shifted so that block pb0 lands at the rows' start (i32 arithmetic wraps back)
    return fn(this.inPtr, this.posPtr, this.positions, gOff, this.lanePtr, this.kp2, this.wPtr + g * rows * this.kp2 * 4, this.initPtr + g * rows * 4, this.tilesPtr, this.nTiles, this.ncb, this.outPtr - pb0 * bp * 4, this.runStride * 4, this.xPtr, pb0, pb1) >>> 0;
  }

  /**
   * The fused requant's parameters for the next requant() calls (requant.ts's float mode): per
   * output channel the float32 multiplier and the upper bound, and the lower bound, all integers
   * already minus the output zero point and exact in float32.
   */
  setRequant(mult: Float32Array, his: Float64Array, lo: number): void {
    const buf = this.memory.buffer;
    new Float32Array(buf, this.rqPtr, this.nOut).set(mult);
    const h = new Float32Array(buf, this.rqPtr + 4 * this.nOut, this.nOut + 1);
    for (let c = 0; c < this.nOut; c++) h[c] = his[c];
    h[this.nOut] = lo;
  }

  /**
   * The fused requant's parameters in the fixed mode (requant.ts's double rounding): per output
   * channel FixedMultiplier's constants and the upper bound, and the lower bound, both minus zy.
   */
  setRequantFixed(f: FixedChannels, his: Int32Array, lo: number): void {
    const buf = this.memory.buffer;
    writeFixedChannels(buf, this.rqxPtr, f, this.nOut);
    const h = new Int32Array(buf, this.rqxPtr + 12 * this.nOut, this.nOut + 1);
    h.set(his.subarray(0, this.nOut));
    h[this.nOut] = lo;
  }

  /**
   * Requantizes rows 0 … rows−1 of the last run()'s (runRange()'s, depthwise()'s) outputs in
   * place (output() then holds codes), row r with channel c0 + r's parameters of setRequant
   * (`fixed`: of setRequantFixed).
   */
  requant(rows: number, c0: number, zy: number, fixed = false): void {
    if (fixed) {
      const rqx = this.fns.rqx as unknown as RqFn;
      rqx(this.outPtr, this.outPtr, 1, rows, this.runStride, this.rqxPtr + 12 * c0, this.rqxPtr + 12 * this.nOut + 4 * c0, this.rqxPtr + 16 * this.nOut, zy);
      return;
    }
    const rq = this.fns.rq as unknown as RqFn;
    const m = this.rqPtr + 4 * c0;
    rq(this.outPtr, this.outPtr, 1, rows, this.runStride, m, m + 4 * this.nOut, this.rqPtr + 8 * this.nOut, zy);
  }

  /**
   * requant() into the reserved NCHW codes instead of in place — requant and scatter() in one
   * pass: rows 0 … rows−1 of the last run's outputs, each n images of `area` from the row's start
   * (images b0 …); channel c0 + r of image b lands at (b·nOut + c0 + r)·area.
   */
  requantInto(rows: number, c0: number, zy: number, fixed: boolean, n: number, area: number, b0: number): void {
    const fn = (fixed ? this.fns.rqx : this.fns.rq) as unknown as RqFn;
    const nOut = this.nOut;
    const skip = (nOut - 1) * area * 4;
    for (let r = 0; r < rows; r++) {
      const c = c0 + r;
      const src = this.outPtr + r * this.runStride * 4;
      const dst = this.codesPtr + (b0 * nOut + c) * area * 4;
      if (fixed) fn(src, dst, n, 1, area, this.rqxPtr + 12 * c, this.rqxPtr + 12 * nOut + 4 * c, this.rqxPtr + 16 * nOut, zy, skip);
      else fn(src, dst, n, 1, area, this.rqPtr + 4 * c, this.rqPtr + 4 * nOut + 4 * c, this.rqPtr + 8 * nOut, zy, skip);
    }
  }

  /**
   * run() for a depthwise layer (one channel per group, one tile, blocks of 8 positions) on the
   * gather-free kernel (dwFunc): the same outputs in output(), the same max |sum|; −1 (nothing
   * run) where the layer is not of that kind — then run().
   */
  depthwise(g: number, gOff: number): number {
    if (this.nc !== 1 || this.ncb !== 1 || this.nTiles !== 1 || this.blockPositions !== 8) return -1;
    const P = this.positions;
    if (!this.flagsReady) {
      const pos = new Int32Array(this.memory.buffer, this.posPtr, P);
      const flags = new Uint8Array(this.memory.buffer, this.flagPtr, Math.ceil(P / 8));
      let straight = 0;
      for (let b = 0, p = 0; p < P; b++, p += 8) {
        // 1: the 8 receptive fields consecutive, 2: every other element (stride 2), 2 + k: two
        // consecutive runs, the second from position k (across an output row or image), 0: none
        let f = 0;
        if (p + 8 <= P) {
          let k = 1;
          while (k < 8 && pos[p + k] === pos[p] + k) k++;
          if (k === 8) f = 1;
          else {
            let rest = k + 1;
            while (rest < 8 && pos[p + rest] === pos[p + k] + rest - k) rest++;
            if (rest === 8) f = 2 + k;
            else {
              f = 2;
              for (let i = 1; f === 2 && i < 8; i++) if (pos[p + i] !== pos[p] + 2 * i) f = 0;
            }
          }
        }
        flags[b] = f;
        if (f > 0) straight++;
      }
      this.flagsReady = true;
      // a layer whose blocks mostly gather (narrow rows) keeps run(): its gather is vectorized
      this.dwUseful = straight >= 0.75 * flags.length;
    }
    if (!this.dwUseful) return -1;
    const dw = this.fns[this.dwUnrolled ? `dw${DW_LANES}` : 'dw'] as unknown as DwFn;
    this.runStride = this.rowStride;
    return dw(this.inPtr, this.posPtr, P, gOff, this.lanePtr, 2 * this.kp2, this.wPtr + g * this.kp2 * 4, this.initPtr + g * 4, this.outPtr, this.flagPtr) >>> 0;
  }

  /**
   * A 2×2 stride-2 max pool of rows 0 … rows−1 of the last run's outputs, in place (wasm-out.ts):
   * the positions run are n images of oh×ow; afterwards each row starts with the n images' ph×pw
   * maxima.
   */
  pool2x2(rows: number, n: number, oh: number, ow: number, ph: number, pw: number): void {
    invariant(n * oh * ow <= this.runStride && ph >= 0 && pw >= 0 && 2 * ph <= oh && 2 * pw <= ow, `pool2x2: ${n} images of ${oh}×${ow} → ${ph}×${pw} in rows of ${this.runStride}`);
    (this.fns.pool2 as unknown as PoolFn)(this.outPtr, this.runStride * 4, rows, n, oh, ow, ph, pw);
  }

  /** Room for a run's NCHW codes, `length` int32 (a region of the layer's own, kept between runs). */
  reserveCodes(length: number): void {
    if (length * 4 <= this.codesBytes) return;
    this.codesPtr = this.arena.alloc(length * 4, this.codesBytes > 0 ? this.codesPtr : -1, this.codesBytes);
    this.codesBytes = length * 4;
  }

  /**
   * Rows 0 … rows−1 of the last run's outputs, each n images of `area` codes from the row's
   * start — images b0 … b0+n−1 — into the reserved NCHW codes as channels c0 …: channel c of
   * image b at (b·nOut + c)·area.
   */
  scatter(rows: number, c0: number, n: number, area: number, b0: number): void {
    (this.fns.scatter as unknown as ScatterFn)(this.outPtr, this.runStride * 4, rows, n, area * 4, this.codesPtr + (b0 * this.nOut + c0) * area * 4, this.nOut * area * 4);
  }

  /** The reserved NCHW codes (reserveCodes, filled by scatter()): int32 [length]. */
  codes(length: number): Int32Array {
    return new Int32Array(this.memory.buffer, this.codesPtr, length);
  }

  /** The last run()'s outputs: int32 [ncb·nc][rowStride]. */
  output(): Int32Array {
    return new Int32Array(this.memory.buffer, this.outPtr, this.ncb * this.nc * this.rowStride);
  }

  /**
   * Every tile's sums of group g for position blocks [pb0, pb0 + nb), nb ≤ chunk:
   * int32 [nb][ncb][nTiles][nc channels][blockPositions].
   */
  runTiles(g: number, gOff: number, pb0: number, nb: number): Int32Array {
    const bp = this.blockPositions;
    const fn = this.fns[`tiles${this.nc}x${bp / 4}`];
    const rows = this.ncb * this.nc;
    fn(this.inPtr, this.posPtr, this.positions, gOff, this.lanePtr, this.kp2, this.wPtr + g * rows * this.kp2 * 4, 0, this.tilesPtr, this.nTiles, this.ncb, this.outPtr, 0, this.xPtr, pb0, pb0 + nb);
    return new Int32Array(this.memory.buffer, this.outPtr, nb * rows * this.nTiles * bp);
  }
}
