/**
 * The depthwise kernel of the SIMD path (wasm.ts adds it to its module; DotLayer.depthwise runs it).
 */
import { Code, I32, Op, Simd, V128, VOID, type Func } from '../../nets/wasm-binary.js';

/** i16x8.lt_s, i32.load16_u (beyond nets/wasm-binary.ts's table) */
const I16X8_LT_S = 0x2f;
const I32_LOAD16_U = 0x2f;

/** int16 lanes 0 … 7 */
const LANE_INDEX = [0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0];

/** locals beyond the ones dwFunc names: the second run's origin (i32) and its lane mask (v128) */
const BASE1 = 26;
const MASK = 27;

/** even int16 lanes of two vectors: [a0 a2 a4 a6 b0 b2 b4 b6] */
const EVEN16 = [0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29];

/** int16 lanes 0–3 of a and b interleaved (ILO), lanes 4–7 (IHI): [a0 b0 a1 b1 …] */
const ILO = [0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23];
const IHI = [8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31];

/**
 * Σ over the kp taps into A0 (positions 0–3) and A1 (4–7) of the block at BASE: the 8 inputs of
 * a tap consecutive (`run`: one load), every other element (`stride2`: two loads, their even
 * lanes), or two runs (`two`: lanes where MASK is set from BASE, the others from BASE1). With
 * `lanes` (the unrolled kernel) taps go in pairs: the two taps' inputs interleaved, times the
 * pair's two weights with i32x4.dot_i16x8_s (two MACs a lane), each lane's byte offset and each
 * pair's weights read from locals the caller set once per call (OFF0 + l, WP0 + j).
 */
function tapLoop(c: Code, kind: 'run' | 'stride2' | 'two', lanes: number): void {
  const [LANE, KP, W] = [4, 5, 6];
  const [BASE, L, OFF] = [12, 13, 14];
  const [A0, A1, V, WV] = [20, 21, 22, 25];
  // the tap's 8 inputs, its byte offset pushed by off(), into local `into`
  const load = (off: () => void, into: number): void => {
    c.get(BASE);
    off();
    if (kind === 'run') c.op(Op.I32Add).simd(Simd.Load).mem(1, 0).set(into);
    else if (kind === 'stride2') c.op(Op.I32Add).tee(OFF).simd(Simd.Load).mem(1, 0).get(OFF).simd(Simd.Load).mem(1, 16).simd(Simd.Shuffle).op(...EVEN16).set(into);
    else {
      c.op(Op.I32Add).simd(Simd.Load).mem(1, 0);
      c.get(BASE1);
      off();
      c.op(Op.I32Add).simd(Simd.Load).mem(1, 0);
      c.get(MASK).simd(Simd.V128Bitselect).set(into);
    }
  };
  if (lanes > 0 && kind === 'stride2') {
    // raster 3×3 lanes: row r's taps 3r, 3r+1 adjacent — a raw load's lane pairs are those two taps
    // of positions 0–3 (the next 16 bytes: 4–7); tap 3r+2 the same with weight 0 for its neighbour
    for (let r = 0; r < 3; r++) {
      for (const [lane, wv] of [[3 * r, WS0(lanes) + r], [3 * r + 2, WS0(lanes) + 3 + r]]) {
        c.get(BASE).get(OFF0 + lane).op(Op.I32Add).tee(OFF);
        c.simd(Simd.Load).mem(1, 0).get(wv).simd(Simd.I32x4DotI16x8S).get(A0).simd(Simd.I32x4Add).set(A0);
        c.get(OFF).simd(Simd.Load).mem(1, 16).get(wv).simd(Simd.I32x4DotI16x8S).get(A1).simd(Simd.I32x4Add).set(A1);
      }
    }
    return;
  }
  if (lanes > 0) {
    for (let j = 0; j < lanes / 2; j++) {
      load(() => c.get(OFF0 + 2 * j), V);
      load(() => c.get(OFF0 + 2 * j + 1), WV);
      c.get(A0).get(V).get(WV).simd(Simd.Shuffle).op(...ILO).get(WP0(lanes) + j).simd(Simd.I32x4DotI16x8S).simd(Simd.I32x4Add).set(A0);
      c.get(A1).get(V).get(WV).simd(Simd.Shuffle).op(...IHI).get(WP0(lanes) + j).simd(Simd.I32x4DotI16x8S).simd(Simd.I32x4Add).set(A1);
    }
    return;
  }
  c.i32(0).set(L);
  c.op(Op.Loop, VOID);
  {
    // the tap's offset from a position's origin, in bytes: 2·lane[l]
    load(() => c.get(LANE).get(L).i32(2).op(Op.I32Shl, Op.I32Add).op(Op.I32Load).mem(2, 0).i32(1).op(Op.I32Shl), V);
    c.get(W).get(L).i32(1).op(Op.I32Shl, Op.I32Add).op(Op.I32Load16S).mem(1, 0).simd(Simd.I16x8Splat).set(WV);
    c.get(A0).get(V).get(WV).simd(Simd.I32x4ExtMulLowI16x8S).simd(Simd.I32x4Add).set(A0);
    c.get(A1).get(V).get(WV).simd(Simd.I32x4ExtMulHighI16x8S).simd(Simd.I32x4Add).set(A1);
    c.countUp(L, KP);
  }
  c.op(Op.End);
}

/** the unrolled kernel's locals: each lane's byte offset (i32, from OFF0), each lane pair's weights splat (v128, from WP0) */
const OFF0 = 28;
const WP0 = (lanes: number): number => OFF0 + lanes;
/** the raster kernel's stride-2 weights: (w[3r], w[3r+1]) for r = 0…2, then (w[3r+2], 0) (v128) */
const WS0 = (lanes: number): number => WP0(lanes) + lanes / 2;

/**
 * dw(xin, pos, P, gOff, lane, kp, w, init, out, flags) → max |sum|: one channel of a depthwise
 * layer with one tile (a proved layer: exact int32 sums), output position blocks of 8. Where a
 * block's 8 receptive fields are consecutive in memory (flags[block] = 1: stride 1 within an
 * output row) a tap is one vector load of the 8 positions' inputs times the tap's weight
 * (i32x4.extmul_low/high_i16x8_s) — no gather; where they are every other element (flags = 2:
 * stride 2) two vector loads and one shuffle of their even lanes (the second load may read one
 * element past the last input: the operand input has 16 bytes of slack); where they are two
 * consecutive runs — the first k positions, then the rest from another origin (flags = 2 + k,
 * k = 1…7: a stride-1 block across an output row or an image) — two vector loads, lanes < k from
 * the first and the rest from the second (v128.bitselect); other blocks one position at a time.
 * The sums are exact integers, so their order does not matter: the outputs equal conv1x2's.
 * Out: int32 [P] (blocks of 8 written whole: the row stride is a multiple of 8).
 * `lanes` = 10 (dw10, for a 3×3 kernel: lanes 0–8 its taps in raster order — lanes 3r, 3r+1, 3r+2
 * consecutive inputs — and lane 9 of weight 0): the vector blocks' taps unrolled, offsets and
 * weights read once per call; consecutive blocks' taps in pairs (two taps' inputs interleaved,
 * i32x4.dot_i16x8_s: two MACs a lane), stride-2 blocks' raw loads (a load's lane pairs are one
 * row's first two taps of four positions; its third tap the same against a weight of 0).
 */
export function dwFunc(lanes = 0): Func {
  const [XIN, POS, P, GOFF, LANE, KP, W, INIT, OUT, FLAGS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [PB, NPB, BASE, L, OFF, S, I, N, MAX, F] = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
  const [A0, A1, V, VI, VMAX, WV] = [20, 21, 22, 23, 24, 25];
  const c = new Code();
  c.get(INIT).op(Op.I32Load).mem(2, 0).simd(Simd.I32x4Splat).set(VI);
  for (let l = 0; l < lanes; l++) c.get(LANE).op(Op.I32Load).mem(2, 4 * l).i32(1).op(Op.I32Shl).set(OFF0 + l);
  // lanes 2j and 2j+1's int16 weights, one int32 (little-endian: 2j in the low half), in every lane
  for (let j = 0; j < lanes / 2; j++) c.get(W).op(Op.I32Load).mem(1, 4 * j).simd(Simd.I32x4Splat).set(WP0(lanes) + j);
  if (lanes > 0) {
    for (let r = 0; r < 3; r++) {
      c.get(W).op(Op.I32Load).mem(0, 6 * r).simd(Simd.I32x4Splat).set(WS0(lanes) + r);
      c.get(W).op(I32_LOAD16_U).mem(1, 6 * r + 4).simd(Simd.I32x4Splat).set(WS0(lanes) + 3 + r);
    }
  }
  c.get(P).i32(7).op(Op.I32Add).i32(3).op(Op.I32ShrU).set(NPB);
  c.i32(0).set(PB);
  c.op(Op.Block, VOID);
  c.get(NPB).op(Op.I32Eqz, Op.BrIf, 0);
  c.op(Op.Loop, VOID);
  {
    // n = min(8, P − 8·pb)
    c.get(P).get(PB).i32(3).op(Op.I32Shl, Op.I32Sub).set(N);
    c.i32(8).get(N).get(N).i32(8).op(Op.I32GtU, Op.Select).set(N);
    c.get(FLAGS).get(PB).op(Op.I32Add).op(Op.I32Load8U).mem(0, 0).tee(F);
    c.op(Op.If, VOID);
    {
      // the block's origin (bytes): xin + 2·(pos[8·pb] + gOff)
      c.get(XIN).get(POS).get(PB).i32(5).op(Op.I32Shl, Op.I32Add).op(Op.I32Load).mem(2, 0).get(GOFF).op(Op.I32Add).i32(1).op(Op.I32Shl, Op.I32Add).set(BASE);
      c.get(VI).set(A0);
      c.get(VI).set(A1);
      c.get(F).i32(1).op(Op.I32Eq);
      c.op(Op.If, VOID);
      tapLoop(c, 'run', lanes);
      c.op(Op.Else);
      {
        c.get(F).i32(2).op(Op.I32Eq);
        c.op(Op.If, VOID);
        tapLoop(c, 'stride2', lanes);
        c.op(Op.Else);
        {
          // two runs: k = F − 2 positions from BASE, the rest from the origin of position 8·pb + k, shifted k lanes down
          c.get(F).i32(2).op(Op.I32Sub).set(I);
          c.get(XIN).get(POS).get(PB).i32(3).op(Op.I32Shl).get(I).op(Op.I32Add).i32(2).op(Op.I32Shl, Op.I32Add).op(Op.I32Load).mem(2, 0).get(GOFF).op(Op.I32Add).get(I).op(Op.I32Sub).i32(1).op(Op.I32Shl, Op.I32Add).set(BASE1);
          // lanes 0 … k−1 set: [0 … 7] < splat(k) as int16
          c.simd(Simd.Const).op(...LANE_INDEX).get(I).simd(Simd.I16x8Splat).simd(I16X8_LT_S).set(MASK);
          tapLoop(c, 'two', lanes);
        }
        c.op(Op.End);
      }
      c.op(Op.End);
      c.get(OUT).get(PB).i32(5).op(Op.I32Shl, Op.I32Add).get(A0).simd(Simd.Store).mem(2, 0);
      c.get(OUT).get(PB).i32(5).op(Op.I32Shl, Op.I32Add).get(A1).simd(Simd.Store).mem(2, 16);
      c.get(VMAX).get(A0).simd(Simd.I32x4Abs).simd(Simd.I32x4MaxU).get(A1).simd(Simd.I32x4Abs).simd(Simd.I32x4MaxU).set(VMAX);
    }
    c.op(Op.Else);
    {
      // one position at a time: s = init + Σ_l w[l]·xin[pos[p] + gOff + lane[l]]
      c.i32(0).set(I);
      c.op(Op.Loop, VOID);
      {
        c.get(XIN).get(POS).get(PB).i32(3).op(Op.I32Shl).get(I).op(Op.I32Add).i32(2).op(Op.I32Shl, Op.I32Add).op(Op.I32Load).mem(2, 0).get(GOFF).op(Op.I32Add).i32(1).op(Op.I32Shl, Op.I32Add).set(BASE);
        c.get(INIT).op(Op.I32Load).mem(2, 0).set(S);
        c.i32(0).set(L);
        c.op(Op.Loop, VOID);
        {
          c.get(BASE).get(LANE).get(L).i32(2).op(Op.I32Shl, Op.I32Add).op(Op.I32Load).mem(2, 0).i32(1).op(Op.I32Shl, Op.I32Add).op(Op.I32Load16S).mem(1, 0).set(OFF);
          c.get(S).get(OFF).get(W).get(L).i32(1).op(Op.I32Shl, Op.I32Add).op(Op.I32Load16S).mem(1, 0).op(Op.I32Mul, Op.I32Add).set(S);
          c.countUp(L, KP);
        }
        c.op(Op.End);
        c.get(OUT).get(PB).i32(3).op(Op.I32Shl).get(I).op(Op.I32Add).i32(2).op(Op.I32Shl, Op.I32Add).get(S).op(Op.I32Store).mem(2, 0);
        // |s| into the running maximum (unsigned: |s| < 2^31 in a proved layer)
        c.get(S).i32(31).op(Op.I32ShrS).set(OFF);
        c.get(S).get(OFF).op(Op.I32Xor).get(OFF).op(Op.I32Sub).set(S);
        c.get(S).get(MAX).get(S).get(MAX).op(Op.I32GtU, Op.Select).set(MAX);
        c.countUp(I, N);
      }
      c.op(Op.End);
    }
    c.op(Op.End);
    c.countUp(PB, NPB);
  }
  c.op(Op.End);
  c.op(Op.End);
  // fold the vector maximum into the scalar one
  for (let l = 0; l < 4; l++) {
    c.get(VMAX).simd(Simd.I32x4ExtractLane).op(l).set(S);
    c.get(S).get(MAX).get(S).get(MAX).op(Op.I32GtU, Op.Select).set(MAX);
  }
  c.get(MAX);
  c.op(Op.End);
  const unrolled = lanes > 0 ? [...new Array<number>(lanes).fill(I32), ...new Array<number>(lanes / 2 + 6).fill(V128)] : [];
  return { name: lanes > 0 ? `dw${lanes}` : 'dw', params: 10, results: [I32], locals: [...new Array<number>(10).fill(I32), ...new Array<number>(6).fill(V128), I32, V128, ...unrolled], body: c };
}
