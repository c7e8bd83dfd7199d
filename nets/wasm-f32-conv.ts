/**
 * The convolution functions of the FP32 kernel module (wasm-f32.ts runs them): an im2col-free
 * register-blocked convolution GEMM, the input staging it reads (padding at a cache-friendly plane
 * stride), the packing of its wide output, and the fused epilogue (bias, BatchNormalization, Relu / Clip) it shares with the depthwise kernel.
 *
 * conv(a, x, kOff, c, mBlocks, nBlocks, k, ldc, bias, bnp, mode, bounds): C = A·B with
 *   A  packed row panels [mBlocks][k][4] (f64 or f32, rows past the channel count are 0), packed
 *      once per weight tensor and kept in kernel memory;
 *   B  float32, row r of column block j at x + kOff[r] + 16·j ('f64': 4 values, promoted as they
 *      are loaded) or + 32·j ('f32': 8 values); conv64w: float64 (staged so by stage64), + 32·j. For a
 *      stride-1 convolution x is the padded input and kOff[r] the tap's offset in it, so B is the
 *      input itself read at "wide" output positions oy·wp + ox (ox up to the padded width; the
 *      extra columns are computed and dropped) — no im2col copy; for a strided one x is an im2col
 *      matrix and kOff[r] = r·ldb.
 *   C  float32 rows of ldc bytes, whole column blocks (4 columns for f64, 8 for f32).
 * Loop order: column blocks outside (the block's B values stay in L1), row panels inside, k
 * innermost with the 4-row tile in 8 vector registers (f64x2: 4 rows × 4 columns; f32x4: 4 × 8).
 */
import { Code, I32, Op, Simd, slots, V128, VOID, type Func } from './wasm-binary.js';

/** Epilogue modes (the `mode` argument): none, Relu (v > 0 ? v : 0), Clip (lo ≤ v ≤ hi). */
export const EPI_NONE = 0;
export const EPI_RELU = 1;
export const EPI_CLIP = 2;

/** Locals the epilogue uses (v128 unless noted). */
export interface EpilogueLocals {
  /** i32 parameters: BatchNormalization params (f64 [rows][4] = mean, inv, scale, bias; 0 = none), mode, bounds (f32 lo, hi) */
  BNP: number;
  MODE: number;
  BOUNDS: number;
  /** i32 scratch */
  Q: number;
  MU: number;
  INV: number;
  SC: number;
  BB: number;
  LO: number;
  HI: number;
}

/**
 * The float32x4 on the stack (one output row's 4 values, already rounded to float32 as the node
 * would output them) through the fused nodes, left on the stack: BatchNormalization of row
 * `row()` (i32 pushed by the callback) — promoted, (v − mean)·inv·scale + bias in float64 as the
 * BN kernel evaluates it, rounded once — then Relu (pmax(0, v)) or Clip (pmin(pmax(v, lo), hi)),
 * the operand orders of the Relu / Clip kernels. Results are those of the unfused nodes, bit for bit.
 */
export function epilogue(c: Code, L: EpilogueLocals, row: () => void): void {
  const v = L.LO; // LO/HI double as scratch before the bounds are loaded
  c.set(v);
  c.get(L.BNP).op(Op.If, VOID);
  {
    c.get(L.BNP);
    row();
    c.i32(5).op(Op.I32Shl).op(Op.I32Add).set(L.Q);
    c.get(L.Q).simd(Simd.Load64Splat).mem(3, 0).set(L.MU);
    c.get(L.Q).simd(Simd.Load64Splat).mem(3, 8).set(L.INV);
    c.get(L.Q).simd(Simd.Load64Splat).mem(3, 16).set(L.SC);
    c.get(L.Q).simd(Simd.Load64Splat).mem(3, 24).set(L.BB);
    const affine = (): void => {
      c.get(L.MU).simd(Simd.F64x2Sub).get(L.INV).simd(Simd.F64x2Mul).get(L.SC).simd(Simd.F64x2Mul).get(L.BB).simd(Simd.F64x2Add).simd(Simd.F32x4DemoteZero);
    };
    c.get(v).simd(Simd.F64x2PromoteLow);
    affine();
    c.get(v).get(v).simd(Simd.Shuffle).op(8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15).simd(Simd.F64x2PromoteLow);
    affine();
    c.simd(Simd.Shuffle).op(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    c.set(v);
  }
  c.op(Op.End);
  c.get(L.MODE).i32(EPI_RELU).op(Op.I32Eq).op(Op.If, V128);
  {
    c.simd(Simd.Const).op(...new Array<number>(16).fill(0)).get(v).simd(Simd.F32x4PMax);
  }
  c.op(Op.Else);
  {
    c.get(L.MODE).i32(EPI_CLIP).op(Op.I32Eq).op(Op.If, V128);
    c.get(v).get(L.BOUNDS).simd(Simd.Load32Splat).mem(2, 0).simd(Simd.F32x4PMax).get(L.BOUNDS).simd(Simd.Load32Splat).mem(2, 4).simd(Simd.F32x4PMin);
    c.op(Op.Else);
    c.get(v);
    c.op(Op.End);
  }
  c.op(Op.End);
}

/**
 * acc += a·b in f64x2 ('f64') or f32x4 lanes, the operands pushed by `operands` (a, then b): a
 * multiply and an add, or with `fma` one relaxed madd (nets/wasm-binary.ts relaxedMadd). In f64
 * lanes over float32 values the product is exact, so both give the same bits; in f32 lanes fused
 * rounds once where mul + add rounds twice.
 */
export function mac(c: Code, accum: 'f64' | 'f32', fma: boolean, acc: number, operands: () => void): void {
  const is64 = accum === 'f64';
  if (fma) {
    operands();
    c.get(acc).simd(is64 ? Simd.F64x2RelaxedMadd : Simd.F32x4RelaxedMadd).set(acc);
  } else {
    c.get(acc);
    operands();
    c.simd(is64 ? Simd.F64x2Mul : Simd.F32x4Mul).simd(is64 ? Simd.F64x2Add : Simd.F32x4Add).set(acc);
  }
}

/** Rows per register tile: 4 (8 accumulators + 2 B + 1 A of x64's 16 vector registers; 6 rows spill in V8). */
export const MR = 4;

function convFunc(accum: 'f64' | 'f32', fma: boolean, b64 = false): Func {
  const mr = MR;
  const is64 = accum === 'f64';
  const { A, X, KOFF, C, MB, NB, K, LDC, BIAS, BNP, MODE, BOUNDS, JB, IB, AP, KP, KK, CP, XB, T, Q, ACC, B0, B1, AV, MU, INV, SC, BB, LO, HI } = slots(
    'A', 'X', 'KOFF', 'C', 'MB', 'NB', 'K', 'LDC', 'BIAS', 'BNP', 'MODE', 'BOUNDS',
    'JB', 'IB', 'AP', 'KP', 'KK', 'CP', 'XB', 'T', 'Q',
    'ACC', 2 * mr - 1, 'B0', 'B1', 'AV', 'MU', 'INV', 'SC', 'BB', 'LO', 'HI',
  );
  const el = is64 ? 8 : 4;
  const L: EpilogueLocals = { BNP, MODE, BOUNDS, Q, MU, INV, SC, BB, LO, HI };
  // output row ib·4 + r
  const row = (r: number) => () => c.get(IB).i32(mr).op(Op.I32Mul).i32(r).op(Op.I32Add);

  const c = new Code();
  c.i32(0).set(JB);
  c.get(X).set(XB);
  c.op(Op.Loop, VOID); // column blocks
  {
    c.get(A).set(AP);
    c.i32(0).set(IB);
    c.op(Op.Loop, VOID); // row panels
    {
      for (let r = 0; r < 2 * mr; r++) c.zeroV(ACC + r);
      c.get(KOFF).set(KP);
      c.get(K).set(KK);
      c.op(Op.Loop, VOID); // k
      {
        c.get(XB).get(KP).op(Op.I32Load).mem(2, 0).op(Op.I32Add).tee(T);
        if (is64 && !b64) {
          c.simd(Simd.Load64Zero).mem(0, 0).simd(Simd.F64x2PromoteLow).set(B0);
          c.get(T).simd(Simd.Load64Zero).mem(0, 8).simd(Simd.F64x2PromoteLow).set(B1);
        } else {
          c.simd(Simd.Load).mem(0, 0).set(B0);
          c.get(T).simd(Simd.Load).mem(0, 16).set(B1);
        }
        for (let r = 0; r < mr; r++) {
          if (is64) c.get(AP).simd(Simd.Load64Splat).mem(3, 8 * r).set(AV);
          else c.get(AP).simd(Simd.Load32Splat).mem(2, 4 * r).set(AV);
          mac(c, accum, fma, ACC + 2 * r, () => c.get(AV).get(B0));
          mac(c, accum, fma, ACC + 2 * r + 1, () => c.get(AV).get(B1));
        }
        c.addTo(AP, mr * el);
        c.addTo(KP, 4);
        c.countDown(KK);
      }
      c.op(Op.End);
      // C rows ib·4 …, this column block (16 bytes of float32 per f64 block, 32 per f32 block)
      c.get(C).get(IB).i32(mr).op(Op.I32Mul).get(LDC).op(Op.I32Mul).op(Op.I32Add).get(JB).i32(is64 ? 4 : 5).op(Op.I32Shl).op(Op.I32Add).set(CP);
      for (let r = 0; r < mr; r++) {
        if (is64) {
          // + bias in float64, the one rounding to float32
          c.get(BIAS).get(IB).i32(mr * 8).op(Op.I32Mul).op(Op.I32Add).simd(Simd.Load64Splat).mem(3, 8 * r).set(AV);
          c.get(CP);
          c.get(ACC + 2 * r).get(AV).simd(Simd.F64x2Add).simd(Simd.F32x4DemoteZero);
          c.get(ACC + 2 * r + 1).get(AV).simd(Simd.F64x2Add).simd(Simd.F32x4DemoteZero);
          c.simd(Simd.Shuffle).op(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
          epilogue(c, L, row(r));
          c.simd(Simd.Store).mem(4, 0);
        } else {
          c.get(BIAS).get(IB).i32(mr * 4).op(Op.I32Mul).op(Op.I32Add).simd(Simd.Load32Splat).mem(2, 4 * r).set(AV);
          for (let h = 0; h < 2; h++) {
            c.get(CP);
            c.get(ACC + 2 * r + h).get(AV).simd(Simd.F32x4Add);
            epilogue(c, L, row(r));
            c.simd(Simd.Store).mem(4, 16 * h);
          }
        }
        if (r < mr - 1) c.addLocal(CP, LDC);
      }
      c.countUp(IB, MB);
    }
    c.op(Op.End);
    c.addTo(XB, is64 && !b64 ? 16 : 32);
    c.countUp(JB, NB);
  }
  c.op(Op.End);
  c.op(Op.End);
  return { name: b64 ? 'conv64w' : is64 ? 'conv64' : 'conv32', params: 12, locals: [...new Array<number>(9).fill(I32), ...new Array<number>(2 * mr + 9).fill(V128)], body: c };
}

/**
 * Two loops over a count in local n: `four` while n ≥ 4 (n −= 4 after it), then `one` while n > 0
 * (n −= 1) — a vector body and its scalar remainder.
 */
export function byFourThenOne(c: Code, n: number, four: () => void, one: () => void): void {
  for (const step of [4, 1]) {
    c.op(Op.Block, VOID);
    c.op(Op.Loop, VOID);
    if (step === 4) c.get(n).i32(4).op(Op.I32LtS).op(Op.BrIf, 1);
    else c.get(n).op(Op.I32Eqz).op(Op.BrIf, 1);
    (step === 4 ? four : one)();
    c.addTo(n, -step);
    c.op(Op.Br, 0);
    c.op(Op.End);
    c.op(Op.End);
  }
}

/**
 * stage(src, dst, rows, w, hIn, first, rowBytes, gapBytes): copies `rows` input rows of w float32
 * (rows = planes·hIn) into padded planes — row i of a plane at dst + first + i·rowBytes, the next
 * plane gapBytes after the end of the previous plane's last row; stage64 writes each value promoted
 * to float64 (the depthwise kernel's input). The caller chooses a plane stride
 * of an odd number of cache lines, so the rows of B (one per channel and tap) spread over the L1
 * sets instead of piling into a few. Padding is never written.
 */
function stageFunc(promote: boolean): Func {
  const { SRC, DST, ROWS, W, HIN, FIRST, RB, GAP, R, IY, D, S, DD, N, V } = slots('SRC', 'DST', 'ROWS', 'W', 'HIN', 'FIRST', 'RB', 'GAP', 'R', 'IY', 'D', 'S', 'DD', 'N', 'V');
  const c = new Code();
  c.i32(0).set(R);
  c.i32(0).set(IY);
  c.get(DST).get(FIRST).op(Op.I32Add).set(D);
  c.op(Op.Loop, VOID); // rows
  {
    c.get(SRC).set(S);
    c.get(D).set(DD);
    c.get(W).set(N);
    byFourThenOne(
      c,
      N,
      () => {
        if (!promote) c.get(DD).get(S).simd(Simd.Load).mem(0, 0).simd(Simd.Store).mem(0, 0).addTo(S, 16).addTo(DD, 16);
        else {
          c.get(S).simd(Simd.Load).mem(0, 0).set(V);
          c.get(DD).get(V).simd(Simd.F64x2PromoteLow).simd(Simd.Store).mem(0, 0);
          c.get(DD).get(V).get(V).simd(Simd.Shuffle).op(8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15).simd(Simd.F64x2PromoteLow).simd(Simd.Store).mem(0, 16);
          c.addTo(S, 16).addTo(DD, 32);
        }
      },
      () => {
        if (!promote) c.get(DD).get(S).op(Op.F32Load).mem(2, 0).op(Op.F32Store).mem(2, 0).addTo(S, 4).addTo(DD, 4);
        else c.get(DD).get(S).op(Op.F32Load).mem(2, 0).op(Op.F64PromoteF32).op(Op.F64Store).mem(3, 0).addTo(S, 4).addTo(DD, 8);
      },
    );
    c.get(SRC).get(W).i32(2).op(Op.I32Shl).op(Op.I32Add).set(SRC);
    c.addLocal(D, RB);
    c.get(IY).i32(1).op(Op.I32Add).tee(IY).get(HIN).op(Op.I32GeS).op(Op.If, VOID);
    {
      c.i32(0).set(IY);
      c.addLocal(D, GAP);
    }
    c.op(Op.End);
    c.countUp(R, ROWS);
  }
  c.op(Op.End);
  c.op(Op.End);
  return { name: promote ? 'stage64' : 'stage', params: 8, locals: [...new Array<number>(6).fill(I32), V128], body: c };
}

/**
 * compact(src, dst, planes, rows, rowBytes, srcRowBytes, srcPlaneBytes): rows of rowBytes bytes,
 * `rows` per plane, gathered from a strided layout into a packed one (memory.copy per row, which
 * is memmove: dst may overlap src at lower addresses, as when the wide output is packed in place).
 */
function compactFunc(): Func {
  const { SRC, DST, PLANES, ROWS, RB, SRB, SPB, P, R, S } = slots('SRC', 'DST', 'PLANES', 'ROWS', 'RB', 'SRB', 'SPB', 'P', 'R', 'S');
  const c = new Code();
  c.get(PLANES).set(P);
  c.op(Op.Loop, VOID);
  {
    c.get(SRC).set(S);
    c.get(ROWS).set(R);
    c.op(Op.Loop, VOID);
    {
      c.get(DST).get(S).get(RB).op(Op.Prefix, 0x0a, 0x00, 0x00);
      c.addLocal(DST, RB);
      c.addLocal(S, SRB);
      c.countDown(R);
    }
    c.op(Op.End);
    c.addLocal(SRC, SPB);
    c.countDown(P);
  }
  c.op(Op.End);
  c.op(Op.End);
  return { name: 'compact', params: 7, locals: [I32, I32, I32], body: c };
}

/** The convolution functions, exported under their names. */
export function convKernelFuncs(): Func[] {
  return [convFunc('f64', false), convFunc('f32', false), convFunc('f64', false, true), stageFunc(false), stageFunc(true), compactFunc()];
}

/** conv64, conv32 and conv64w with relaxed madd (only where relaxedMadd() holds). */
export function convFmaFuncs(): Func[] {
  return [convFunc('f64', true), convFunc('f32', true), convFunc('f64', true, true)];
}
