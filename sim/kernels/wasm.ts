/**
 * The proved fast path's inner product in WebAssembly SIMD: `i32x4.dot_i16x8_s` multiplies
 * 8 int16 pairs and adds them pairwise into 4 int32 lanes — 8 MACs per instruction.
 *
 * Exact only under conditions the caller (linear.ts) establishes from the bound analysis:
 * every operand fits int16 and every running sum (and tile sum) fits int32 — then no int32 add
 * wraps and the result equals the Float64 path bit for bit (the property tests run both).
 *
 * The module is assembled here, byte by byte (no toolchain): one function
 *
 *   dot(w, x, out, init, tileEnds, nTiles, kp8, nC, nPB) → max |running sum|
 *
 * over one layer memory holding
 *   w        int16 [nC][kp8·8]            weights in arrival order, each tile padded to 8 lanes with 0
 *   x        int16 [nPB][kp8][8 pos][8]   im2col of 8 positions per block, lanes interleaved by position
 *                                        so the 8 loads per weight vector use constant offsets
 *   init     int32 [nC]                   starting values
 *   tileEnds int32 [nTiles]               end of each tile, in 8-lane groups
 *   out      int32 [nPB][nC][8]
 * and returns the largest |value| a running sum held at a tile boundary.
 *
 * Loop order: position blocks outside, channels inside — a block's im2col rows (8·Kp·2 bytes)
 * stay in L1 while the weights stream from L2, and a fully connected layer with a batch ≤ 8
 * reads each weight exactly once.
 */

import { buildModule, Code, I32, Op, Simd, V128, VOID, type Func } from '../../nets/wasm-binary.js';

/**
 * dot(w, x, out, init, tileEnds, nTiles, kp8, nC, nPB) → max |running sum| (see the file comment).
 * With `perTile`, the same loops write every tile's sums instead — out int32 [nPB][nC][nTiles][8],
 * `init` unused, returns 0 — for the checked path, which applies the accumulator in JS.
 */
function dotFunc(perTile: boolean): Func {
  // params
  const W = 0;
  const X = 1;
  const OUT = 2;
  const INIT = 3;
  const TILES = 4;
  const NT = 5;
  const KP8 = 6;
  const NC = 7;
  const NPB = 8;
  // i32 locals
  const PB = 9;
  const C = 10;
  const T = 11;
  const WP = 12;
  const WEND = 13;
  const WROW = 14;
  const XBASE = 15;
  const M = 16;
  const TMP = 17;
  const XP = 18;
  const S0 = 19; // s0…s7: 19…26
  // v128 locals
  const A0 = 27; // acc0…acc7: 27…34
  const WV = 35;

  const c = new Code();
  c.i32(0).set(M);
  c.i32(0).set(PB);
  c.op(Op.Loop, VOID); // position blocks
  {
    // xBase = x + pb·kp8·128
    c.get(X).get(PB).get(KP8).op(Op.I32Mul).i32(128).op(Op.I32Mul).op(Op.I32Add).set(XBASE);
    c.i32(0).set(C);
    c.op(Op.Loop, VOID); // channels
    {
      c.get(W).get(C).get(KP8).op(Op.I32Mul).i32(16).op(Op.I32Mul).op(Op.I32Add).tee(WROW).set(WP);
      c.get(XBASE).set(XP);
      if (!perTile) {
        // s_k = init[c]
        c.get(INIT).get(C).i32(4).op(Op.I32Mul).op(Op.I32Add).op(Op.I32Load).mem(2, 0).set(TMP);
        for (let k = 0; k < 8; k++) c.get(TMP).set(S0 + k);
      }
      c.i32(0).set(T);
      c.op(Op.Loop, VOID); // tiles
      {
        c.get(WROW).get(TILES).get(T).i32(4).op(Op.I32Mul).op(Op.I32Add).op(Op.I32Load).mem(2, 0).i32(16).op(Op.I32Mul).op(Op.I32Add).set(WEND);
        for (let k = 0; k < 8; k++) c.zeroV(A0 + k);
        c.op(Op.Loop, VOID); // 8-lane groups of the tile (tiles are never empty)
        {
          c.get(WP).simd(Simd.Load).mem(4, 0).set(WV);
          for (let k = 0; k < 8; k++) {
            c.get(A0 + k);
            c.get(WV);
            c.get(XP).simd(Simd.Load).mem(4, 16 * k);
            c.simd(Simd.I32x4DotI16x8S);
            c.simd(Simd.I32x4Add);
            c.set(A0 + k);
          }
          c.get(XP).i32(128).op(Op.I32Add).set(XP);
          c.get(WP).i32(16).op(Op.I32Add).tee(WP).get(WEND).op(Op.I32LtU).op(Op.BrIf, 0);
        }
        c.op(Op.End);
        if (perTile) {
          // out[…][t][k] = Σ lanes(acc_k); out advances one tile
          for (let k = 0; k < 8; k++) {
            c.get(OUT);
            c.get(A0 + k).simd(Simd.I32x4ExtractLane).op(0);
            for (let lane = 1; lane < 4; lane++) c.get(A0 + k).simd(Simd.I32x4ExtractLane).op(lane).op(Op.I32Add);
            c.op(Op.I32Store).mem(2, 4 * k);
          }
          c.get(OUT).i32(32).op(Op.I32Add).set(OUT);
        } else {
          // s_k += Σ lanes(acc_k); m = max(m, |s_k|)
          for (let k = 0; k < 8; k++) {
            c.get(S0 + k);
            for (let lane = 0; lane < 4; lane++) {
              c.get(A0 + k).simd(Simd.I32x4ExtractLane).op(lane);
              c.op(Op.I32Add);
            }
            c.tee(S0 + k);
            // |v| = (v ^ (v >> 31)) − (v >> 31): no running sum reaches −2^31 (bounded by the caller)
            c.get(S0 + k).i32(31).op(Op.I32ShrS).op(Op.I32Xor).get(S0 + k).i32(31).op(Op.I32ShrS).op(Op.I32Sub).set(TMP);
            c.get(TMP).get(M).get(TMP).get(M).op(Op.I32GtU).op(Op.Select).set(M);
          }
        }
        c.countUp(T, NT, Op.I32LtU);
      }
      c.op(Op.End);
      if (!perTile) {
        // out[(pb·nC + c)·8 + k] = s_k
        c.get(OUT).get(PB).get(NC).op(Op.I32Mul).get(C).op(Op.I32Add).i32(32).op(Op.I32Mul).op(Op.I32Add).set(TMP);
        for (let k = 0; k < 8; k++) c.get(TMP).get(S0 + k).op(Op.I32Store).mem(2, 4 * k);
      }
      c.countUp(C, NC, Op.I32LtU);
    }
    c.op(Op.End);
    c.countUp(PB, NPB, Op.I32LtU);
  }
  c.op(Op.End);
  c.get(M);
  c.op(Op.End);
  return { name: perTile ? 'tiles' : 'dot', params: 9, results: [I32], locals: [...new Array<number>(18).fill(I32), ...new Array<number>(9).fill(V128)], body: c };
}

/**
 * gather(xin, posBase, P, gOff, laneOff, kp8, dst): the im2col of dot's x operand.
 *   xin      int16 padded input (the operand values)
 *   posBase  int32 [P] receptive-field origin of each position; gOff is added (group)
 *   laneOff  int32 [kp8·8] offset of each padded lane from the origin (zero lanes: any valid one)
 *   dst      int16 [⌈P/8⌉][kp8][8][8]; positions past P repeat the last one
 */
function gatherFunc(): Func {
  const XIN = 0;
  const POS = 1;
  const P = 2;
  const GOFF = 3;
  const LANE = 4;
  const KP8 = 5;
  const DST = 6;
  const PB = 7;
  const NPB = 8;
  const G8 = 9;
  const IDX = 10;
  const XB0 = 11; // byte address of each of the block's 8 receptive fields: 11…18
  const LB0 = 19; // byte offset of each of the group's 8 lanes: 19…26
  const c = new Code();
  // nPB = (P + 7) >> 3
  c.get(P).i32(7).op(Op.I32Add).i32(3).op(Op.I32ShrU).set(NPB);
  c.i32(0).set(PB);
  c.op(Op.Loop, VOID);
  {
    for (let i = 0; i < 8; i++) {
      // idx = min(pb·8 + i, P − 1)
      c.get(PB).i32(3).op(Op.I32Shl).i32(i).op(Op.I32Add).set(IDX);
      c.get(IDX).get(P).i32(1).op(Op.I32Sub).get(IDX).get(P).op(Op.I32LtU).op(Op.Select).set(IDX);
      c.get(XIN).get(POS).get(IDX).i32(2).op(Op.I32Shl).op(Op.I32Add).op(Op.I32Load).mem(2, 0).get(GOFF).op(Op.I32Add).i32(1).op(Op.I32Shl).op(Op.I32Add).set(XB0 + i);
    }
    c.i32(0).set(G8);
    c.op(Op.Loop, VOID);
    {
      for (let l = 0; l < 8; l++) {
        c.get(LANE).get(G8).i32(5).op(Op.I32Shl).op(Op.I32Add).op(Op.I32Load).mem(2, 4 * l).i32(1).op(Op.I32Shl).set(LB0 + l);
      }
      for (let i = 0; i < 8; i++) {
        for (let l = 0; l < 8; l++) {
          c.get(DST);
          c.get(XB0 + i).get(LB0 + l).op(Op.I32Add).op(Op.I32Load16S).mem(1, 0);
          c.op(Op.I32Store16).mem(1, 2 * (i * 8 + l));
        }
      }
      c.get(DST).i32(128).op(Op.I32Add).set(DST);
      c.countUp(G8, KP8, Op.I32LtU);
    }
    c.op(Op.End);
    c.countUp(PB, NPB, Op.I32LtU);
  }
  c.op(Op.End);
  c.op(Op.End);
  return { name: 'gather', params: 7, locals: new Array<number>(20).fill(I32), body: c };
}

/** Module (nets/wasm-binary.ts): imported memory e.m; exports dot, gather, tiles. */
function kernelModule(): Uint8Array<ArrayBuffer> {
  return buildModule([dotFunc(false), gatherFunc(), dotFunc(true)]);
}

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

type DotFn = (w: number, x: number, out: number, init: number, tiles: number, nTiles: number, kp8: number, nC: number, nPB: number) => number;
type GatherFn = (xin: number, posBase: number, p: number, gOff: number, laneOff: number, kp8: number, dst: number) => void;

const PAGE = 65536;

function align(n: number): number {
  return (n + 63) & ~63;
}

/**
 * One layer's WebAssembly memory and kernels. Static part: weights, starting values, tile ends,
 * lane offsets. Per run, behind it: positions' origins, the padded int16 input, its im2col, the
 * outputs — grown as a run needs.
 */
export class DotLayer {
  readonly kp8: number;
  private readonly nTiles: number;
  private readonly memory: WebAssembly.Memory;
  private readonly dot: DotFn;
  private readonly tilesFn: DotFn;
  private readonly gatherFn: GatherFn;
  /** position blocks per tiles() call (bounds the per-tile output buffer) */
  chunk = 0;
  private readonly initPtr: number;
  private readonly tilesPtr: number;
  private readonly lanePtr: number;
  private readonly dynPtr: number;
  private posPtr = 0;
  private inPtr = 0;
  private xPtr = 0;
  private outPtr = 0;
  private positions = 0;

  /**
   * null where WebAssembly SIMD is unavailable, or where padding each tile to 8 lanes would more
   * than double the work (tiny tiles).
   */
  static create(wSeq: Float64Array, nOut: number, k: number, stepEnd: Int32Array, init: Float64Array, kOff: Int32Array): DotLayer | null {
    const mod = kernelWasm();
    if (!mod) return null;
    // each tile rounded up to whole 8-lane groups; a padded lane has weight 0
    const laneSrc: number[] = [];
    const tileEnds = new Int32Array(stepEnd.length);
    let j = 0;
    for (let s = 0; s < stepEnd.length; s++) {
      for (; j < stepEnd[s]; j++) laneSrc.push(j);
      while (laneSrc.length % 8 !== 0) laneSrc.push(-1);
      tileEnds[s] = laneSrc.length / 8;
    }
    if (laneSrc.length > 2 * k) return null;
    return new DotLayer(mod, wSeq, nOut, k, tileEnds, init, kOff, Int32Array.from(laneSrc));
  }

  private constructor(mod: WebAssembly.Module, wSeq: Float64Array, nOut: number, k: number, tileEnds: Int32Array, init: Float64Array, kOff: Int32Array, laneSrc: Int32Array) {
    const kp = laneSrc.length;
    this.kp8 = kp / 8;
    this.nTiles = tileEnds.length;
    this.initPtr = align(nOut * kp * 2);
    this.tilesPtr = align(this.initPtr + nOut * 4);
    this.lanePtr = align(this.tilesPtr + this.nTiles * 4);
    this.dynPtr = align(this.lanePtr + kp * 4);
    this.memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(this.dynPtr / PAGE)) });
    const inst = new WebAssembly.Instance(mod, { e: { m: this.memory } });
    this.dot = inst.exports.dot as DotFn;
    this.gatherFn = inst.exports.gather as GatherFn;
    this.tilesFn = inst.exports.tiles as DotFn;
    const buf = this.memory.buffer;
    const w16 = new Int16Array(buf, 0, nOut * kp);
    for (let c = 0; c < nOut; c++) {
      const src = c * k;
      const dst = c * kp;
      for (let l = 0; l < kp; l++) {
        const a = laneSrc[l];
        w16[dst + l] = a < 0 ? 0 : wSeq[src + a];
      }
    }
    new Int32Array(buf, this.initPtr, nOut).set(init);
    new Int32Array(buf, this.tilesPtr, this.nTiles).set(tileEnds);
    const lanes = new Int32Array(buf, this.lanePtr, kp);
    for (let l = 0; l < kp; l++) lanes[l] = laneSrc[l] < 0 ? 0 : kOff[laneSrc[l]];
  }

  /**
   * Lays out memory for a run over `positions` outputs of up to `nC` channels at a time, and
   * returns the two things the caller fills: each position's receptive-field origin (int32) and
   * the padded operand input (int16, `inputLength` elements). `perTile` sizes the output for
   * tiles() — in chunks of position blocks, so that it stays near 4 MiB.
   */
  begin(inputLength: number, positions: number, nC: number, perTile: boolean): { posBase: Int32Array; input: Int16Array } {
    const nPB = Math.ceil(positions / 8);
    this.positions = positions;
    this.chunk = perTile ? Math.max(1, Math.min(nPB, Math.floor((4 << 20) / (nC * this.nTiles * 32)))) : nPB;
    this.posPtr = this.dynPtr;
    this.inPtr = align(this.posPtr + positions * 4);
    this.xPtr = align(this.inPtr + inputLength * 2);
    this.outPtr = align(this.xPtr + nPB * this.kp8 * 128);
    const end = this.outPtr + this.chunk * nC * (perTile ? this.nTiles : 1) * 32;
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    return { posBase: new Int32Array(this.memory.buffer, this.posPtr, positions), input: new Int16Array(this.memory.buffer, this.inPtr, inputLength) };
  }

  /** im2col of one group's receptive fields (input offset gOff). */
  gather(gOff: number): void {
    this.gatherFn(this.inPtr, this.posPtr, this.positions, gOff, this.lanePtr, this.kp8, this.xPtr);
  }

  /** Channels [c0, c0 + nC) over the gathered positions; returns max |running sum| at tile ends. */
  run(c0: number, nC: number): number {
    const nPB = Math.ceil(this.positions / 8);
    return this.dot(c0 * this.kp8 * 16, this.xPtr, this.outPtr, this.initPtr + c0 * 4, this.tilesPtr, this.nTiles, this.kp8, nC, nPB);
  }

  /**
   * Every tile's sums for channels [c0, c0 + nC) and position blocks [pb0, pb0 + nPB), nPB ≤ chunk:
   * int32 [nPB][nC][nTiles][8].
   */
  runTiles(c0: number, nC: number, pb0: number, nPB: number): Int32Array {
    this.tilesFn(c0 * this.kp8 * 16, this.xPtr + pb0 * this.kp8 * 128, this.outPtr, 0, this.tilesPtr, this.nTiles, this.kp8, nC, nPB);
    return new Int32Array(this.memory.buffer, this.outPtr, nPB * nC * this.nTiles * 8);
  }

  /** The last run's outputs: int32 [⌈positions/8⌉][nC][8]. */
  output(nC: number): Int32Array {
    return new Int32Array(this.memory.buffer, this.outPtr, Math.ceil(this.positions / 8) * nC * 8);
  }
}
