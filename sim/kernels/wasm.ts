/**
 * The SIMD kernel's inner products in WebAssembly: `i32x4.dot_i16x8_s` multiplies 8 int16 pairs
 * and adds them pairwise into 4 int32 lanes — 8 MACs per instruction, one multiply µop
 * (`pmaddwd`) on x64.
 *
 * Exact only under conditions the caller (prepared.ts) establishes from the bound analysis:
 * every operand fits int16 and every running sum (and tile sum) fits int32 — then no int32 add
 * wraps and the result equals the Float64 path bit for bit (the property tests run both).
 *
 * Why not relaxed SIMD's int8 dot product (`i32x4.relaxed_dot_i8x16_i7x16_add_s`): it is exact
 * only with its second operand in [0, 127], so 8-bit × 8-bit products need two of them per 16
 * MACs (one operand split in two 7-bit halves) — on x64 without AVX-VNNI each lowers to
 * pmaddubsw + pmaddwd + paddd, i.e. twice the multiply µops of dot_i16x8 for the same MACs; and
 * Node 20's V8 (11.3, behind --experimental-wasm-relaxed-simd) miscompiles the add form: it
 * returns 2·dot and ignores the addend (bench/kernels.ts probes and records both facts).
 *
 * Layout — positions in lanes, weights broadcast: a vector of the gathered input holds 4 output
 * positions × 2 consecutive arrival indices (k, k+1) of each; one weight pair (w_c[k], w_c[k+1])
 * is splatted over the 4 positions, and dot_i16x8 leaves each position's partial sum in its own
 * int32 lane. So no horizontal sums, a channel's outputs are stored as contiguous vectors, and
 * a tile boundary is just a point in the k loop.
 *
 * Register block: 4 channels × 8 positions (2 vectors) = 8 accumulators; per k-pair 2 input
 * loads + 4 weight splats feed 8 dot products. Loop order: position blocks outside, then channel
 * blocks, then tiles and k-pairs — a block's gathered input (kp2·32 bytes) is written once and
 * stays in L1 while the layer's weights stream from L2; a fully connected layer with a batch ≤ 8
 * reads each weight once. The gather (im2col of one block) is fused in front: where the block's
 * 8 receptive fields are consecutive in memory (stride-1 convolutions, within an output row) a
 * lane pair is two vector loads and two shuffles, else scalar loads.
 *
 * The module is assembled here, byte by byte (no toolchain), with nets/wasm-binary.ts.
 */

import { buildModule, Code, F64, I32, Op, Simd, V128, VOID, type Func } from '../../nets/wasm-binary.js';
import { rqFixedFunc, rqFunc, writeFixedChannels, type FixedChannels, type RqFn } from '../../qnet/requant-wasm.js';
import { dwFunc } from './wasm-depthwise.js';
import { epiFunc, epiVecFunc } from './wasm-epilogue.js';
import { fillFunc } from './wasm-fill.js';
import { poolFunc, scatterFunc } from './wasm-out.js';
import { invariant } from '../../nets/errors.js';
import type { OperandLayout } from './geometry.js';

/** opcodes beyond nets/wasm-binary.ts's table (kept here: the table belongs to nets/) */
const I32_AND = 0x71;

/** interleave the low (high) 4 int16 lanes of two vectors: [a0 b0 a1 b1 a2 b2 a3 b3] */
const INTERLEAVE_LO = [0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23];
const INTERLEAVE_HI = [8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31];

/** channels per register block: 4, or 1 where groups have fewer than 4 (depthwise) */
type Nc = 1 | 4;
/** positions per block: 8 (2 vectors), or 4 for runs of at most 4 positions (batch-1 gemm) */
type Np = 1 | 2;

/**
 * conv(xin, pos, P, gOff, lane, kp2, w, init, tiles, nT, ncb, out, oStride, xbuf, pb0, pb1) → max |running sum|
 *   xin    int16 padded operand input
 *   pos    int32 [P] receptive-field origin of each position (gOff added: the group's input)
 *   lane   int32 [kp2·2] offset of each padded lane from the origin (zero-weight lanes: any valid one)
 *   w      int16 [ncb][kp2][4 ch][2] the group's weights; init int32 [ncb·4] starting values
 *   tiles  int32 [nT] end of each tile in k-pairs
 *   xbuf   scratch: one block's im2col, int16 [kp2][4·np positions][2]
 * Position blocks [pb0, pb1); positions past P repeat the last one.
 * Proved form: out int32 [ncb·4][oStride/4] (channel rows, positions contiguous), accumulators
 * start at init, the result is the largest |value| a running sum held at a tile end.
 * perTile form: every tile's sums, out int32 [pb − pb0][ncb][nT][4 ch][4·np], init unused, result 0.
 */
function convFunc(perTile: boolean, NC: Nc, np: Np): Func {
  const BP = 4 * np; // positions per block
  const XROW = 4 * BP; // xbuf bytes per k-pair
  // params
  const XIN = 0, POS = 1, P = 2, GOFF = 3, LANE = 4, KP2 = 5, W = 6, INIT = 7, TILES = 8, NT = 9, NCB = 10, OUT = 11, OSTRIDE = 12, XBUF = 13, PB0 = 14, PB1 = 15;
  // i32 locals
  const PB = 16, CB = 17, T = 18, WP = 19, WEND = 20, XP = 21, J = 22, CONTIG = 23, TMP = 24, OB = 25, WROW = 26, O0 = 27, O1 = 28;
  const B0 = 29; // BP byte addresses of the block's receptive fields: 29 … 29+BP−1
  const NI32 = B0 + BP - 16;
  // v128 locals
  const V0 = B0 + BP;
  const ACC = V0; // acc[ci·np + v]
  const XV = ACC + NC * np;
  const WV = XV + np;
  const MAXV = WV + 1;
  const VA = MAXV + 1;
  const VB = VA + 1;
  const NV128 = VB + 1 - V0;

  const c = new Code();
  c.simd(Simd.Const).op(...new Array<number>(16).fill(0)).set(MAXV);
  c.get(PB0).set(PB);
  c.op(Op.Block, VOID);
  c.get(PB).get(PB1).op(Op.I32GeS).op(Op.BrIf, 0);
  c.op(Op.Loop, VOID); // position blocks
  {
    // --- gather: the block's BP receptive fields, b_i = 2·(pos[min(pb·BP + i, P − 1)] + gOff) + xin
    for (let i = 0; i < BP; i++) {
      c.get(PB).i32(BP).op(Op.I32Mul).i32(i).op(Op.I32Add).set(TMP);
      c.get(TMP).get(P).i32(1).op(Op.I32Sub).get(TMP).get(P).op(Op.I32LtU).op(Op.Select).set(TMP);
      c.get(XIN).get(POS).get(TMP).i32(2).op(Op.I32Shl).op(Op.I32Add).op(Op.I32Load).mem(2, 0).get(GOFF).op(Op.I32Add).i32(1).op(Op.I32Shl).op(Op.I32Add).set(B0 + i);
    }
    c.get(XBUF).set(XP);
    c.get(LANE).set(J);
    // WEND here: the end of the lane table
    c.get(LANE).get(KP2).i32(8).op(Op.I32Mul).op(Op.I32Add).set(WEND);
    if (np === 2) {
      // consecutive receptive fields (b_i = b_0 + 2i): vector loads of 8 positions per lane
      c.i32(1);
      for (let i = 1; i < BP; i++) c.get(B0 + i).get(B0).i32(2 * i).op(Op.I32Add).op(Op.I32Eq).op(I32_AND);
      c.set(CONTIG);
    } else {
      c.i32(0).set(CONTIG);
    }
    c.get(CONTIG);
    c.op(Op.If, VOID);
    {
      c.op(Op.Loop, VOID);
      {
        c.get(J).op(Op.I32Load).mem(2, 0).i32(1).op(Op.I32Shl).set(O0);
        c.get(J).op(Op.I32Load).mem(2, 4).i32(1).op(Op.I32Shl).set(O1);
        c.get(B0).get(O0).op(Op.I32Add).simd(Simd.Load).mem(1, 0).set(VA);
        c.get(B0).get(O1).op(Op.I32Add).simd(Simd.Load).mem(1, 0).set(VB);
        c.get(XP).get(VA).get(VB).simd(Simd.Shuffle).op(...INTERLEAVE_LO).simd(Simd.Store).mem(4, 0);
        c.get(XP).get(VA).get(VB).simd(Simd.Shuffle).op(...INTERLEAVE_HI).simd(Simd.Store).mem(4, 16);
        c.get(XP).i32(XROW).op(Op.I32Add).set(XP);
        c.get(J).i32(8).op(Op.I32Add).tee(J).get(WEND).op(Op.I32LtU).op(Op.BrIf, 0);
      }
      c.op(Op.End);
    }
    c.op(Op.Else);
    {
      c.op(Op.Loop, VOID);
      {
        c.get(J).op(Op.I32Load).mem(2, 0).i32(1).op(Op.I32Shl).set(O0);
        c.get(J).op(Op.I32Load).mem(2, 4).i32(1).op(Op.I32Shl).set(O1);
        for (let i = 0; i < BP; i++) {
          c.get(XP).get(B0 + i).get(O0).op(Op.I32Add).op(Op.I32Load16S).mem(1, 0).op(Op.I32Store16).mem(1, 4 * i);
          c.get(XP).get(B0 + i).get(O1).op(Op.I32Add).op(Op.I32Load16S).mem(1, 0).op(Op.I32Store16).mem(1, 4 * i + 2);
        }
        c.get(XP).i32(XROW).op(Op.I32Add).set(XP);
        c.get(J).i32(8).op(Op.I32Add).tee(J).get(WEND).op(Op.I32LtU).op(Op.BrIf, 0);
      }
      c.op(Op.End);
    }
    c.op(Op.End);

    // --- channel blocks over the gathered block
    c.i32(0).set(CB);
    c.op(Op.Loop, VOID);
    {
      // wRow = w + cb·kp2·4·NC
      c.get(W).get(CB).get(KP2).op(Op.I32Mul).i32(4 * NC).op(Op.I32Mul).op(Op.I32Add).tee(WROW).set(WP);
      c.get(XBUF).set(XP);
      for (let ci = 0; ci < NC; ci++) {
        if (perTile) {
          for (let v = 0; v < np; v++) c.zeroV(ACC + ci * np + v);
        } else {
          c.get(INIT).get(CB).i32(4 * NC).op(Op.I32Mul).op(Op.I32Add).op(Op.I32Load).mem(2, 4 * ci).simd(Simd.I32x4Splat).set(ACC + ci * np);
          for (let v = 1; v < np; v++) c.get(ACC + ci * np).set(ACC + ci * np + v);
        }
      }
      if (perTile) {
        // ob = out + ((pb − pb0)·ncb + cb)·nT·NC·XROW
        c.get(OUT).get(PB).get(PB0).op(Op.I32Sub).get(NCB).op(Op.I32Mul).get(CB).op(Op.I32Add).get(NT).op(Op.I32Mul).i32(NC * XROW).op(Op.I32Mul).op(Op.I32Add).set(OB);
      }
      c.i32(0).set(T);
      c.op(Op.Loop, VOID); // tiles
      {
        c.get(WROW).get(TILES).get(T).i32(2).op(Op.I32Shl).op(Op.I32Add).op(Op.I32Load).mem(2, 0).i32(4 * NC).op(Op.I32Mul).op(Op.I32Add).set(WEND);
        c.op(Op.Loop, VOID); // k-pairs of the tile (tiles are never empty)
        {
          for (let v = 0; v < np; v++) c.get(XP).simd(Simd.Load).mem(4, 16 * v).set(XV + v);
          for (let ci = 0; ci < NC; ci++) {
            c.get(WP).simd(Simd.Load32Splat).mem(2, 4 * ci).set(WV);
            for (let v = 0; v < np; v++) {
              const a = ACC + ci * np + v;
              c.get(a).get(XV + v).get(WV).simd(Simd.I32x4DotI16x8S).simd(Simd.I32x4Add).set(a);
            }
          }
          c.get(XP).i32(XROW).op(Op.I32Add).set(XP);
          c.get(WP).i32(4 * NC).op(Op.I32Add).tee(WP).get(WEND).op(Op.I32LtU).op(Op.BrIf, 0);
        }
        c.op(Op.End);
        if (perTile) {
          // out[…][cb][t][ci][·] = acc_ci; the next tile starts from 0
          for (let ci = 0; ci < NC; ci++) {
            for (let v = 0; v < np; v++) {
              c.get(OB).get(ACC + ci * np + v).simd(Simd.Store).mem(4, ci * XROW + 16 * v);
              c.zeroV(ACC + ci * np + v);
            }
          }
          c.get(OB).i32(NC * XROW).op(Op.I32Add).set(OB);
        } else {
          // running sums at the tile end: maxv = max_u(maxv, |acc|)
          for (let i = 0; i < NC * np; i++) c.get(MAXV).get(ACC + i).simd(Simd.I32x4Abs).simd(Simd.I32x4MaxU).set(MAXV);
        }
        c.countUp(T, NT, Op.I32LtU);
      }
      c.op(Op.End);
      if (!perTile) {
        // out row (cb·NC + ci), positions pb·BP …: ob = out + cb·NC·oStride + pb·BP·4
        c.get(OUT).get(CB).i32(NC).op(Op.I32Mul).get(OSTRIDE).op(Op.I32Mul).op(Op.I32Add).get(PB).i32(4 * BP).op(Op.I32Mul).op(Op.I32Add).set(OB);
        for (let ci = 0; ci < NC; ci++) {
          for (let v = 0; v < np; v++) c.get(OB).get(ACC + ci * np + v).simd(Simd.Store).mem(4, 16 * v);
          if (ci < NC - 1) c.get(OB).get(OSTRIDE).op(Op.I32Add).set(OB);
        }
      }
      c.countUp(CB, NCB, Op.I32LtU);
    }
    c.op(Op.End);
    c.countUp(PB, PB1, Op.I32LtS);
  }
  c.op(Op.End);
  c.op(Op.End);
  // max over the 4 lanes of maxv (unsigned: |−2^31| never occurs, the caller bounds the sums)
  c.maxLaneU(MAXV, TMP, O0);
  c.get(TMP);
  c.op(Op.End);
  return {
    name: `${perTile ? 'tiles' : 'conv'}${NC}x${np}`,
    params: 16,
    results: [I32],
    locals: [...new Array<number>(NI32).fill(I32), ...new Array<number>(NV128).fill(V128)],
    body: c,
  };
}

/** Module (nets/wasm-binary.ts): imported memory e.m; exports conv{nc}x{np}, tiles{nc}x{np}, fill, epi, epiv, rq, rqx, dw, pool2, scatter, dw10. */
function kernelModule(): Uint8Array<ArrayBuffer> {
  const fns: Func[] = [];
  for (const perTile of [false, true]) for (const nc of [1, 4] as const) for (const np of [1, 2] as const) fns.push(convFunc(perTile, nc, np));
  fns.push(fillFunc(), epiFunc(), epiVecFunc(), rqFunc('rq', 'i32'), rqFixedFunc('rqx', 'i32'), dwFunc(), poolFunc(), scatterFunc(), dwFunc(DW_LANES));
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
  private readonly memory: WebAssembly.Memory;
  private readonly fns: Record<string, ConvFn>;
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
  private readonly dynPtr: number;
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
  /** the NCHW codes scatter() writes, after the run's other regions (reserveCodes) */
  private codesPtr = 0;
  /** row stride (int32) of the last run() / runRange() / depthwise() outputs */
  private runStride = 0;

  /**
   * null where WebAssembly SIMD is unavailable, or where padding each tile to whole lane pairs
   * would more than double the work (tiles of one index). `wSeq` [nOut][k] in arrival order,
   * `stepEnd` the tiles' ends, `kOff` each arrival index's input offset.
   */
  static create(wSeq: Float64Array, nOut: number, k: number, group: number, stepEnd: Int32Array, init: Float64Array, kOff: Int32Array): DotLayer | null {
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
    return new DotLayer(mod, wSeq, nOut, k, group, tileEnds, init, kOff, Int32Array.from(laneSrc));
  }

  private constructor(mod: WebAssembly.Module, wSeq: Float64Array, nOut: number, k: number, group: number, tileEnds: Int32Array, init: Float64Array, kOff: Int32Array, laneSrc: Int32Array) {
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
    this.initPtr = align(rows * kp * 2);
    this.tilesPtr = align(this.initPtr + rows * 4);
    this.lanePtr = align(this.tilesPtr + this.nTiles * 4);
    this.resPtr = align(this.lanePtr + kp * 4);
    this.nOut = nOut;
    // res: the epilogues' scalars (0 … 52) and epiv's lane scratch (64 … 80)
    this.rqPtr = align(this.resPtr + 96);
    this.rqxPtr = this.rqPtr + 8 * nOut + 4;
    this.dynPtr = align(this.rqxPtr + 16 * nOut + 4);
    this.memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(this.dynPtr / PAGE)) });
    const inst = new WebAssembly.Instance(mod, { e: { m: this.memory } });
    this.fns = inst.exports as unknown as Record<string, ConvFn>;
    const buf = this.memory.buffer;
    // weights: [g][cb][kp2][4 ch][2]; channels past the group's end stay 0
    const w16 = new Int16Array(buf, 0, rows * kp);
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
    this.posPtr = this.dynPtr;
    // 16 bytes of slack after the input: the gather's vector loads read 8 lanes from a valid one
    this.inPtr = align(this.posPtr + positions * 4);
    this.xPtr = align(this.inPtr + inputLength * 2 + 16);
    this.outPtr = align(this.xPtr + this.kp2 * bp * 4);
    this.srcPtr = align(this.outPtr + (perTile ? this.chunk * tileBlock : this.ncb * this.nc * nPB * bp * 4));
    this.epiPtr = align(this.srcPtr + srcLength * 4);
    // whole blocks: epiv stores whole vectors
    this.flagPtr = align(this.epiPtr + (perTile ? Math.ceil(positions / 8) * 8 * 4 : 0));
    this.flagsReady = false;
    const end = this.flagPtr + nPB;
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    return { posBase: new Int32Array(this.memory.buffer, this.posPtr, positions), input: new Int16Array(this.memory.buffer, this.inPtr, inputLength) };
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
    return fn(this.inPtr, this.posPtr, this.positions, gOff, this.lanePtr, this.kp2, g * rows * this.kp2 * 4, this.initPtr + g * rows * 4, this.tilesPtr, this.nTiles, this.ncb, this.outPtr - pb0 * bp * 4, this.runStride * 4, this.xPtr, pb0, pb1) >>> 0;
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
    return dw(this.inPtr, this.posPtr, P, gOff, this.lanePtr, 2 * this.kp2, g * this.kp2 * 4, this.initPtr + g * 4, this.outPtr, this.flagPtr) >>> 0;
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

  /** Room for a run's NCHW codes, `length` int32, behind its other regions (after begin()). */
  reserveCodes(length: number): void {
    this.codesPtr = align(this.flagPtr + Math.ceil(this.positions / this.blockPositions));
    const end = this.codesPtr + length * 4;
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
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
    fn(this.inPtr, this.posPtr, this.positions, gOff, this.lanePtr, this.kp2, g * rows * this.kp2 * 4, 0, this.tilesPtr, this.nTiles, this.ncb, this.outPtr, 0, this.xPtr, pb0, pb0 + nb);
    return new Int32Array(this.memory.buffer, this.outPtr, nb * rows * this.nTiles * bp);
  }
}
