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
 * The module is assembled byte by byte (no toolchain) with nets/wasm-binary.ts; wasm.ts adds this
 * file's functions to it and DotLayer runs them.
 */
import { Code, F64, I32, Op, Simd, V128, VOID, type Func } from '../../nets/wasm-binary.js';

/** opcodes beyond nets/wasm-binary.ts's table (kept here: the table belongs to nets/) */
const I32_AND = 0x71;

/** interleave the low (high) 4 int16 lanes of two vectors: [a0 b0 a1 b1 a2 b2 a3 b3] */
const INTERLEAVE_LO = [0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23];
const INTERLEAVE_HI = [8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31];

/** channels per register block: 4, or 1 where groups have fewer than 4 (depthwise) */
export type Nc = 1 | 4;
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
export function convFunc(perTile: boolean, NC: Nc, np: Np): Func {
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
