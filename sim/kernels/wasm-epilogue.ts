/**
 * The checked path's epilogue in WebAssembly (simd.ts runChecked): each output channel's
 * accumulator over the tile sums the tiles kernel wrote (wasm.ts convFunc, perTile), under wrap
 * or saturate at ≤ 32 bits — `epi` one position at a time in float64, `epiv` four positions a
 * vector in int32 where the bound analysis puts every sum it forms inside int32
 * (Prepared.vecEpilogue). Both give simd.ts tileEpilogue's outputs, events and first event.
 */
import { Code, F64, I32, Op, Simd, V128, VOID, type Func } from '../../nets/wasm-binary.js';

const I32_AND = 0x71;
const F64_ABS = 0x99;
const F64_MAX = 0xa5;
const I32_TRUNC_F64_S = 0xaa;
const F64_CONVERT_I32_U = 0xb8;
/** i64.trunc_sat_f64_s is 0xfc 0x06 */
const I64_TRUNC_SAT_F64_S_PREFIX = 0xfc;
const I64_TRUNC_SAT_F64_S = 0x06;

/**
 * epi(o, bStride, tStride, T, nb, bp, p0, P, outRow, mode, sh, res): the checked accumulator of
 * one channel over the tile sums runTiles() wrote (simd.ts tileEpilogue's semantics, for
 * accumulators of ≤ 32 bits under wrap or saturate, without the z_w step): per position the bias
 * load res.e0 / res.a0, then each tile — exact sum e (f64: exact below 2^53, the bound analysis
 * refuses more) and accumulator a, policy applied when a leaves [res.lo, res.hi]. The outputs go
 * to int32 outRow[p]; res.maxAbs is raised to the largest |e|, res.events / first (position,
 * step) count and locate the events.
 *   o        byte address of this channel's tile 0 of position 0 in block 0
 *   bStride  bytes from one block's sums to the next; tStride: from one tile's to the next
 *   res      f64 maxAbs, e0, a0, lo, hi at 0, 8, 16, 24, 32; i32 firstPos, firstStep, events at 40, 44, 48
 */
export function epiFunc(): Func {
  const O = 0, BSTRIDE = 1, TSTRIDE = 2, NT = 3, NB = 4, BPOS = 5, P0 = 6, P = 7, OUTP = 8, MODE = 9, SH = 10, RES = 11;
  const B = 12, I = 13, T = 14, POS = 15, OT = 16, EV = 17, FP = 18, FS = 19, OB = 20, OUT = 21;
  const E = 22, A = 23, S = 24, M = 25, LO = 26, HI = 27, E0 = 28, A0 = 29;
  const c = new Code();
  c.get(RES).op(Op.F64Load).mem(3, 0).set(M);
  c.get(RES).op(Op.F64Load).mem(3, 8).set(E0);
  c.get(RES).op(Op.F64Load).mem(3, 16).set(A0);
  c.get(RES).op(Op.F64Load).mem(3, 24).set(LO);
  c.get(RES).op(Op.F64Load).mem(3, 32).set(HI);
  c.i32(-1).set(FP);
  c.i32(0).set(FS);
  c.i32(0).set(EV);
  c.get(O).set(OB);
  c.get(P0).set(POS);
  c.i32(0).set(B);
  c.op(Op.Block, VOID);
  c.get(NB).op(Op.I32Eqz).op(Op.BrIf, 0);
  c.op(Op.Loop, VOID); // blocks
  {
    c.i32(0).set(I);
    c.op(Op.Block, VOID);
    c.op(Op.Loop, VOID); // positions of the block
    {
      c.get(I).get(BPOS).op(Op.I32GeU).get(POS).get(P).op(Op.I32GeU).op(Op.I32Or).op(Op.BrIf, 1);
      c.get(E0).set(E);
      c.get(A0).set(A);
      c.get(OB).get(I).i32(2).op(Op.I32Shl).op(Op.I32Add).set(OT);
      c.i32(0).set(T);
      c.op(Op.Loop, VOID); // tiles (never none)
      {
        c.get(OT).op(Op.I32Load).mem(2, 0).op(Op.F64ConvertI32S).set(S);
        c.get(E).get(S).op(Op.F64Add).tee(E).op(F64_ABS).get(M).op(F64_MAX).set(M);
        c.get(A).get(S).op(Op.F64Add).set(A);
        // branch-free (under a narrow accumulator events are frequent and unpredictable): out =
        // a left the range; events += out; a = out ? policy(a) : a; only the first event branches
        c.get(A).get(LO).op(Op.F64Lt).get(A).get(HI).op(Op.F64Gt).op(Op.I32Or).set(OUT);
        c.addLocal(EV, OUT);
        c.get(OUT).get(FP).i32(0).op(Op.I32LtS).op(I32_AND);
        c.op(Op.If, VOID);
        c.get(POS).set(FP);
        c.get(T).i32(1).op(Op.I32Add).set(FS);
        c.op(Op.End);
        // wrap (mode 0): sign-extend the low P bits of ToInt32(a); saturate: the bound crossed
        c.get(A).op(I64_TRUNC_SAT_F64_S_PREFIX).op(I64_TRUNC_SAT_F64_S).op(Op.I32WrapI64).get(SH).op(Op.I32Shl).get(SH).op(Op.I32ShrS).op(Op.F64ConvertI32S);
        c.get(HI).get(LO).get(A).get(HI).op(Op.F64Gt).op(Op.Select);
        c.get(MODE).op(Op.I32Eqz).op(Op.Select);
        c.get(A);
        c.get(OUT).op(Op.Select).set(A);
        c.addLocal(OT, TSTRIDE);
        c.countUp(T, NT, Op.I32LtU);
      }
      c.op(Op.End);
      c.get(OUTP).get(POS).i32(2).op(Op.I32Shl).op(Op.I32Add).get(A).op(I32_TRUNC_F64_S).op(Op.I32Store).mem(2, 0);
      c.addTo(POS, 1).addTo(I, 1);
      c.op(Op.Br, 0);
    }
    c.op(Op.End);
    c.op(Op.End);
    c.addLocal(OB, BSTRIDE);
    // the next block starts at p0 + (b + 1)·bp
    c.get(P0).get(B).i32(1).op(Op.I32Add).get(BPOS).op(Op.I32Mul).op(Op.I32Add).set(POS);
    c.countUp(B, NB, Op.I32LtU);
  }
  c.op(Op.End);
  c.op(Op.End);
  c.get(RES).get(M).op(Op.F64Store).mem(3, 0);
  c.get(RES).get(FP).op(Op.I32Store).mem(2, 40);
  c.get(RES).get(FS).op(Op.I32Store).mem(2, 44);
  c.get(RES).get(EV).op(Op.I32Store).mem(2, 48);
  c.op(Op.End);
  return { name: 'epi', params: 12, locals: [...new Array<number>(10).fill(I32), ...new Array<number>(8).fill(F64)], body: c };
}


/**
 * epiv(…the same parameters as epi…): epi four positions a vector in int32 lanes — valid only
 * where every exact running sum e, the accumulator a plus a tile sum, e0, a0, lo, hi and maxAbs
 * fit int32 (the caller checks the bounds: Prepared.vecEpilogue). Per lane the same adds; wrap
 * sign-extends the low bits of every a (the identity in range), saturate clamps every a; lanes past
 * P are masked out of the events and of maxAbs; the first event is the lowest lane of the first
 * vector that has one, at that lane's first step. The outputs are stored as whole vectors: the
 * output row must hold whole blocks.
 */
export function epiVecFunc(): Func {
  const O = 0, BSTRIDE = 1, TSTRIDE = 2, NT = 3, NB = 4, BPOS = 5, P0 = 6, P = 7, OUTP = 8, MODE = 9, SH = 10, RES = 11;
  const B = 12, V = 13, T = 14, BASE = 15, OT = 16, FP = 17, FS = 18, TMP = 19, NV = 20;
  const E = 21, A = 22, S = 23, M = 24, VLO = 25, VHI = 26, OUTV = 27, EVV = 28, FSV = 29, VALID = 30, E0V = 31, A0V = 32, IOTA = 33, VP = 34, ZERO = 35;
  const c = new Code();
  const splatF64 = (off: number, dst: number) => c.get(RES).op(Op.F64Load).mem(3, off).op(I32_TRUNC_F64_S).simd(Simd.I32x4Splat).set(dst);
  splatF64(0, M);
  splatF64(8, E0V);
  splatF64(16, A0V);
  splatF64(24, VLO);
  splatF64(32, VHI);
  c.simd(Simd.Const).op(0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0).set(IOTA);
  c.zeroV(ZERO).zeroV(EVV);
  c.get(P).simd(Simd.I32x4Splat).set(VP);
  c.get(BPOS).i32(2).op(Op.I32ShrU).set(NV);
  c.i32(-1).set(FP);
  c.i32(0).set(FS);
  c.i32(0).set(B);
  c.op(Op.Block, VOID);
  c.get(NB).op(Op.I32Eqz).op(Op.BrIf, 0);
  c.op(Op.Loop, VOID); // blocks
  {
    c.i32(0).set(V);
    c.op(Op.Block, VOID);
    c.op(Op.Loop, VOID); // vectors of the block
    {
      // base = p0 + b·bp + 4v; done at the block's end or at P
      c.get(P0).get(B).get(BPOS).op(Op.I32Mul).op(Op.I32Add).get(V).i32(2).op(Op.I32Shl).op(Op.I32Add).set(BASE);
      c.get(V).get(NV).op(Op.I32GeU).get(BASE).get(P).op(Op.I32GeS).op(Op.I32Or).op(Op.BrIf, 1);
      c.get(BASE).simd(Simd.I32x4Splat).get(IOTA).simd(Simd.I32x4Add).get(VP).simd(Simd.I32x4LtS).set(VALID);
      c.get(E0V).set(E);
      c.get(A0V).set(A);
      c.get(ZERO).set(FSV);
      c.get(O).get(B).get(BSTRIDE).op(Op.I32Mul).op(Op.I32Add).get(V).i32(4).op(Op.I32Shl).op(Op.I32Add).set(OT);
      c.i32(0).set(T);
      c.op(Op.Loop, VOID); // tiles (never none)
      {
        c.get(OT).simd(Simd.Load).mem(0, 0).set(S);
        c.get(E).get(S).simd(Simd.I32x4Add).tee(E).simd(Simd.I32x4Abs).get(VALID).simd(Simd.V128And).get(M).simd(Simd.I32x4MaxU).set(M);
        c.get(A).get(S).simd(Simd.I32x4Add).set(A);
        c.get(A).get(VLO).simd(Simd.I32x4LtS).get(A).get(VHI).simd(Simd.I32x4GtS).simd(Simd.V128Or).get(VALID).simd(Simd.V128And).set(OUTV);
        // events per lane (OUTV is −1 where one happened), the first step per lane (0: none yet)
        c.get(EVV).get(OUTV).simd(Simd.I32x4Sub).set(EVV);
        c.get(T).i32(1).op(Op.I32Add).simd(Simd.I32x4Splat).get(FSV).get(OUTV).get(FSV).get(ZERO).simd(Simd.I32x4Eq).simd(Simd.V128And).simd(Simd.V128Bitselect).set(FSV);
        // the policy on every lane: the identity in range
        c.get(MODE).op(Op.I32Eqz).op(Op.If, VOID);
        c.get(A).get(SH).simd(Simd.I32x4Shl).get(SH).simd(Simd.I32x4ShrS).set(A);
        c.op(Op.Else);
        c.get(A).get(VLO).simd(Simd.I32x4MaxS).get(VHI).simd(Simd.I32x4MinS).set(A);
        c.op(Op.End);
        c.addLocal(OT, TSTRIDE);
        c.countUp(T, NT, Op.I32LtU);
      }
      c.op(Op.End);
      c.get(OUTP).get(BASE).i32(2).op(Op.I32Shl).op(Op.I32Add).get(A).simd(Simd.Store).mem(0, 0);
      // the first event: the lowest lane with one, in the first vector that has any
      c.get(FP).i32(0).op(Op.I32LtS).get(FSV).simd(Simd.V128AnyTrue).op(I32_AND).op(Op.If, VOID);
      {
        c.get(FSV).get(ZERO).simd(Simd.I32x4Eq).simd(Simd.I32x4Bitmask).i32(15).op(Op.I32Xor).op(Op.I32Ctz).set(TMP);
        c.get(BASE).get(TMP).op(Op.I32Add).set(FP);
        c.get(RES).get(FSV).simd(Simd.Store).mem(0, 64);
        c.get(RES).get(TMP).i32(2).op(Op.I32Shl).op(Op.I32Add).op(Op.I32Load).mem(0, 64).set(FS);
      }
      c.op(Op.End);
      c.addTo(V, 1);
      c.op(Op.Br, 0);
    }
    c.op(Op.End);
    c.op(Op.End);
    c.countUp(B, NB, Op.I32LtU);
  }
  c.op(Op.End);
  c.op(Op.End);
  // maxAbs: the largest lane (unsigned; every |e| < 2^31), events: the lanes' sum
  c.maxLaneU(M, TMP, B);
  c.get(RES).get(TMP).op(F64_CONVERT_I32_U).op(Op.F64Store).mem(3, 0);
  c.i32(0);
  for (let l = 0; l < 4; l++) c.get(EVV).simd(Simd.I32x4ExtractLane).op(l).op(Op.I32Add);
  c.set(TMP);
  c.get(RES).get(FP).op(Op.I32Store).mem(2, 40);
  c.get(RES).get(FS).op(Op.I32Store).mem(2, 44);
  c.get(RES).get(TMP).op(Op.I32Store).mem(2, 48);
  c.op(Op.End);
  return { name: 'epiv', params: 12, locals: [...new Array<number>(9).fill(I32), ...new Array<number>(15).fill(V128)], body: c };
}
