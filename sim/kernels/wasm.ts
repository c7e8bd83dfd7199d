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

import { section, sleb, uleb, WASM_HEADER } from '../../nets/wasm-binary.js';

// --- instruction emitter (encodings in nets/wasm-binary.ts) -------------------------------------

const I32 = 0x7f;
const V128 = 0x7b;
const EMPTY = 0x40;

/** Instruction emitter for one function body. */
class Code {
  readonly b: number[] = [];
  get(i: number): this {
    this.b.push(0x20);
    uleb(i, this.b);
    return this;
  }
  set(i: number): this {
    this.b.push(0x21);
    uleb(i, this.b);
    return this;
  }
  tee(i: number): this {
    this.b.push(0x22);
    uleb(i, this.b);
    return this;
  }
  i32(n: number): this {
    this.b.push(0x41);
    sleb(n, this.b);
    return this;
  }
  op(...codes: number[]): this {
    this.b.push(...codes);
    return this;
  }
  /** SIMD instruction: 0xfd prefix, LEB opcode */
  simd(code: number): this {
    this.b.push(0xfd);
    uleb(code, this.b);
    return this;
  }
  mem(align: number, offset: number): this {
    uleb(align, this.b);
    uleb(offset, this.b);
    return this;
  }
}

const OP = {
  loop: 0x03,
  end: 0x0b,
  brIf: 0x0d,
  select: 0x1b,
  i32Load: 0x28,
  i32Store: 0x36,
  i32LtU: 0x49,
  i32Load16S: 0x2e,
  i32Store16: 0x3b,
  i32Shl: 0x74,
  i32ShrU: 0x76,
  i32GtU: 0x4b,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32Xor: 0x73,
  i32ShrS: 0x75,
} as const;

const SIMD = { load: 0x00, const: 0x0c, extractLane: 0x1b, i32x4Add: 0xae, dot: 0xba } as const;

/** A function: its parameter count (all i32), i32 and v128 locals after them, and its body. */
interface Func {
  params: number;
  i32Locals: number;
  v128Locals: number;
  body: Code;
}

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
  c.op(OP.loop, EMPTY); // position blocks
  {
    // xBase = x + pb·kp8·128
    c.get(X).get(PB).get(KP8).op(OP.i32Mul).i32(128).op(OP.i32Mul).op(OP.i32Add).set(XBASE);
    c.i32(0).set(C);
    c.op(OP.loop, EMPTY); // channels
    {
      c.get(W).get(C).get(KP8).op(OP.i32Mul).i32(16).op(OP.i32Mul).op(OP.i32Add).tee(WROW).set(WP);
      c.get(XBASE).set(XP);
      if (!perTile) {
        // s_k = init[c]
        c.get(INIT).get(C).i32(4).op(OP.i32Mul).op(OP.i32Add).op(OP.i32Load).mem(2, 0).set(TMP);
        for (let k = 0; k < 8; k++) c.get(TMP).set(S0 + k);
      }
      c.i32(0).set(T);
      c.op(OP.loop, EMPTY); // tiles
      {
        c.get(WROW).get(TILES).get(T).i32(4).op(OP.i32Mul).op(OP.i32Add).op(OP.i32Load).mem(2, 0).i32(16).op(OP.i32Mul).op(OP.i32Add).set(WEND);
        for (let k = 0; k < 8; k++) {
          c.simd(SIMD.const).op(...new Array(16).fill(0));
          c.set(A0 + k);
        }
        c.op(OP.loop, EMPTY); // 8-lane groups of the tile (tiles are never empty)
        {
          c.get(WP).simd(SIMD.load).mem(4, 0).set(WV);
          for (let k = 0; k < 8; k++) {
            c.get(A0 + k);
            c.get(WV);
            c.get(XP).simd(SIMD.load).mem(4, 16 * k);
            c.simd(SIMD.dot);
            c.simd(SIMD.i32x4Add);
            c.set(A0 + k);
          }
          c.get(XP).i32(128).op(OP.i32Add).set(XP);
          c.get(WP).i32(16).op(OP.i32Add).tee(WP).get(WEND).op(OP.i32LtU).op(OP.brIf, 0);
        }
        c.op(OP.end);
        if (perTile) {
          // out[…][t][k] = Σ lanes(acc_k); out advances one tile
          for (let k = 0; k < 8; k++) {
            c.get(OUT);
            c.get(A0 + k).simd(SIMD.extractLane).op(0);
            for (let lane = 1; lane < 4; lane++) c.get(A0 + k).simd(SIMD.extractLane).op(lane).op(OP.i32Add);
            c.op(OP.i32Store).mem(2, 4 * k);
          }
          c.get(OUT).i32(32).op(OP.i32Add).set(OUT);
        } else {
          // s_k += Σ lanes(acc_k); m = max(m, |s_k|)
          for (let k = 0; k < 8; k++) {
            c.get(S0 + k);
            for (let lane = 0; lane < 4; lane++) {
              c.get(A0 + k).simd(SIMD.extractLane).op(lane);
              c.op(OP.i32Add);
            }
            c.tee(S0 + k);
            // |v| = (v ^ (v >> 31)) − (v >> 31): no running sum reaches −2^31 (bounded by the caller)
            c.get(S0 + k).i32(31).op(OP.i32ShrS).op(OP.i32Xor).get(S0 + k).i32(31).op(OP.i32ShrS).op(OP.i32Sub).set(TMP);
            c.get(TMP).get(M).get(TMP).get(M).op(OP.i32GtU).op(OP.select).set(M);
          }
        }
        c.get(T).i32(1).op(OP.i32Add).tee(T).get(NT).op(OP.i32LtU).op(OP.brIf, 0);
      }
      c.op(OP.end);
      if (!perTile) {
        // out[(pb·nC + c)·8 + k] = s_k
        c.get(OUT).get(PB).get(NC).op(OP.i32Mul).get(C).op(OP.i32Add).i32(32).op(OP.i32Mul).op(OP.i32Add).set(TMP);
        for (let k = 0; k < 8; k++) c.get(TMP).get(S0 + k).op(OP.i32Store).mem(2, 4 * k);
      }
      c.get(C).i32(1).op(OP.i32Add).tee(C).get(NC).op(OP.i32LtU).op(OP.brIf, 0);
    }
    c.op(OP.end);
    c.get(PB).i32(1).op(OP.i32Add).tee(PB).get(NPB).op(OP.i32LtU).op(OP.brIf, 0);
  }
  c.op(OP.end);
  c.get(M);
  c.op(OP.end);
  return { params: 9, i32Locals: 18, v128Locals: 9, body: c };
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
  c.get(P).i32(7).op(OP.i32Add).i32(3).op(OP.i32ShrU).set(NPB);
  c.i32(0).set(PB);
  c.op(OP.loop, EMPTY);
  {
    for (let i = 0; i < 8; i++) {
      // idx = min(pb·8 + i, P − 1)
      c.get(PB).i32(3).op(OP.i32Shl).i32(i).op(OP.i32Add).set(IDX);
      c.get(IDX).get(P).i32(1).op(OP.i32Sub).get(IDX).get(P).op(OP.i32LtU).op(OP.select).set(IDX);
      c.get(XIN).get(POS).get(IDX).i32(2).op(OP.i32Shl).op(OP.i32Add).op(OP.i32Load).mem(2, 0).get(GOFF).op(OP.i32Add).i32(1).op(OP.i32Shl).op(OP.i32Add).set(XB0 + i);
    }
    c.i32(0).set(G8);
    c.op(OP.loop, EMPTY);
    {
      for (let l = 0; l < 8; l++) {
        c.get(LANE).get(G8).i32(5).op(OP.i32Shl).op(OP.i32Add).op(OP.i32Load).mem(2, 4 * l).i32(1).op(OP.i32Shl).set(LB0 + l);
      }
      for (let i = 0; i < 8; i++) {
        for (let l = 0; l < 8; l++) {
          c.get(DST);
          c.get(XB0 + i).get(LB0 + l).op(OP.i32Add).op(OP.i32Load16S).mem(1, 0);
          c.op(OP.i32Store16).mem(1, 2 * (i * 8 + l));
        }
      }
      c.get(DST).i32(128).op(OP.i32Add).set(DST);
      c.get(G8).i32(1).op(OP.i32Add).tee(G8).get(KP8).op(OP.i32LtU).op(OP.brIf, 0);
    }
    c.op(OP.end);
    c.get(PB).i32(1).op(OP.i32Add).tee(PB).get(NPB).op(OP.i32LtU).op(OP.brIf, 0);
  }
  c.op(OP.end);
  c.op(OP.end);
  return { params: 7, i32Locals: 20, v128Locals: 0, body: c };
}

/** Module: imported memory e.m; exports dot (func 0), gather (func 1), tiles (func 2). */
function kernelModule(): Uint8Array<ArrayBuffer> {
  const funcs = [dotFunc(false), gatherFunc(), dotFunc(true)];
  const mod: number[] = [...WASM_HEADER];
  // one type per function: (i32 × params) → i32 for dot, → () for gather
  const types: number[] = [funcs.length];
  funcs.forEach((f, i) => types.push(0x60, f.params, ...new Array(f.params).fill(I32), ...(i !== 1 ? [1, I32] : [0])));
  section(1, types, mod);
  section(2, [1, 1, 0x65, 1, 0x6d, 0x02, 0x00, 1], mod);
  section(3, [funcs.length, ...funcs.map((_, i) => i)], mod);
  const exportName = (name: string, idx: number) => [name.length, ...Array.from(name, (ch) => ch.charCodeAt(0)), 0x00, idx];
  section(7, [3, ...exportName('dot', 0), ...exportName('gather', 1), ...exportName('tiles', 2)], mod);
  const code: number[] = [funcs.length];
  for (const f of funcs) {
    const body: number[] = [];
    const groups = (f.i32Locals > 0 ? 1 : 0) + (f.v128Locals > 0 ? 1 : 0);
    uleb(groups, body);
    if (f.i32Locals > 0) {
      uleb(f.i32Locals, body);
      body.push(I32);
    }
    if (f.v128Locals > 0) {
      uleb(f.v128Locals, body);
      body.push(V128);
    }
    body.push(...f.body.b);
    uleb(body.length, code);
    code.push(...body);
  }
  section(10, code, mod);
  return new Uint8Array(mod);
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
