/**
 * The operand fill of the SIMD path (wasm.ts adds it to its module; DotLayer.fill runs it): a
 * run's int32 input into the padded int16 operand layout, with its range.
 */
import { Code, I32, Op, Simd, V128, VOID, type Func } from '../../nets/wasm-binary.js';

/** opcodes beyond nets/wasm-binary.ts's table */
const I32_GT_S = 0x4a;
const I16X8_NARROW_I32X4_S = 0x85;
const I32X4_SUB = 0xb1;
const I32X4_MIN_S = 0xb6;
const I32X4_MAX_S = 0xb8;

/**
 * fill(src, dst, planes, h, w, wp, planeStride, dst0, sub, res, pl, pad): the operand input of a
 * run — int32 planes of h×w (src) into the int16 padded layout (dst): row y of plane n at
 * dst + 2·(n·planeStride + dst0 + y·wp), each value minus `sub`, and every element of the plane
 * around them (the rows above dst0, pl columns left, the rest right and below) = `pad`; res[0], res[1]
 * = the smallest and largest value read, for the caller's range check (values that pass it fit
 * int16 after the subtraction, so the saturating narrow never saturates).
 */
/** mn = min(mn, q) (signed) */
function minOf(c: Code, q: number, mn: number): void {
  c.get(q).get(mn).get(q).get(mn).op(Op.I32LtS).op(Op.Select).set(mn);
}

/** mx = max(mx, q) (signed) */
export function maxOf(c: Code, q: number, mx: number): void {
  c.get(q).get(mx).get(q).get(mx).op(I32_GT_S).op(Op.Select).set(mx);
}

/** int16 `pad` into [local s, local e) (byte addresses); s is advanced to e */
function padRun(c: Code, s: number, e: number, pad: number): void {
  c.op(Op.Block, VOID);
  c.op(Op.Loop, VOID);
  c.get(s).get(e).op(Op.I32GeU).op(Op.BrIf, 1);
  c.get(s).get(pad).op(Op.I32Store16).mem(1, 0);
  c.addTo(s, 2);
  c.op(Op.Br, 0);
  c.op(Op.End);
  c.op(Op.End);
}

export function fillFunc(): Func {
  const SRC = 0, DST = 1, PLANES = 2, H = 3, W = 4, WP = 5, PSTRIDE = 6, DST0 = 7, SUB = 8, RES = 9, PL = 10, PAD = 11;
  const N = 12, Y = 13, I = 14, S = 15, D = 16, Q = 17, MN = 18, MX = 19, ROW = 20, PS = 21, PE = 22;
  const V0 = 23, V1 = 24, VMN = 25, VMX = 26, VSUB = 27;
  const c = new Code();
  c.i32(0x7fffffff).set(MN);
  c.i32(-0x80000000).set(MX);
  c.get(MN).simd(Simd.I32x4Splat).set(VMN);
  c.get(MX).simd(Simd.I32x4Splat).set(VMX);
  c.get(SUB).simd(Simd.I32x4Splat).set(VSUB);
  c.get(SRC).set(S);
  c.i32(0).set(N);
  c.op(Op.Block, VOID);
  c.get(PLANES).op(Op.I32Eqz).get(H).op(Op.I32Eqz).op(Op.I32Or).op(Op.BrIf, 0);
  c.op(Op.Loop, VOID); // planes
  {
    // the plane's top padding: [dst + 2·n·planeStride, row − 2·pl)
    c.get(DST).get(N).get(PSTRIDE).op(Op.I32Mul).i32(1).op(Op.I32Shl).op(Op.I32Add).set(PS);
    // row = dst + 2·(n·planeStride + dst0)
    c.get(DST).get(N).get(PSTRIDE).op(Op.I32Mul).get(DST0).op(Op.I32Add).i32(1).op(Op.I32Shl).op(Op.I32Add).set(ROW);
    c.get(ROW).get(PL).i32(1).op(Op.I32Shl).op(Op.I32Sub).set(PE);
    padRun(c, PS, PE, PAD);
    c.i32(0).set(Y);
    c.op(Op.Loop, VOID); // rows
    {
      // left padding of this row, then (after the values) its right padding up to the next row's left
      c.get(ROW).get(PL).i32(1).op(Op.I32Shl).op(Op.I32Sub).set(PS);
      c.get(ROW).set(PE);
      padRun(c, PS, PE, PAD);
      c.get(ROW).set(D);
      c.i32(0).set(I);
      c.op(Op.Block, VOID);
      c.op(Op.Loop, VOID); // 8 values at a time
      {
        c.get(I).i32(8).op(Op.I32Add).get(W).op(Op.I32GtU).op(Op.BrIf, 1);
        c.get(S).simd(Simd.Load).mem(2, 0).set(V0);
        c.get(S).simd(Simd.Load).mem(2, 16).set(V1);
        c.get(VMN).get(V0).simd(I32X4_MIN_S).get(V1).simd(I32X4_MIN_S).set(VMN);
        c.get(VMX).get(V0).simd(I32X4_MAX_S).get(V1).simd(I32X4_MAX_S).set(VMX);
        c.get(D);
        c.get(V0).get(VSUB).simd(I32X4_SUB).get(V1).get(VSUB).simd(I32X4_SUB).simd(I16X8_NARROW_I32X4_S);
        c.simd(Simd.Store).mem(1, 0);
        c.addTo(S, 32).addTo(D, 16).addTo(I, 8);
        c.op(Op.Br, 0);
      }
      c.op(Op.End);
      c.op(Op.End);
      c.op(Op.Block, VOID);
      c.op(Op.Loop, VOID); // the row's last w mod 8 values
      {
        c.get(I).get(W).op(Op.I32GeU).op(Op.BrIf, 1);
        c.get(S).op(Op.I32Load).mem(2, 0).set(Q);
        minOf(c, Q, MN);
        maxOf(c, Q, MX);
        c.get(D).get(Q).get(SUB).op(Op.I32Sub).op(Op.I32Store16).mem(1, 0);
        c.addTo(S, 4).addTo(D, 2).addTo(I, 1);
        c.op(Op.Br, 0);
      }
      c.op(Op.End);
      c.op(Op.End);
      // right padding: [d, row + 2·(wp − pl)) — d is the row's end after the values
      c.get(ROW).get(WP).get(PL).op(Op.I32Sub).i32(1).op(Op.I32Shl).op(Op.I32Add).set(PE);
      padRun(c, D, PE, PAD);
      c.get(ROW).get(WP).i32(1).op(Op.I32Shl).op(Op.I32Add).set(ROW);
      c.countUp(Y, H, Op.I32LtU);
    }
    c.op(Op.End);
    // bottom padding: from the row after the last (less its left padding) to the plane's end
    c.get(ROW).get(PL).i32(1).op(Op.I32Shl).op(Op.I32Sub).set(PS);
    c.get(DST).get(N).i32(1).op(Op.I32Add).get(PSTRIDE).op(Op.I32Mul).i32(1).op(Op.I32Shl).op(Op.I32Add).set(PE);
    padRun(c, PS, PE, PAD);
    c.countUp(N, PLANES, Op.I32LtU);
  }
  c.op(Op.End);
  c.op(Op.End);
  // fold the vector lanes into the scalars: minima into the minimum only, maxima into the maximum
  // (a lane no vector step reached still holds its start value, which must not count as data)
  for (let l = 0; l < 4; l++) {
    c.get(VMN).simd(Simd.I32x4ExtractLane).op(l).set(Q);
    minOf(c, Q, MN);
    c.get(VMX).simd(Simd.I32x4ExtractLane).op(l).set(Q);
    maxOf(c, Q, MX);
  }
  c.get(RES).get(MN).op(Op.I32Store).mem(2, 0);
  c.get(RES).get(MX).op(Op.I32Store).mem(2, 4);
  c.op(Op.End);
  return { name: 'fill', params: 12, locals: [...new Array<number>(11).fill(I32), ...new Array<number>(5).fill(V128)], body: c };
}
