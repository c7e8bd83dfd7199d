/**
 * WebAssembly SIMD kernels for the FP32 reference executor (fp32.ts): a register-blocked GEMM
 * that convolution (after im2col), Gemm and MatMul lower to, and a direct depthwise convolution.
 *
 * The module is assembled here byte by byte (no toolchain) and compiled synchronously, so runFp32
 * stays synchronous. Where WebAssembly SIMD is unavailable every entry point returns null / false
 * and the caller keeps its scalar loops.
 *
 * Two accumulations:
 *  - 'f64' (the reference): operands are float32, each product is formed in float64 — exact, since
 *    two 24-bit mantissas fit 53 bits — and summed in float64 (f64x2 lanes), then rounded to float32
 *    once. It differs from the scalar Float64 loops only in the order of float64 additions, far
 *    below one float32 ulp, which keeps borderline argmax decisions where they were.
 *  - 'f32': float32 products and sums in f32x4 lanes, as onnxruntime's MLAS does (in its own order).
 *    Twice the lanes, but a rounding per add; kept for measurement, not the reference.
 *
 * GEMM contract, C = A·B (+ bias per row when fused):
 *   A  packed row panels [⌈M/4⌉][K][4]  (f64 for 'f64', f32 for 'f32'; rows past M are 0)
 *   B  float32 row-major, row stride ldb bytes; column blocks of 4 ('f64') or 8 ('f32') are read
 *      whole, so up to 7 values past N (past the end: slack) are read into lanes that are dropped
 *   C  row-major [⌈M/4⌉·4][ldc], whole column blocks: f64/f32 as accumulated, or float32 when fused
 * Loop order: column blocks outside (a K×block strip of B stays in L1), row panels inside (A
 * streams in order), K innermost with the 4×block tile of C in registers.
 *
 * All of it runs in one module-wide memory that grows to the largest layer seen and is reused:
 * the views simdGemm returns are valid until the next call into this file.
 */

import type { Window2d } from './shapes.js';
import { section, sleb, uleb, WASM_HEADER } from './wasm-binary.js';

// --- instruction emitter (encodings in nets/wasm-binary.ts) -------------------------------------

const enum Op {
  Block = 0x02,
  Loop = 0x03,
  If = 0x04,
  Else = 0x05,
  End = 0x0b,
  Br = 0x0c,
  BrIf = 0x0d,
  LocalGet = 0x20,
  LocalSet = 0x21,
  LocalTee = 0x22,
  I32Load = 0x28,
  F32Load = 0x2a,
  F64Load = 0x2b,
  F32Store = 0x38,
  F64Store = 0x39,
  I32Const = 0x41,
  I32Eqz = 0x45,
  I32LtS = 0x48,
  I32GeS = 0x4e,
  I32Add = 0x6a,
  I32Sub = 0x6b,
  I32Mul = 0x6c,
  I32Shl = 0x74,
  F64Add = 0xa0,
  F64Mul = 0xa2,
  F32DemoteF64 = 0xb6,
  F64Sub = 0xa1,
  F64PromoteF32 = 0xbb,
  Prefix = 0xfc,
}

const enum Simd {
  Load = 0x00,
  Load32Splat = 0x09,
  Load64Splat = 0x0a,
  Store = 0x0b,
  Const = 0x0c,
  F64x2Splat = 0x14,
  Shuffle = 0x0d,
  Load64Zero = 0x5d,
  F32x4DemoteZero = 0x5e,
  F64x2PromoteLow = 0x5f,
  F32x4Add = 0xe4,
  F32x4Mul = 0xe6,
  F32x4PMin = 0xea,
  F32x4PMax = 0xeb,
  F64x2Add = 0xf0,
  F64x2Sub = 0xf1,
  F64x2Mul = 0xf2,
}

const I32 = 0x7f;
const F64 = 0x7c;
const V128 = 0x7b;
const VOID = 0x40;

/** Instruction emitter for one function body. */
class Code {
  readonly b: number[] = [];
  op(...codes: number[]): this {
    this.b.push(...codes);
    return this;
  }
  get(i: number): this {
    return this.op(Op.LocalGet, i);
  }
  set(i: number): this {
    return this.op(Op.LocalSet, i);
  }
  tee(i: number): this {
    return this.op(Op.LocalTee, i);
  }
  i32(n: number): this {
    this.b.push(Op.I32Const);
    sleb(n, this.b);
    return this;
  }
  simd(code: number): this {
    this.b.push(0xfd);
    uleb(code, this.b);
    return this;
  }
  /** memarg: log2 alignment, byte offset */
  mem(alignLog2: number, offset: number): this {
    uleb(alignLog2, this.b);
    uleb(offset, this.b);
    return this;
  }
  /** local[i] += n */
  addTo(i: number, n: number): this {
    return this.get(i).i32(n).op(Op.I32Add).set(i);
  }
  /** local[i] += local[j] */
  addLocal(i: number, j: number): this {
    return this.get(i).get(j).op(Op.I32Add).set(i);
  }
  zeroV(i: number): this {
    this.simd(Simd.Const).op(...new Array<number>(16).fill(0));
    return this.set(i);
  }
}

interface Func {
  name: string;
  params: number;
  /** local types after the (all-i32) parameters */
  locals: number[];
  body: Code;
}

/**
 * gemm(a, b, c, mBlocks, nBlocks, k, ldbBytes, ldcBytes, bias, cin, ldcinBytes) for one accumulation
 * (see the file comment) over one K block: the tile starts from `cin`'s sums (raw layout, the
 * previous K block's output) or, with cin = 0, from zero.
 * Tile: 4 rows × 4 columns in f64x2 (8 accumulators), or 4 rows × 8 columns in f32x4
 * (8 accumulators) — 8 accumulators plus operands stay inside x64's 16 vector registers.
 * Unfused, the tile is stored as accumulated (f64 or f32 C). Fused, `bias` (one value per row,
 * f64 or f32) is added and the sum stored as float32: for f64 that is the single rounding.
 */
function gemmFunc(accum: 'f64' | 'f32', fused: boolean): Func {
  const A = 0;
  const B = 1;
  const C = 2;
  const MB = 3;
  const NB = 4;
  const K = 5;
  const LDB = 6;
  const LDC = 7;
  const BIAS = 8;
  const CIN = 9;
  const LDCIN = 10;
  // i32 locals
  const JB = 11;
  const IB = 12;
  const AP = 13;
  const BP = 14;
  const KK = 15;
  const CP = 16;
  const BCOL = 17;
  // v128 locals
  const ACC = 18; // 18…25
  const B0 = 26;
  const B1 = 27;
  const AV = 28;
  const is64 = accum === 'f64';
  const colBytes = is64 ? 16 : 32; // f32 bytes of B per column block
  const aStep = is64 ? 32 : 16; // bytes of one packed A column (4 rows)
  const mul = is64 ? Simd.F64x2Mul : Simd.F32x4Mul;
  const add = is64 ? Simd.F64x2Add : Simd.F32x4Add;
  // bytes of C per column block: 4 f64, 8 f32, or (fused f64) 4 f32
  const cBlockLog2 = is64 && fused ? 4 : 5;

  const c = new Code();
  c.i32(0).set(JB);
  c.get(B).set(BCOL);
  c.op(Op.Loop, VOID); // column blocks
  {
    c.get(A).set(AP);
    c.i32(0).set(IB);
    c.op(Op.Loop, VOID); // row panels
    {
      // start from the previous K block's sums (cin, raw layout) or from 0
      c.get(CIN).op(Op.If, VOID);
      {
        c.get(CIN).get(IB).i32(2).op(Op.I32Shl).get(LDCIN).op(Op.I32Mul).op(Op.I32Add).get(JB).i32(5).op(Op.I32Shl).op(Op.I32Add).set(CP);
        for (let r = 0; r < 4; r++) {
          c.get(CP).simd(Simd.Load).mem(4, 0).set(ACC + 2 * r);
          c.get(CP).simd(Simd.Load).mem(4, 16).set(ACC + 2 * r + 1);
          if (r < 3) c.addLocal(CP, LDCIN);
        }
      }
      c.op(Op.Else);
      for (let r = 0; r < 8; r++) c.zeroV(ACC + r);
      c.op(Op.End);
      c.get(BCOL).set(BP);
      c.get(K).set(KK);
      c.op(Op.Loop, VOID); // k
      {
        if (is64) {
          c.get(BP).simd(Simd.Load64Zero).mem(3, 0).simd(Simd.F64x2PromoteLow).set(B0);
          c.get(BP).simd(Simd.Load64Zero).mem(3, 8).simd(Simd.F64x2PromoteLow).set(B1);
        } else {
          c.get(BP).simd(Simd.Load).mem(4, 0).set(B0);
          c.get(BP).simd(Simd.Load).mem(4, 16).set(B1);
        }
        for (let r = 0; r < 4; r++) {
          if (is64) c.get(AP).simd(Simd.Load64Splat).mem(3, 8 * r).set(AV);
          else c.get(AP).simd(Simd.Load32Splat).mem(2, 4 * r).set(AV);
          c.get(ACC + 2 * r).get(AV).get(B0).simd(mul).simd(add).set(ACC + 2 * r);
          c.get(ACC + 2 * r + 1).get(AV).get(B1).simd(mul).simd(add).set(ACC + 2 * r + 1);
        }
        c.addTo(AP, aStep);
        c.addLocal(BP, LDB);
        c.get(KK).i32(1).op(Op.I32Sub).tee(KK).op(Op.BrIf, 0);
      }
      c.op(Op.End);
      // C rows ib·4 … ib·4+3, this column block
      c.get(C).get(IB).i32(2).op(Op.I32Shl).get(LDC).op(Op.I32Mul).op(Op.I32Add).get(JB).i32(cBlockLog2).op(Op.I32Shl).op(Op.I32Add).set(CP);
      for (let r = 0; r < 4; r++) {
        if (!fused) {
          c.get(CP).get(ACC + 2 * r).simd(Simd.Store).mem(4, 0);
          c.get(CP).get(ACC + 2 * r + 1).simd(Simd.Store).mem(4, 16);
        } else if (is64) {
          // bias of row ib·4 + r
          c.get(BIAS).get(IB).i32(5).op(Op.I32Shl).op(Op.I32Add).simd(Simd.Load64Splat).mem(3, 8 * r).set(AV);
          c.get(CP);
          c.get(ACC + 2 * r).get(AV).simd(Simd.F64x2Add).simd(Simd.F32x4DemoteZero);
          c.get(ACC + 2 * r + 1).get(AV).simd(Simd.F64x2Add).simd(Simd.F32x4DemoteZero);
          // [lo0, lo1, hi0, hi1]
          c.simd(Simd.Shuffle).op(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
          c.simd(Simd.Store).mem(4, 0);
        } else {
          c.get(BIAS).get(IB).i32(4).op(Op.I32Shl).op(Op.I32Add).simd(Simd.Load32Splat).mem(2, 4 * r).set(AV);
          c.get(CP).get(ACC + 2 * r).get(AV).simd(Simd.F32x4Add).simd(Simd.Store).mem(4, 0);
          c.get(CP).get(ACC + 2 * r + 1).get(AV).simd(Simd.F32x4Add).simd(Simd.Store).mem(4, 16);
        }
        if (r < 3) c.addLocal(CP, LDC);
      }
      c.get(IB).i32(1).op(Op.I32Add).tee(IB).get(MB).op(Op.I32LtS).op(Op.BrIf, 0);
    }
    c.op(Op.End);
    c.addTo(BCOL, colBytes);
    c.get(JB).i32(1).op(Op.I32Add).tee(JB).get(NB).op(Op.I32LtS).op(Op.BrIf, 0);
  }
  c.op(Op.End);
  c.op(Op.End);
  const name = `gemm${is64 ? 64 : 32}${fused ? 'b' : ''}`;
  return { name, params: 11, locals: [...new Array<number>(7).fill(I32), ...new Array<number>(11).fill(V128)], body: c };
}

/**
 * im2col(xpad, dst, kOff, k, oh, ow, rowStep, colStep, ldb): for each of the k rows, the input
 * value under every output position — dst[r·ldb + oy·ow + ox] = xpad[kOff[r] + oy·rowStep +
 * ox·colStep] (all byte offsets). The input is padded, so no position needs a bounds check.
 */
function im2colFunc(): Func {
  const XP = 0;
  const DST = 1;
  const KOFF = 2;
  const K = 3;
  const OH = 4;
  const OW = 5;
  const ROW = 6;
  const COL = 7;
  const LDB = 8;
  const R = 9;
  const D = 10;
  const SROW = 11;
  const S = 12;
  const OY = 13;
  const OX = 14;
  const c = new Code();
  c.i32(0).set(R);
  c.op(Op.Loop, VOID);
  {
    c.get(XP).get(KOFF).get(R).i32(2).op(Op.I32Shl).op(Op.I32Add).op(Op.I32Load).mem(2, 0).op(Op.I32Add).set(SROW);
    c.get(DST).get(R).get(LDB).op(Op.I32Mul).op(Op.I32Add).set(D);
    c.get(OH).set(OY);
    c.op(Op.Loop, VOID);
    {
      c.get(SROW).set(S);
      c.get(OW).set(OX);
      c.op(Op.Loop, VOID);
      {
        c.get(D).get(S).op(Op.F32Load).mem(2, 0).op(Op.F32Store).mem(2, 0);
        c.addTo(D, 4);
        c.addLocal(S, COL);
        c.get(OX).i32(1).op(Op.I32Sub).tee(OX).op(Op.BrIf, 0);
      }
      c.op(Op.End);
      c.addLocal(SROW, ROW);
      c.get(OY).i32(1).op(Op.I32Sub).tee(OY).op(Op.BrIf, 0);
    }
    c.op(Op.End);
    c.get(R).i32(1).op(Op.I32Add).tee(R).get(K).op(Op.I32LtS).op(Op.BrIf, 0);
  }
  c.op(Op.End);
  c.op(Op.End);
  return { name: 'im2col', params: 9, locals: new Array<number>(6).fill(I32), body: c };
}

/**
 * pad(src, dst, rows, w, hIn, hp, wp, top, left): copies `rows` input rows of w float32 (rows =
 * planes·hIn) into planes of hp×wp at (top, left); the caller zeroed dst.
 */
function padFunc(): Func {
  const SRC = 0;
  const DST = 1;
  const ROWS = 2;
  const W = 3;
  const HIN = 4;
  const HP = 5;
  const WP = 6;
  const TOP = 7;
  const LEFT = 8;
  const R = 9;
  const IY = 10;
  const D = 11;
  const c = new Code();
  c.i32(0).set(R);
  c.i32(0).set(IY);
  // d = dst + (top·wp + left)·4: the first row's place
  c.get(DST).get(TOP).get(WP).op(Op.I32Mul).get(LEFT).op(Op.I32Add).i32(2).op(Op.I32Shl).op(Op.I32Add).set(D);
  c.op(Op.Loop, VOID);
  {
    // memory.copy d ← src, w·4 bytes
    c.get(D).get(SRC).get(W).i32(2).op(Op.I32Shl).op(Op.Prefix, 0x0a, 0x00, 0x00);
    c.get(SRC).get(W).i32(2).op(Op.I32Shl).op(Op.I32Add).set(SRC);
    c.get(D).get(WP).i32(2).op(Op.I32Shl).op(Op.I32Add).set(D);
    // at a plane's end, skip the bottom and next top padding rows
    c.get(IY).i32(1).op(Op.I32Add).tee(IY).get(HIN).op(Op.I32GeS).op(Op.If, VOID);
    {
      c.i32(0).set(IY);
      c.get(D).get(HP).get(HIN).op(Op.I32Sub).get(WP).op(Op.I32Mul).i32(2).op(Op.I32Shl).op(Op.I32Add).set(D);
    }
    c.op(Op.End);
    c.get(R).i32(1).op(Op.I32Add).tee(R).get(ROWS).op(Op.I32LtS).op(Op.BrIf, 0);
  }
  c.op(Op.End);
  c.op(Op.End);
  return { name: 'pad', params: 9, locals: new Array<number>(3).fill(I32), body: c };
}

/**
 * dw(xpad, w, bias, out, kOff, planes, oh, owBlocks, taps, rowStep, planeBytes, ow) — depthwise
 * convolution, one input plane per output plane, stride 1 (`s2` false) or 2 along x. Per block of
 * 4 outputs of a row: float64 accumulators start at the bias and add w·x tap by tap in kernel order,
 * exactly the scalar loop's order (padding taps add w·0). Outputs are stored 4 at a time in
 * order, compact [planes][oh][ow]: a row's last block spills into the next row's first places,
 * which that row then overwrites (the caller leaves 16 bytes of slack after the end).
 */
function dwFunc(s2: boolean): Func {
  const XP = 0;
  const W = 1;
  const BIAS = 2;
  const OUT = 3;
  const KOFF = 4;
  const PLANES = 5;
  const OH = 6;
  const OWB = 7;
  const TAPS = 8;
  const ROW = 9;
  const PLANE = 10;
  const OW = 11;
  // i32 locals
  const P = 12;
  const OY = 13;
  const OB = 14;
  const T = 15;
  const XROW = 16;
  const XB = 17;
  const WP = 18;
  const O = 19;
  const XPL = 20;
  const WPL = 21;
  const ORW = 22;
  // v128 locals
  const ACC0 = 23;
  const ACC1 = 24;
  const WV = 25;
  const V = 26;
  const c = new Code();
  c.get(XP).set(XPL);
  c.get(W).set(WPL);
  c.get(OUT).set(ORW);
  c.i32(0).set(P);
  c.op(Op.Loop, VOID); // planes
  {
    c.get(XPL).set(XROW);
    c.get(OH).set(OY);
    c.op(Op.Loop, VOID); // output rows
    {
      c.get(ORW).set(O);
      c.get(XROW).set(XB);
      c.get(OWB).set(OB);
      c.op(Op.Loop, VOID); // blocks of 4 outputs
      {
        c.get(BIAS).get(P).i32(3).op(Op.I32Shl).op(Op.I32Add).simd(Simd.Load64Splat).mem(3, 0).tee(ACC0).set(ACC1);
        c.get(WPL).set(WP);
        c.i32(0).set(T);
        c.op(Op.Loop, VOID); // taps
        {
          c.get(WP).simd(Simd.Load64Splat).mem(3, 0).set(WV);
          c.get(XB).get(KOFF).get(T).i32(2).op(Op.I32Shl).op(Op.I32Add).op(Op.I32Load).mem(2, 0).op(Op.I32Add);
          if (s2) {
            // x0 x1 … x7 → x0 x2 x4 x6
            c.tee(V + 1).simd(Simd.Load).mem(0, 0);
            c.get(V + 1).simd(Simd.Load).mem(0, 16);
            c.simd(Simd.Shuffle).op(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
          } else c.simd(Simd.Load).mem(0, 0);
          c.set(V);
          c.get(ACC0).get(WV).get(V).simd(Simd.F64x2PromoteLow).simd(Simd.F64x2Mul).simd(Simd.F64x2Add).set(ACC0);
          c.get(ACC1).get(WV).get(V).get(V).simd(Simd.Shuffle).op(8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15);
          c.simd(Simd.F64x2PromoteLow).simd(Simd.F64x2Mul).simd(Simd.F64x2Add).set(ACC1);
          c.addTo(WP, 8);
          c.get(T).i32(1).op(Op.I32Add).tee(T).get(TAPS).op(Op.I32LtS).op(Op.BrIf, 0);
        }
        c.op(Op.End);
        c.get(O);
        c.get(ACC0).simd(Simd.F32x4DemoteZero);
        c.get(ACC1).simd(Simd.F32x4DemoteZero);
        c.simd(Simd.Shuffle).op(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        c.simd(Simd.Store).mem(0, 0);
        c.addTo(O, 16);
        c.addTo(XB, s2 ? 32 : 16);
        c.get(OB).i32(1).op(Op.I32Sub).tee(OB).op(Op.BrIf, 0);
      }
      c.op(Op.End);
      c.get(ORW).get(OW).i32(2).op(Op.I32Shl).op(Op.I32Add).set(ORW);
      c.addLocal(XROW, ROW);
      c.get(OY).i32(1).op(Op.I32Sub).tee(OY).op(Op.BrIf, 0);
    }
    c.op(Op.End);
    c.addLocal(XPL, PLANE);
    c.get(WPL).get(TAPS).i32(3).op(Op.I32Shl).op(Op.I32Add).set(WPL);
    c.get(P).i32(1).op(Op.I32Add).tee(P).get(PLANES).op(Op.I32LtS).op(Op.BrIf, 0);
  }
  c.op(Op.End);
  c.op(Op.End);
  // V + 1 is an i32 scratch for the stride-2 address: declare it among the i32 locals
  return { name: s2 ? 'dw2' : 'dw1', params: 12, locals: [...new Array<number>(11).fill(I32), ...new Array<number>(4).fill(V128), I32], body: c };
}

/**
 * clamp(p, vectors, bounds) in place over float32 data: with `relu`, v = 0 < v ? v : 0 (pmax(0, v):
 * NaN and −0 become 0, as the scalar `v > 0 ? v : 0`); else v = v < lo ? lo : v, then
 * v = hi < v ? hi : v (pmax(v, lo), pmin(·, hi): NaN passes), lo and hi float32 at `bounds`.
 */
function clampFunc(relu: boolean): Func {
  const P = 0;
  const N = 1;
  const BOUNDS = 2;
  const LO = 3;
  const HI = 4;
  const c = new Code();
  if (relu) c.zeroV(LO);
  else {
    c.get(BOUNDS).simd(Simd.Load32Splat).mem(2, 0).set(LO);
    c.get(BOUNDS).simd(Simd.Load32Splat).mem(2, 4).set(HI);
  }
  c.op(Op.Loop, VOID);
  {
    c.get(P);
    if (relu) c.get(LO).get(P).simd(Simd.Load).mem(4, 0).simd(Simd.F32x4PMax);
    else c.get(P).simd(Simd.Load).mem(4, 0).get(LO).simd(Simd.F32x4PMax).get(HI).simd(Simd.F32x4PMin);
    c.simd(Simd.Store).mem(4, 0);
    c.addTo(P, 16);
    c.get(N).i32(1).op(Op.I32Sub).tee(N).op(Op.BrIf, 0);
  }
  c.op(Op.End);
  c.op(Op.End);
  return { name: relu ? 'relu' : 'clamp', params: 3, locals: [V128, V128], body: c };
}

/**
 * bn(p, n, c, inner, params) in place over float32 planes [n][c][inner]: v = (v − mean)·inv·scale
 * + bias in float64, operation by operation as the scalar loop evaluates it (so the same float64
 * results, rounded once to float32); params float64 [c][4] = mean, inv, scale, bias. Four values
 * at a time, then the plane's remainder one by one.
 */
function bnFunc(): Func {
  const P = 0;
  const N = 1;
  const CH = 2;
  const INNER = 3;
  const PARAMS = 4;
  const I = 5;
  const CI = 6;
  const Q = 7;
  const REM = 8;
  const MU = 9;
  const INV = 10;
  const SC = 11;
  const BB = 12;
  const LO = 13;
  const HI = 14;
  const FMU = 15;
  const FINV = 16;
  const FSC = 17;
  const FBB = 18;
  const c = new Code();
  const affine = (v: number): void => {
    c.get(v).get(MU).simd(Simd.F64x2Sub).get(INV).simd(Simd.F64x2Mul).get(SC).simd(Simd.F64x2Mul).get(BB).simd(Simd.F64x2Add).simd(Simd.F32x4DemoteZero);
  };
  c.get(N).get(CH).op(Op.I32Mul).set(I);
  c.i32(0).set(CI);
  c.op(Op.Loop, VOID); // planes
  {
    c.get(PARAMS).get(CI).i32(5).op(Op.I32Shl).op(Op.I32Add).set(Q);
    c.get(Q).simd(Simd.Load64Splat).mem(3, 0).set(MU);
    c.get(Q).simd(Simd.Load64Splat).mem(3, 8).set(INV);
    c.get(Q).simd(Simd.Load64Splat).mem(3, 16).set(SC);
    c.get(Q).simd(Simd.Load64Splat).mem(3, 24).set(BB);
    c.get(Q).op(Op.F64Load).mem(3, 0).set(FMU);
    c.get(Q).op(Op.F64Load).mem(3, 8).set(FINV);
    c.get(Q).op(Op.F64Load).mem(3, 16).set(FSC);
    c.get(Q).op(Op.F64Load).mem(3, 24).set(FBB);
    c.get(INNER).set(REM);
    c.op(Op.Block, VOID);
    c.op(Op.Loop, VOID); // four at a time
    {
      c.get(REM).i32(4).op(Op.I32LtS).op(Op.BrIf, 1);
      c.get(P).simd(Simd.Load64Zero).mem(3, 0).simd(Simd.F64x2PromoteLow).set(LO);
      c.get(P).simd(Simd.Load64Zero).mem(3, 8).simd(Simd.F64x2PromoteLow).set(HI);
      c.get(P);
      affine(LO);
      affine(HI);
      c.simd(Simd.Shuffle).op(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
      c.simd(Simd.Store).mem(0, 0);
      c.addTo(P, 16);
      c.addTo(REM, -4);
      c.op(Op.Br, 0);
    }
    c.op(Op.End);
    c.op(Op.End);
    c.op(Op.Block, VOID);
    c.op(Op.Loop, VOID); // the remainder
    {
      c.get(REM).op(Op.I32Eqz).op(Op.BrIf, 1);
      c.get(P);
      c.get(P).op(Op.F32Load).mem(2, 0).op(Op.F64PromoteF32).get(FMU).op(Op.F64Sub).get(FINV).op(Op.F64Mul).get(FSC).op(Op.F64Mul).get(FBB).op(Op.F64Add);
      c.op(Op.F32DemoteF64).op(Op.F32Store).mem(2, 0);
      c.addTo(P, 4);
      c.addTo(REM, -1);
      c.op(Op.Br, 0);
    }
    c.op(Op.End);
    c.op(Op.End);
    // next plane: channel (ci + 1) mod c
    c.get(CI).i32(1).op(Op.I32Add).tee(CI).get(CH).op(Op.I32GeS).op(Op.If, VOID).i32(0).set(CI).op(Op.End);
    c.get(I).i32(1).op(Op.I32Sub).tee(I).op(Op.BrIf, 0);
  }
  c.op(Op.End);
  c.op(Op.End);
  return { name: 'bn', params: 5, locals: [I32, I32, I32, I32, V128, V128, V128, V128, V128, V128, F64, F64, F64, F64], body: c };
}

/**
 * maxpool(xpad, out, kOff, planes, oh, owBlocks, taps, rowStep, planeBytes, ow): per block of 4
 * outputs, m = −∞ then m = pmax(m, v) tap by tap in kernel order — pmax(m, v) = m < v ? v : m, the
 * scalar `v > m` select (NaN never wins). Padding holds −∞, so padded taps change nothing, as the
 * scalar loop skips them. Stride 1 or 2 along x; output compact as dw's.
 */
function maxPoolFunc(s2: boolean): Func {
  const XP = 0;
  const OUT = 1;
  const KOFF = 2;
  const PLANES = 3;
  const OH = 4;
  const OWB = 5;
  const TAPS = 6;
  const ROW = 7;
  const PLANE = 8;
  const OW = 9;
  const P = 10;
  const OY = 11;
  const OB = 12;
  const T = 13;
  const XROW = 14;
  const XB = 15;
  const O = 16;
  const XPL = 17;
  const ADDR = 18;
  const M = 19;
  const NEG = 20;
  const c = new Code();
  // −∞ in every lane
  c.simd(Simd.Const).op(...[0, 0, 0x80, 0xff, 0, 0, 0x80, 0xff, 0, 0, 0x80, 0xff, 0, 0, 0x80, 0xff]).set(NEG);
  c.get(XP).set(XPL);
  c.get(OUT).set(O);
  c.i32(0).set(P);
  c.op(Op.Loop, VOID); // planes
  {
    c.get(XPL).set(XROW);
    c.get(OH).set(OY);
    c.op(Op.Loop, VOID); // output rows
    {
      c.get(XROW).set(XB);
      c.get(OWB).set(OB);
      c.op(Op.Loop, VOID); // blocks of 4 outputs
      {
        c.get(NEG).set(M);
        c.i32(0).set(T);
        c.op(Op.Loop, VOID); // taps
        {
          c.get(M);
          c.get(XB).get(KOFF).get(T).i32(2).op(Op.I32Shl).op(Op.I32Add).op(Op.I32Load).mem(2, 0).op(Op.I32Add);
          if (s2) {
            c.tee(ADDR).simd(Simd.Load).mem(0, 0);
            c.get(ADDR).simd(Simd.Load).mem(0, 16);
            c.simd(Simd.Shuffle).op(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
          } else c.simd(Simd.Load).mem(0, 0);
          c.simd(Simd.F32x4PMax).set(M);
          c.get(T).i32(1).op(Op.I32Add).tee(T).get(TAPS).op(Op.I32LtS).op(Op.BrIf, 0);
        }
        c.op(Op.End);
        c.get(O).get(M).simd(Simd.Store).mem(0, 0);
        c.addTo(O, 16);
        c.addTo(XB, s2 ? 32 : 16);
        c.get(OB).i32(1).op(Op.I32Sub).tee(OB).op(Op.BrIf, 0);
      }
      c.op(Op.End);
      // the row's last block may have run past ow: back to the row's true end
      c.get(O).get(OWB).i32(4).op(Op.I32Shl).op(Op.I32Sub).get(OW).i32(2).op(Op.I32Shl).op(Op.I32Add).set(O);
      c.addLocal(XROW, ROW);
      c.get(OY).i32(1).op(Op.I32Sub).tee(OY).op(Op.BrIf, 0);
    }
    c.op(Op.End);
    c.addLocal(XPL, PLANE);
    c.get(P).i32(1).op(Op.I32Add).tee(P).get(PLANES).op(Op.I32LtS).op(Op.BrIf, 0);
  }
  c.op(Op.End);
  c.op(Op.End);
  return { name: s2 ? 'mp2' : 'mp1', params: 10, locals: [...new Array<number>(9).fill(I32), V128, V128], body: c };
}

/** Module: imported memory e.m; one export per function, all (i32 …) → (). */
function buildModule(funcs: readonly Func[]): Uint8Array<ArrayBuffer> {
  const mod: number[] = [...WASM_HEADER];
  const types: number[] = [];
  uleb(funcs.length, types);
  for (const f of funcs) {
    types.push(0x60);
    uleb(f.params, types);
    for (let i = 0; i < f.params; i++) types.push(I32);
    types.push(0);
  }
  section(1, types, mod);
  section(2, [1, 1, 0x65, 1, 0x6d, 0x02, 0x00, 1], mod);
  const fsec: number[] = [];
  uleb(funcs.length, fsec);
  funcs.forEach((_, i) => uleb(i, fsec));
  section(3, fsec, mod);
  const exp: number[] = [];
  uleb(funcs.length, exp);
  funcs.forEach((f, i) => {
    uleb(f.name.length, exp);
    for (const ch of f.name) exp.push(ch.charCodeAt(0));
    exp.push(0x00);
    uleb(i, exp);
  });
  section(7, exp, mod);
  const code: number[] = [];
  uleb(funcs.length, code);
  for (const f of funcs) {
    const body: number[] = [];
    // run-length groups of equal local types
    const groups: [number, number][] = [];
    for (const t of f.locals) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    uleb(groups.length, body);
    for (const [n, t] of groups) {
      uleb(n, body);
      body.push(t);
    }
    body.push(...f.body.b);
    uleb(body.length, code);
    code.push(...body);
  }
  section(10, code, mod);
  return new Uint8Array(mod);
}

type Fn = (...args: number[]) => void;

interface Kernels {
  memory: WebAssembly.Memory;
  gemm: Record<'gemm64' | 'gemm32' | 'gemm64b' | 'gemm32b', Fn>;
  im2col: Fn;
  pad: Fn;
  dw1: Fn;
  dw2: Fn;
  relu: Fn;
  clamp: Fn;
  bn: Fn;
  mp1: Fn;
  mp2: Fn;
}

let kernels: Kernels | null | undefined;

const PAGE = 65536;

function instance(): Kernels | null {
  if (kernels === undefined) {
    try {
      const funcs = [gemmFunc('f64', false), gemmFunc('f32', false), gemmFunc('f64', true), gemmFunc('f32', true), im2colFunc(), padFunc(), dwFunc(false), dwFunc(true), clampFunc(true), clampFunc(false), bnFunc(), maxPoolFunc(false), maxPoolFunc(true)];
      const mod = new WebAssembly.Module(buildModule(funcs));
      const memory = new WebAssembly.Memory({ initial: 16 });
      const ex = new WebAssembly.Instance(mod, { e: { m: memory } }).exports as Record<string, Fn>;
      kernels = {
        memory,
        gemm: { gemm64: ex.gemm64, gemm32: ex.gemm32, gemm64b: ex.gemm64b, gemm32b: ex.gemm32b },
        im2col: ex.im2col,
        pad: ex.pad,
        dw1: ex.dw1,
        dw2: ex.dw2,
        relu: ex.relu,
        clamp: ex.clamp,
        bn: ex.bn,
        mp1: ex.mp1,
        mp2: ex.mp2,
      };
    } catch {
      kernels = null;
    }
  }
  return kernels;
}

/** True where the WebAssembly SIMD kernels compiled (Node ≥ 16.4 on x64/arm64). */
export function simdAvailable(): boolean {
  return instance() !== null;
}

/**
 * Grows the kernel memory to hold `end` bytes; returns its (possibly new) buffer, or null past what
 * a 32-bit memory can hold (the caller then falls back to its scalar loops).
 */
function reserve(kern: Kernels, end: number): ArrayBuffer | null {
  const have = kern.memory.buffer.byteLength;
  if (end > have) {
    try {
      kern.memory.grow(Math.ceil((end - have) / PAGE));
    } catch {
      return null;
    }
  }
  return kern.memory.buffer;
}

/** A copy in a fresh array: `slice()` of a view on wasm memory takes a slow path (~10× a copy). */
function copyOut(view: Float32Array): Float32Array {
  const y = new Float32Array(view.length);
  y.set(view);
  return y;
}

/** Bump allocation of one call's regions, 64-byte aligned. */
class Layout {
  end = 0;
  take(bytes: number): number {
    const p = this.end;
    this.end = align64(p + bytes);
    return p;
  }
}

function align64(n: number): number {
  return (n + 63) & ~63;
}

export type SimdAccum = 'f64' | 'f32';

/** One GEMM's operands in WebAssembly memory; valid until the next simdGemm call. */
export interface SimdGemm<T extends Float64Array | Float32Array> {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** packed A (per K block of KC, row panels [⌈m/4⌉][len][4]): fill with packRows / packColumns */
  readonly a: T;
  /** float32 [k][ldb] */
  readonly b: Float32Array;
  readonly ldb: number;
  /** [⌈m/4⌉·4][ldc] results after run() */
  readonly c: T;
  readonly ldc: number;
  run(): void;
}

/**
 * Lays out an m×k by k×n GEMM in the kernel memory (growing it as needed) and returns views to fill
 * and read; null where WebAssembly SIMD is unavailable or a dimension is 0.
 */
export function simdGemm(accum: 'f64', m: number, n: number, k: number): SimdGemm<Float64Array> | null;
export function simdGemm(accum: 'f32', m: number, n: number, k: number): SimdGemm<Float32Array> | null;
export function simdGemm(accum: SimdAccum, m: number, n: number, k: number): SimdGemm<Float64Array> | SimdGemm<Float32Array> | null;
export function simdGemm(accum: SimdAccum, m: number, n: number, k: number): SimdGemm<Float64Array> | SimdGemm<Float32Array> | null {
  const kern = instance();
  if (!kern || m <= 0 || n <= 0 || k <= 0) return null;
  const is64 = accum === 'f64';
  const el = is64 ? 8 : 4;
  const nr = is64 ? 4 : 8;
  const mBlocks = Math.ceil(m / 4);
  const nBlocks = Math.ceil(n / nr);
  const ldb = nBlocks * nr;
  const lay = new Layout();
  const aPtr = lay.take(mBlocks * k * 4 * el);
  const bPtr = lay.take(k * ldb * 4);
  const cPtr = lay.take(mBlocks * 4 * ldb * el);
  const buf = reserve(kern, lay.end);
  if (!buf) return null;
  const Arr = is64 ? Float64Array : Float32Array;
  const a = new Arr(buf, aPtr, mBlocks * k * 4);
  const b = new Float32Array(buf, bPtr, k * ldb);
  const c = new Arr(buf, cPtr, mBlocks * 4 * ldb);
  const run = () => gemmBlocked(kern, accum, false, aPtr, bPtr, cPtr, cPtr, mBlocks, nBlocks, k, ldb * 4, ldb * el, ldb * el, 0);
  return { m, n, k, a, b, ldb, c, ldc: ldb, run } as SimdGemm<Float64Array> | SimdGemm<Float32Array>;
}

/**
 * K block of the GEMM: a block of A (4·⌈M/4⌉ rows × KC, ≤ 512 KiB in f64 for 256 rows) stays in L2
 * and a block column strip of B (KC rows × 16–32 bytes) in L1 while the row panels stream past it.
 */
export const KC = 256;

/**
 * Packs rows [0, m) of a row-major float32 matrix (row i at rowOff + i·rowStride, k columns) into
 * A's layout: per K block of KC, row panels [⌈m/4⌉][len][4]; rows past m are 0.
 */
export function packRows(dst: Float64Array | Float32Array, src: Float32Array, m: number, k: number, rowOff: number, rowStride: number): void {
  const mBlocks = Math.ceil(m / 4);
  for (let k0 = 0; k0 < k; k0 += KC) {
    const len = Math.min(KC, k - k0);
    for (let ib = 0; ib < mBlocks; ib++) {
      const base = mBlocks * 4 * k0 + ib * len * 4;
      for (let r = 0; r < 4; r++) {
        const i = ib * 4 + r;
        if (i >= m) {
          for (let p = 0; p < len; p++) dst[base + p * 4 + r] = 0;
          continue;
        }
        const s = rowOff + i * rowStride + k0;
        for (let p = 0; p < len; p++) dst[base + p * 4 + r] = src[s + p];
      }
    }
  }
}

/** The same layout from the columns of a row-major [k][stride] float32 matrix (A row i = column i). */
export function packColumns(dst: Float64Array | Float32Array, src: Float32Array, m: number, k: number, stride: number): void {
  const mBlocks = Math.ceil(m / 4);
  dst.fill(0, 0, mBlocks * 4 * k);
  for (let p = 0; p < k; p++) {
    const k0 = p - (p % KC);
    const len = Math.min(KC, k - k0);
    const base = mBlocks * 4 * k0 + (p - k0) * 4;
    const s = p * stride;
    for (let i = 0; i < m; i++) dst[base + (i >> 2) * len * 4 + (i & 3)] = src[s + i];
  }
}

/**
 * C = A·B over K blocks of KC: every block but the last adds into `part` (raw layout, row stride
 * ldPart bytes); the last reads `part` and writes C — fused with the bias (float32) or raw.
 * With part = c (raw), the sums accumulate in place.
 */
function gemmBlocked(kern: Kernels, accum: SimdAccum, fused: boolean, aPtr: number, bPtr: number, cPtr: number, partPtr: number, mBlocks: number, nBlocks: number, k: number, ldbBytes: number, ldcBytes: number, ldPartBytes: number, biasPtr: number): void {
  const is64 = accum === 'f64';
  const raw = is64 ? kern.gemm.gemm64 : kern.gemm.gemm32;
  const last = fused ? (is64 ? kern.gemm.gemm64b : kern.gemm.gemm32b) : raw;
  const el = is64 ? 8 : 4;
  let cin = 0;
  for (let k0 = 0; k0 < k; k0 += KC) {
    const len = Math.min(KC, k - k0);
    const aBlk = aPtr + mBlocks * 4 * k0 * el;
    const bBlk = bPtr + k0 * ldbBytes;
    if (k0 + len >= k) last(aBlk, bBlk, cPtr, mBlocks, nBlocks, len, ldbBytes, ldcBytes, biasPtr, cin, ldPartBytes);
    else {
      raw(aBlk, bBlk, partPtr, mBlocks, nBlocks, len, ldbBytes, ldPartBytes, 0, cin, ldPartBytes);
      cin = partPtr;
    }
  }
}

/** A 2-D convolution's geometry (NCHW, ONNX attributes resolved). */
export interface ConvShape extends Window2d {
  n: number;
  c: number;
  h: number;
  wid: number;
  oc: number;
  group: number;
  icg: number;
  ocg: number;
}

/** Padded plane size and whether padding is needed at all. */
function padded(s: ConvShape): { hp: number; wp: number; any: boolean } {
  const any = s.padTop > 0 || s.padLeft > 0 || s.padBottom > 0 || s.padRight > 0;
  return { hp: s.h + s.padTop + s.padBottom, wp: s.wid + s.padLeft + s.padRight, any };
}

/** Zero-padded input planes of one image (and group) in kernel memory. */
function stageInput(kern: Kernels, buf: ArrayBuffer, s: ConvShape, planes: number, x: Float32Array, xOff: number, rawPtr: number, padPtr: number): void {
  const plane = s.h * s.wid;
  new Float32Array(buf, rawPtr, planes * plane).set(x.subarray(xOff, xOff + planes * plane));
  const { hp, wp, any } = padded(s);
  if (any) kern.pad(rawPtr, padPtr, planes * s.h, s.wid, s.h, hp, wp, s.padTop, s.padLeft);
}

// reads past a row's end (column blocks, stride-2 pairs) land here, never outside the memory
const SLACK = 256;

/**
 * Convolution through im2col and the GEMM, bias fused: per group the weights are A (ocg × K,
 * K = icg·kh·kw), per image the im2col of the receptive fields is B (K × oh·ow) — or, for a 1×1
 * stride-1 unpadded convolution, the input planes themselves. Writes y (NCHW); false where
 * WebAssembly SIMD is unavailable.
 */
export function simdConv(accum: SimdAccum, s: ConvShape, x: Float32Array, w: Float32Array, bias: Float32Array | undefined, y: Float32Array): boolean {
  const kern = instance();
  if (!kern) return false;
  const { n, c, h, wid, oc, group, icg, ocg, kh, kw, sh, sw, dh, dw, oh, ow } = s;
  const is64 = accum === 'f64';
  const el = is64 ? 8 : 4;
  const nr = is64 ? 4 : 8;
  const k = icg * kh * kw;
  const area = oh * ow;
  const plane = h * wid;
  const mBlocks = Math.ceil(ocg / 4);
  const nBlocks = Math.ceil(area / nr);
  const ldc = nBlocks * nr;
  const { hp, wp, any } = padded(s);
  const direct = kh === 1 && kw === 1 && sh === 1 && sw === 1 && !any;
  const lay = new Layout();
  const aPtr = lay.take(mBlocks * k * 4 * el);
  const biasPtr = lay.take(mBlocks * 4 * el);
  const kOffPtr = lay.take(k * 4);
  const rawPtr = lay.take(icg * plane * 4 + SLACK);
  const padPtr = any ? lay.take(icg * hp * wp * 4 + SLACK) : rawPtr;
  const bPtr = direct ? rawPtr : lay.take(k * ldc * 4);
  const cPtr = lay.take(mBlocks * 4 * ldc * 4);
  const partPtr = k > KC ? lay.take(mBlocks * 4 * ldc * el) : 0;
  const buf = reserve(kern, lay.end);
  if (!buf) return false;
  const aView = is64 ? new Float64Array(buf, aPtr, mBlocks * k * 4) : new Float32Array(buf, aPtr, mBlocks * k * 4);
  const biasView = is64 ? new Float64Array(buf, biasPtr, mBlocks * 4) : new Float32Array(buf, biasPtr, mBlocks * 4);
  const cView = new Float32Array(buf, cPtr, mBlocks * 4 * ldc);
  const kOff = new Int32Array(buf, kOffPtr, k);
  for (let ic = 0, r = 0; ic < icg; ic++) {
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) kOff[r++] = (ic * hp * wp + ky * dh * wp + kx * dw) * 4;
  }
  // the pad kernel writes interiors only: borders zeroed once stay zero for every image
  if (any) new Float32Array(buf, padPtr, icg * hp * wp).fill(0);
  const ldbBytes = direct ? plane * 4 : ldc * 4;
  for (let g = 0; g < group; g++) {
    packRows(aView, w, ocg, k, g * ocg * k, k);
    for (let i = 0; i < mBlocks * 4; i++) biasView[i] = i < ocg && bias ? bias[g * ocg + i] : 0;
    for (let bn = 0; bn < n; bn++) {
      stageInput(kern, buf, s, icg, x, (bn * c + g * icg) * plane, rawPtr, padPtr);
      if (!direct) kern.im2col(padPtr, bPtr, kOffPtr, k, oh, ow, sh * wp * 4, sw * 4, ldc * 4);
      gemmBlocked(kern, accum, true, aPtr, bPtr, cPtr, partPtr, mBlocks, nBlocks, k, ldbBytes, ldc * 4, ldc * el, biasPtr);
      const yOff = (bn * oc + g * ocg) * area;
      if (ldc === area) y.set(cView.subarray(0, ocg * area), yOff);
      else for (let i = 0; i < ocg; i++) y.set(cView.subarray(i * ldc, i * ldc + area), yOff + i * area);
    }
  }
  return true;
}

/**
 * Depthwise convolution (group = c = oc, one input and one output channel per group), stride 1 or
 * 2 along x, any stride along y, any dilation: float64 accumulation starting at the bias, taps in
 * kernel order — the scalar loop's order. False where WebAssembly SIMD is unavailable or the
 * shape is not one of these.
 */
export function simdDepthwise(s: ConvShape, x: Float32Array, w: Float32Array, bias: Float32Array | undefined, y: Float32Array): boolean {
  const kern = instance();
  const { n, c, h, wid, oc, group, icg, ocg, kh, kw, sh, sw, dh, dw, oh, ow } = s;
  if (!kern || group !== c || oc !== c || icg !== 1 || ocg !== 1 || (sw !== 1 && sw !== 2)) return false;
  const taps = kh * kw;
  const plane = h * wid;
  const { hp, wp, any } = padded(s);
  const lay = new Layout();
  const wPtr = lay.take(c * taps * 8);
  const biasPtr = lay.take(c * 8);
  const kOffPtr = lay.take(taps * 4);
  const rawPtr = lay.take(c * plane * 4 + SLACK);
  const padPtr = any ? lay.take(c * hp * wp * 4 + SLACK) : rawPtr;
  const outPtr = lay.take(c * oh * ow * 4 + SLACK);
  const buf = reserve(kern, lay.end);
  if (!buf) return false;
  const w64 = new Float64Array(buf, wPtr, c * taps);
  for (let i = 0; i < c * taps; i++) w64[i] = w[i];
  const b64 = new Float64Array(buf, biasPtr, c);
  for (let i = 0; i < c; i++) b64[i] = bias ? bias[i] : 0;
  const kOff = new Int32Array(buf, kOffPtr, taps);
  for (let ky = 0, t = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) kOff[t++] = (ky * dh * wp + kx * dw) * 4;
  if (any) new Float32Array(buf, padPtr, c * hp * wp).fill(0);
  const outView = new Float32Array(buf, outPtr, c * oh * ow);
  const dwFn = sw === 1 ? kern.dw1 : kern.dw2;
  for (let bn = 0; bn < n; bn++) {
    stageInput(kern, buf, s, c, x, bn * c * plane, rawPtr, padPtr);
    dwFn(padPtr, wPtr, biasPtr, outPtr, kOffPtr, c, oh, Math.ceil(ow / 4), taps, sh * wp * 4, hp * wp * 4, ow);
    y.set(outView, bn * c * oh * ow);
  }
  return true;
}

/**
 * Relu (`relu`: v > 0 ? v : 0) or Clip (v < lo ? lo : v > hi ? hi : v, lo ≤ hi) of x into a new
 * array, four lanes at a time; null where WebAssembly SIMD is unavailable. Comparing float32 values
 * with the float32-rounded bounds decides every element as the float64 comparison does (rounding
 * is monotonic and the values are float32), so the results are the scalar loop's.
 */
export function simdClamp(x: Float32Array, lo: number, hi: number, relu: boolean): Float32Array | null {
  const kern = instance();
  if (!kern || x.length === 0) return null;
  const vectors = Math.ceil(x.length / 4);
  const lay = new Layout();
  const boundsPtr = lay.take(8);
  const dataPtr = lay.take(vectors * 16);
  const buf = reserve(kern, lay.end);
  if (!buf) return null;
  const bounds = new Float32Array(buf, boundsPtr, 2);
  bounds[0] = lo;
  bounds[1] = hi;
  const view = new Float32Array(buf, dataPtr, x.length);
  view.set(x);
  (relu ? kern.relu : kern.clamp)(dataPtr, vectors, boundsPtr);
  return copyOut(view);
}

/**
 * BatchNormalization (inference) of x [n][c][inner]: per channel (v − mean)·inv·scale + bias in
 * float64 as the scalar loop evaluates it, with `inv` = 1/√(var + ε) computed by the caller; null
 * where WebAssembly SIMD is unavailable.
 */
export function simdBatchNorm(x: Float32Array, n: number, c: number, inner: number, mean: Float32Array, inv: Float64Array, scale: Float32Array, bias: Float32Array): Float32Array | null {
  const kern = instance();
  if (!kern || x.length === 0) return null;
  const lay = new Layout();
  const paramsPtr = lay.take(c * 32);
  const dataPtr = lay.take(x.length * 4 + SLACK);
  const buf = reserve(kern, lay.end);
  if (!buf) return null;
  const params = new Float64Array(buf, paramsPtr, c * 4);
  for (let ch = 0; ch < c; ch++) {
    params[ch * 4] = mean[ch];
    params[ch * 4 + 1] = inv[ch];
    params[ch * 4 + 2] = scale[ch];
    params[ch * 4 + 3] = bias[ch];
  }
  const view = new Float32Array(buf, dataPtr, x.length);
  view.set(x);
  kern.bn(dataPtr, n, c, inner, paramsPtr);
  return copyOut(view);
}

/**
 * MaxPool of [planes][h][w] (any kernel, pads, dilation, vertical stride, ceil_mode overhang;
 * horizontal stride 1 or 2) into y: the scalar loop's taps, order and select (see maxPoolFunc).
 * False where WebAssembly SIMD is unavailable or the stride is not covered.
 */
export function simdMaxPool(s: Omit<ConvShape, 'c' | 'oc' | 'group' | 'icg' | 'ocg'> & { planes: number }, x: Float32Array, y: Float32Array): boolean {
  const kern = instance();
  const { planes, h, wid, kh, kw, sh, sw, dh, dw, padTop, padLeft, padBottom, padRight, oh, ow } = s;
  if (!kern || (sw !== 1 && sw !== 2) || planes === 0) return false;
  const taps = kh * kw;
  // room for explicit pads and for ceil_mode windows that overhang them
  const hp = Math.max(h + padTop + padBottom, (oh - 1) * sh + (kh - 1) * dh + 1, padTop + h);
  const wp = Math.max(wid + padLeft + padRight, (ow - 1) * sw + (kw - 1) * dw + 1, padLeft + wid);
  const plane = h * wid;
  const lay = new Layout();
  const kOffPtr = lay.take(taps * 4);
  const rawPtr = lay.take(planes * plane * 4);
  const padPtr = lay.take(planes * hp * wp * 4 + SLACK);
  const outPtr = lay.take(planes * oh * ow * 4 + SLACK);
  const buf = reserve(kern, lay.end);
  if (!buf) return false;
  const kOff = new Int32Array(buf, kOffPtr, taps);
  for (let ky = 0, t = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) kOff[t++] = (ky * dh * wp + kx * dw) * 4;
  new Float32Array(buf, padPtr, planes * hp * wp).fill(-Infinity);
  new Float32Array(buf, rawPtr, planes * plane).set(x.subarray(0, planes * plane));
  kern.pad(rawPtr, padPtr, planes * h, wid, h, hp, wp, padTop, padLeft);
  (sw === 1 ? kern.mp1 : kern.mp2)(padPtr, outPtr, kOffPtr, planes, oh, Math.ceil(ow / 4), taps, sh * wp * 4, hp * wp * 4, ow);
  y.set(new Float32Array(buf, outPtr, planes * oh * ow));
  return true;
}
