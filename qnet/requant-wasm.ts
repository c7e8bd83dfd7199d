/**
 * Float-mode requantization (requant.ts `requantize`, mode 'float') in WebAssembly SIMD: the same
 * float32 operations in the same order, four lanes at a time —
 *   v = f32(f32(acc) · m)            f32x4.demote_f64x2_zero, f32x4.mul (both round to nearest even,
 *                                    as Math.fround does)
 *   v = lo < v ? v : lo              f32x4.pmax(lo, v): a NaN becomes lo, as `!(v >= lo)` does
 *   v = hi < v ? hi : v              f32x4.pmin(v, hi)
 *   y = roundHalfEven(v) + zy        f32x4.add of 1.5·2^23: |v| < 2^22 (the bounds), so the sum lies
 *                                    in [2^23, 2^24), where float32's spacing is 1 and the add rounds
 *                                    to the nearest integer, ties to even (1.5·2^23 is even); its bits
 *                                    minus those of 1.5·2^23 are that integer — i32x4.sub of
 *                                    (bits(1.5·2^23) − zy) adds zy too. Two instructions where
 *                                    f32x4.nearest + i32x4.trunc_sat + add are ~10 on x64 (V8
 *                                    expands trunc_sat's NaN and overflow handling)
 * so its codes equal the JS loop's bit for bit (held by a test on random accumulators, every
 * rounding tie and both bounds). Why: the JS loop's data-dependent branches (the clamp below a
 * ReLU's zero, the tie test) mispredict on real activations and cost ~10 ns a value — a third of
 * a whole quantized network's time; this runs at well under 1 ns.
 *
 * It applies where every bound and the zero point are integers below 2^22 in magnitude (outputs of
 * ≤ 22 bits: inRoundRange); `requantizeFloatWasm` returns false otherwise, or where WebAssembly
 * SIMD is missing, and the caller runs the JS loop.
 */
import { Code, F32, I32, instantiate, Op, Simd, V128, VOID, slots, type Func } from '../nets/wasm-binary.js';

const PAGE = 65536;
/** values per call: the accumulators (f64) and codes (i32) of one chunk stay near 12 MiB */
const CHUNK = 1 << 20;

/**
 * rq(src, dst, blocks, walk, run, mPtr, hPtr, lPtr, zy, dstSkip, blockSkip, shared): for each of
 * `blocks` blocks, for each of `walk` channels c, `run` accumulators at src (float64, or int32 for
 * `input` 'i32': the SIMD conv kernel's own output, converted with f32x4.convert_i32x4_s — the
 * same round to nearest even) → int32 codes at dst (dst = src works for int32), with multiplier
 * f32 m[c], upper bound f32 hi[c], lower bound f32 lo (all already minus zy); after each channel's
 * run dst skips `dstSkip` bytes (0, or left out: contiguous — a channel row's images can land in
 * NCHW), after each block `blockSkip` more. `shared` ≠ 0: every walk step takes channel 0's
 * parameters (the walk is the rows of one channel). `out` 'i16': int16 codes (the caller's zy
 * may carry an offset: a conv's operand input, minus its z_x, in its padded rows). `input` 'f32q':
 * float32 values divided by m[c] instead (f32x4.div: QuantizeLinear's x / s, qmath.ts).
 */
export function rqFunc(name: string, input: 'f64' | 'i32' | 'f32q', out: 'i32' | 'i16' = 'i32'): Func {
  const wide = input === 'f64';
  const L = slots('SRC', 'DST', 'BLOCKS', 'WALK', 'RUN', 'MP', 'HP', 'LP', 'ZY', 'DSKIP', 'BSKIP', 'SHARED', 'B', 'C', 'K', 'VM', 'VHI', 'VLO', 'VZY', 'VA', 'VB', 'VMAG', 'SM', 'SHI', 'SLO', 'SV');
  const c = new Code();
  c.get(L.LP).op(Op.F32Load).mem(2, 0).tee(L.SLO).simd(Simd.F32x4Splat).set(L.VLO);
  // the vector path's rounding constant and bits(1.5·2^23) − zy (see the file comment)
  c.i32(MAGIC_BITS).simd(Simd.I32x4Splat).set(L.VMAG);
  c.i32(MAGIC_BITS).get(L.ZY).op(Op.I32Sub).simd(Simd.I32x4Splat).set(L.VZY);
  walk(c, L, wide, out, {
    channel: () => {
      c.get(L.MP);
      channelOf(c, L);
      c.i32(2).op(Op.I32Shl, Op.I32Add).op(Op.F32Load).mem(2, 0).tee(L.SM).simd(Simd.F32x4Splat).set(L.VM);
      c.get(L.HP);
      channelOf(c, L);
      c.i32(2).op(Op.I32Shl, Op.I32Add).op(Op.F32Load).mem(2, 0).tee(L.SHI).simd(Simd.F32x4Splat).set(L.VHI);
    },
    vec: () => {
      c.get(L.DST);
      c.get(L.VLO);
      if (wide) {
        c.get(L.SRC).simd(Simd.Load).mem(3, 0).simd(Simd.F32x4DemoteZero).set(L.VA);
        c.get(L.SRC).simd(Simd.Load).mem(3, 16).simd(Simd.F32x4DemoteZero).set(L.VB);
        c.get(L.VA).get(L.VB).simd(Simd.Shuffle).op(...LOW_PAIRS);
      } else if (input === 'i32') c.get(L.SRC).simd(Simd.Load).mem(2, 0).simd(Simd.F32x4ConvertI32x4S);
      else c.get(L.SRC).simd(Simd.Load).mem(2, 0);
      c.get(L.VM).simd(input === 'f32q' ? F32X4_DIV : Simd.F32x4Mul);
      c.simd(Simd.F32x4PMax).get(L.VHI).simd(Simd.F32x4PMin);
      c.get(L.VMAG).simd(Simd.F32x4Add).get(L.VZY).simd(Simd.I32x4Sub);
      storeVec(c, out, L.VA);
    },
    scalar: () => {
      if (wide) c.get(L.SRC).op(Op.F64Load).mem(3, 0).op(Op.F32DemoteF64);
      else if (input === 'i32') c.get(L.SRC).op(Op.I32Load).mem(2, 0).op(Op.F32ConvertI32S);
      else c.get(L.SRC).op(Op.F32Load).mem(2, 0);
      c.get(L.SM).op(input === 'f32q' ? F32_DIV : Op.F32Mul).set(L.SV);
      // lo < v ? v : lo
      c.get(L.SV).get(L.SLO).get(L.SLO).get(L.SV).op(Op.F32Lt, Op.Select).set(L.SV);
      // hi < v ? hi : v
      c.get(L.SHI).get(L.SV).get(L.SHI).get(L.SV).op(Op.F32Lt, Op.Select).set(L.SV);
      c.get(L.DST).get(L.SV).op(Op.F32Nearest).op(Op.Prefix, 0x00).get(L.ZY).op(Op.I32Add);
      storeScalar(c, out);
    },
  });
  c.op(Op.End);
  return { name, params: 12, locals: [I32, I32, I32, V128, V128, V128, V128, V128, V128, V128, F32, F32, F32, F32], body: c };
}

/** the float32 bits of 1.5·2^23: v + 1.5·2^23 rounds |v| < 2^22 to an integer, ties to even */
const MAGIC_BITS = 0x4b400000;

/** f32x4.div, f32.div, i16x8.narrow_i32x4_s, v128.store64_lane (beyond nets/wasm-binary.ts's table) */
const F32X4_DIV = 0xe7;
const F32_DIV = 0x95;
const I16X8_NARROW_I32X4_S = 0x85;
const V128_STORE64_LANE = 0x5b;

/** Stores the i32x4 on the stack at the DST pushed before it: as it is, or narrowed to int16 (through local `tmp`). */
function storeVec(c: Code, out: 'i32' | 'i16', tmp: number): void {
  if (out === 'i32') c.simd(Simd.Store).mem(2, 0);
  else c.tee(tmp).get(tmp).simd(I16X8_NARROW_I32X4_S).simd(V128_STORE64_LANE).mem(1, 0).op(0);
}

function storeScalar(c: Code, out: 'i32' | 'i16'): void {
  c.op(out === 'i32' ? Op.I32Store : Op.I32Store16).mem(out === 'i32' ? 2 : 1, 0);
}

/** Pushes the walk step's channel: C, or 0 where SHARED is set. */
function channelOf(c: Code, L: { readonly C: number; readonly SHARED: number }): void {
  c.i32(0).get(L.C).get(L.SHARED).op(Op.Select);
}

/** lanes 0–1 of two vectors of 2 × 64 bits, as one of 4 × 32 (after a demote or truncation to the low half) */
const LOW_PAIRS = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];

/**
 * The walk both requantizers share: for each of BLOCKS blocks, for each of WALK channels C (after
 * `channel` loads its parameters), RUN values — `vec` four at a time while four remain, then
 * `scalar` one at a time (`out` 'i16', a run of ≥ 4: one more `vec` ending at the run's end
 * instead); SRC advances by 8 bytes a value (`wide`: float64) or 4, DST by 4 (`out` 'i16': 2), and
 * by DSKIP more after each channel's run, BSKIP more after each block.
 */
function walk(c: Code, L: { readonly SRC: number; readonly DST: number; readonly BLOCKS: number; readonly WALK: number; readonly RUN: number; readonly DSKIP: number; readonly BSKIP: number; readonly B: number; readonly C: number; readonly K: number }, wide: boolean, out: 'i32' | 'i16', body: { channel: () => void; vec: () => void; scalar: () => void }): void {
  const db = out === 'i32' ? 4 : 2;
  c.get(L.BLOCKS).op(Op.I32Eqz, Op.If, VOID).op(Op.Else);
  c.i32(0).set(L.B);
  c.op(Op.Loop, VOID);
  {
    c.i32(0).set(L.C);
    c.op(Op.Loop, VOID);
    {
      body.channel();
      c.get(L.RUN).set(L.K);
      c.op(Op.Block, VOID).op(Op.Loop, VOID);
      c.get(L.K).i32(4).op(Op.I32LtS, Op.BrIf, 1);
      body.vec();
      c.addTo(L.SRC, wide ? 32 : 16).addTo(L.DST, 4 * db);
      c.get(L.K).i32(4).op(Op.I32Sub).set(L.K);
      c.op(Op.Br, 0).op(Op.End, Op.End);
      if (out === 'i16') {
        // never in place: a tail of 1–3 values as one more vector ending at the run's end, over
        // values already written (the same codes again) — rows of a padded layout are short
        c.get(L.K).op(Op.I32Eqz).get(L.RUN).i32(4).op(Op.I32LtS).op(Op.I32Or).op(Op.I32Eqz, Op.If, VOID);
        c.get(L.SRC).get(L.K).i32(4).op(Op.I32Sub).i32(wide ? 3 : 2).op(Op.I32Shl, Op.I32Add).set(L.SRC);
        c.get(L.DST).get(L.K).i32(4).op(Op.I32Sub).i32(1).op(Op.I32Shl, Op.I32Add).set(L.DST);
        body.vec();
        c.addTo(L.SRC, wide ? 32 : 16).addTo(L.DST, 4 * db);
        c.i32(0).set(L.K);
        c.op(Op.End);
      }
      c.op(Op.Block, VOID).op(Op.Loop, VOID);
      c.get(L.K).op(Op.I32Eqz, Op.BrIf, 1);
      body.scalar();
      c.addTo(L.SRC, wide ? 8 : 4).addTo(L.DST, db);
      c.get(L.K).i32(1).op(Op.I32Sub).set(L.K);
      c.op(Op.Br, 0).op(Op.End, Op.End);
      c.addLocal(L.DST, L.DSKIP);
      c.countUp(L.C, L.WALK);
    }
    c.op(Op.End);
    c.addLocal(L.DST, L.BSKIP);
    c.countUp(L.B, L.BLOCKS);
  }
  c.op(Op.End);
  c.op(Op.End);
}

/** the v128 and scalar locals one fixed-point multiplier (FixedMultiplier, double rounding) needs */
interface MbqmLocals {
  /** v128: the multiplier, 2^ls, the RoundingDivideByPOT mask and half-mask (splat) */
  readonly VM: number;
  readonly VLS: number;
  readonly VMASK: number;
  readonly VHALF: number;
  /** i32: the same as scalars, and the right shift */
  readonly SM: number;
  readonly SLS: number;
  readonly SMASK: number;
  readonly SHALF: number;
  readonly SRS: number;
}

const LOW_HALVES = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];

/** Loads a channel record {m, 2^ls, rs} at the i32 address on the stack into `k` (scalars and splats). */
function loadMbqm(c: Code, addr: () => void, k: MbqmLocals): void {
  addr();
  c.op(Op.I32Load).mem(2, 0).tee(k.SM).simd(Simd.I32x4Splat).set(k.VM);
  addr();
  c.op(Op.I32Load).mem(2, 4).tee(k.SLS).simd(Simd.I32x4Splat).set(k.VLS);
  addr();
  c.op(Op.I32Load).mem(2, 8).set(k.SRS);
  c.i32(1).get(k.SRS).op(Op.I32Shl).i32(1).op(Op.I32Sub).tee(k.SMASK).simd(Simd.I32x4Splat).set(k.VMASK);
  c.get(k.SMASK).i32(1).op(Op.I32ShrU).tee(k.SHALF).simd(Simd.I32x4Splat).set(k.VHALF);
}

/**
 * i32x4 x on the stack → MultiplyByQuantizedMultiplier(x) (double rounding) on the stack:
 *   xs = x · 2^ls (wrapping)          i32x4.mul (0 past 31, as Math.imul)
 *   h  = SRDHM(xs, m)                 (xs·m + 2^30) >> 31 on i64x2 extended products: gemmlowp's
 *                                     nudge 1 − 2^30 for a negative product and division toward
 *                                     zero come to the same floor; m ≥ 0 rules out its saturation
 *   r  = RoundingDivideByPOT(h, rs)   (h >> rs) + ((h & mask) > mask/2 + (h < 0))
 * `vn` holds 2^30 in both i64 lanes; `va`, `vh` are scratch.
 */
function mbqmVec(c: Code, k: MbqmLocals, vn: number, va: number, vh: number): void {
  c.get(k.VLS).simd(Simd.I32x4Mul).tee(va);
  c.get(k.VM).simd(Simd.I64x2ExtMulLowI32x4S).get(vn).simd(Simd.I64x2Add).i32(31).simd(Simd.I64x2ShrS);
  c.get(va).get(k.VM).simd(Simd.I64x2ExtMulHighI32x4S).get(vn).simd(Simd.I64x2Add).i32(31).simd(Simd.I64x2ShrS);
  c.simd(Simd.Shuffle).op(...LOW_HALVES).tee(vh);
  c.get(k.SRS).simd(Simd.I32x4ShrS);
  c.get(vh).get(k.VMASK).simd(Simd.V128And);
  c.get(k.VHALF).get(vh).i32(31).simd(Simd.I32x4ShrS).simd(Simd.I32x4Sub);
  // gt_s is −1 where the remainder rounds up: subtracting it adds one
  c.simd(Simd.I32x4GtS).simd(Simd.I32x4Sub);
}

/** mbqmVec on one i32 on the stack, the result on the stack; `sv` is scratch. */
function mbqmScalar(c: Code, k: MbqmLocals, sv: number): void {
  c.get(k.SLS).op(Op.I32Mul).op(Op.I64ExtendI32S).get(k.SM).op(Op.I64ExtendI32S).op(Op.I64Mul).i64(2 ** 30).op(Op.I64Add).i64(31).op(Op.I64ShrS).op(Op.I32WrapI64).set(sv);
  c.get(sv).get(k.SRS).op(Op.I32ShrS);
  c.get(sv).get(k.SMASK).op(Op.I32And).get(k.SHALF).get(sv).i32(31).op(Op.I32ShrU).op(Op.I32Add).op(Op.I32GtS).op(Op.I32Add);
}

/** v = min(max(v, lo), hi) + zy on the stack (i32x4), bounds minus zy so the add cannot wrap */
function clampAddVec(c: Code, vlo: number, vhi: number, vzy: number): void {
  c.get(vlo).simd(Simd.I32x4MaxS).get(vhi).simd(Simd.I32x4MinS).get(vzy).simd(Simd.I32x4Add);
}

/** the same on a scalar held in `sv` (left on the stack) */
function clampAddScalar(c: Code, sv: number, slo: number, shi: number, zy: number): void {
  c.get(slo).get(sv).get(sv).get(slo).op(Op.I32LtS, Op.Select).set(sv);
  c.get(shi).get(sv).get(sv).get(shi).op(Op.I32GtS, Op.Select).set(sv);
  c.get(sv).get(zy).op(Op.I32Add);
}

/**
 * The fixed mode's double rounding (requant.ts `FixedMultiplier.apply`, gemmlowp) in SIMD:
 * x = sat32(acc) (i32x4.trunc_sat_f64x2_s_zero: accumulators are integers), or the kernel's int32
 * sums as they are; then mbqmVec; then y = min(max(r, lo), hi) + zy.
 * rqx(src, dst, blocks, walk, run, pPtr, hPtr, lPtr, zy, dstSkip, blockSkip, shared): the walk
 * and outputs of rqFunc; per channel c the int32 triple {m, 2^ls, rs} at pPtr + 12c, the upper
 * bound (int32) at hPtr + 4c, the lower at lPtr.
 */
export function rqFixedFunc(name: string, input: 'f64' | 'i32', out: 'i32' | 'i16' = 'i32'): Func {
  const wide = input === 'f64';
  const L = slots('SRC', 'DST', 'BLOCKS', 'WALK', 'RUN', 'PP', 'HP', 'LP', 'ZY', 'DSKIP', 'BSKIP', 'SHARED', 'B', 'C', 'K', 'SM', 'SLS', 'SRS', 'SMASK', 'SHALF', 'SHI', 'SLO', 'SV', 'VM', 'VLS', 'VMASK', 'VHALF', 'VHI', 'VLO', 'VZY', 'VN', 'VA', 'VH');
  const c = new Code();
  c.get(L.LP).op(Op.I32Load).mem(2, 0).tee(L.SLO).simd(Simd.I32x4Splat).set(L.VLO);
  c.get(L.ZY).simd(Simd.I32x4Splat).set(L.VZY);
  c.i64(2 ** 30).simd(Simd.I64x2Splat).set(L.VN);
  walk(c, L, wide, out, {
    channel: () => {
      loadMbqm(c, () => {
        c.get(L.PP);
        channelOf(c, L);
        c.i32(12).op(Op.I32Mul, Op.I32Add);
      }, L);
      c.get(L.HP);
      channelOf(c, L);
      c.i32(2).op(Op.I32Shl, Op.I32Add).op(Op.I32Load).mem(2, 0).tee(L.SHI).simd(Simd.I32x4Splat).set(L.VHI);
    },
    vec: () => {
      c.get(L.DST);
      if (wide) {
        c.get(L.SRC).simd(Simd.Load).mem(3, 0).simd(Simd.I32x4TruncSatF64x2SZero);
        c.get(L.SRC).simd(Simd.Load).mem(3, 16).simd(Simd.I32x4TruncSatF64x2SZero);
        c.simd(Simd.Shuffle).op(...LOW_PAIRS);
      } else c.get(L.SRC).simd(Simd.Load).mem(2, 0);
      mbqmVec(c, L, L.VN, L.VA, L.VH);
      clampAddVec(c, L.VLO, L.VHI, L.VZY);
      storeVec(c, out, L.VA);
    },
    scalar: () => {
      c.get(L.DST);
      // i32.trunc_sat_f64_s is 0xfc 0x02
      if (wide) c.get(L.SRC).op(Op.F64Load).mem(3, 0).op(Op.Prefix, 0x02);
      else c.get(L.SRC).op(Op.I32Load).mem(2, 0);
      mbqmScalar(c, L, L.SV);
      c.set(L.SV);
      clampAddScalar(c, L.SV, L.SLO, L.SHI, L.ZY);
      storeScalar(c, out);
    },
  });
  c.op(Op.End);
  return { name, params: 12, locals: [...Array<number>(11).fill(I32), ...Array<number>(10).fill(V128)], body: c };
}

/**
 * TFLite's integer Add (sim/qops.ts qlinearAdd, fixed mode) on two int32 code arrays of n values:
 *   xa = MBQM_a((a − za) · 2^ls), xb = MBQM_b((b − zb) · 2^ls), y = clamp(MBQM_o(xa + xb) + zc)
 * with the operand shift `ls` (20 for 8-bit operands, 15 up to 16 bits: no product wraps, and
 * |xa + xb| < 2^31 as both multipliers are ≤ 1/2).
 * addx(aPtr, bPtr, dst, n, pPtr, za, zb, ls, zc): pPtr holds three records {m, 2^ls, rs} (a, b,
 * out) and then lo, hi (the output range minus zc).
 */
export function addFixedFunc(name: string): Func {
  const L = slots(
    'A', 'B', 'DST', 'N', 'PP', 'ZA', 'ZB', 'LS', 'ZC',
    'K', 'SV', 'SLO', 'SHI',
    'aSM', 'aSLS', 'aSRS', 'aSMASK', 'aSHALF', 'bSM', 'bSLS', 'bSRS', 'bSMASK', 'bSHALF', 'oSM', 'oSLS', 'oSRS', 'oSMASK', 'oSHALF',
    'VN', 'VA', 'VH', 'VZA', 'VZB', 'VZC', 'VLO', 'VHI', 'VX',
    'aVM', 'aVLS', 'aVMASK', 'aVHALF', 'bVM', 'bVLS', 'bVMASK', 'bVHALF', 'oVM', 'oVLS', 'oVMASK', 'oVHALF',
  );
  const mk = (p: 'a' | 'b' | 'o'): MbqmLocals => {
    const r = L as unknown as Record<string, number>;
    return { VM: r[`${p}VM`], VLS: r[`${p}VLS`], VMASK: r[`${p}VMASK`], VHALF: r[`${p}VHALF`], SM: r[`${p}SM`], SLS: r[`${p}SLS`], SMASK: r[`${p}SMASK`], SHALF: r[`${p}SHALF`], SRS: r[`${p}SRS`] };
  };
  const ka = mk('a');
  const kb = mk('b');
  const ko = mk('o');
  const c = new Code();
  loadMbqm(c, () => c.get(L.PP), ka);
  loadMbqm(c, () => c.get(L.PP).i32(12).op(Op.I32Add), kb);
  loadMbqm(c, () => c.get(L.PP).i32(24).op(Op.I32Add), ko);
  c.get(L.PP).op(Op.I32Load).mem(2, 36).tee(L.SLO).simd(Simd.I32x4Splat).set(L.VLO);
  c.get(L.PP).op(Op.I32Load).mem(2, 40).tee(L.SHI).simd(Simd.I32x4Splat).set(L.VHI);
  c.get(L.ZA).simd(Simd.I32x4Splat).set(L.VZA);
  c.get(L.ZB).simd(Simd.I32x4Splat).set(L.VZB);
  c.get(L.ZC).simd(Simd.I32x4Splat).set(L.VZC);
  c.i64(2 ** 30).simd(Simd.I64x2Splat).set(L.VN);
  c.get(L.N).set(L.K);
  c.op(Op.Block, VOID).op(Op.Loop, VOID);
  c.get(L.K).i32(4).op(Op.I32LtS, Op.BrIf, 1);
  c.get(L.DST);
  c.get(L.A).simd(Simd.Load).mem(2, 0).get(L.VZA).simd(Simd.I32x4Sub).get(L.LS).simd(Simd.I32x4Shl);
  mbqmVec(c, ka, L.VN, L.VA, L.VH);
  c.set(L.VX);
  c.get(L.B).simd(Simd.Load).mem(2, 0).get(L.VZB).simd(Simd.I32x4Sub).get(L.LS).simd(Simd.I32x4Shl);
  mbqmVec(c, kb, L.VN, L.VA, L.VH);
  c.get(L.VX).simd(Simd.I32x4Add);
  mbqmVec(c, ko, L.VN, L.VA, L.VH);
  clampAddVec(c, L.VLO, L.VHI, L.VZC);
  c.simd(Simd.Store).mem(2, 0);
  c.addTo(L.A, 16).addTo(L.B, 16).addTo(L.DST, 16);
  c.get(L.K).i32(4).op(Op.I32Sub).set(L.K);
  c.op(Op.Br, 0).op(Op.End, Op.End);
  c.op(Op.Block, VOID).op(Op.Loop, VOID);
  c.get(L.K).op(Op.I32Eqz, Op.BrIf, 1);
  c.get(L.DST);
  c.get(L.A).op(Op.I32Load).mem(2, 0).get(L.ZA).op(Op.I32Sub).get(L.LS).op(Op.I32Shl);
  mbqmScalar(c, ka, L.SV);
  c.get(L.B).op(Op.I32Load).mem(2, 0).get(L.ZB).op(Op.I32Sub).get(L.LS).op(Op.I32Shl);
  mbqmScalar(c, kb, L.SV);
  c.op(Op.I32Add);
  mbqmScalar(c, ko, L.SV);
  c.set(L.SV);
  clampAddScalar(c, L.SV, L.SLO, L.SHI, L.ZC);
  c.op(Op.I32Store).mem(2, 0);
  c.addTo(L.A, 4).addTo(L.B, 4).addTo(L.DST, 4);
  c.get(L.K).i32(1).op(Op.I32Sub).set(L.K);
  c.op(Op.Br, 0).op(Op.End, Op.End);
  c.op(Op.End);
  return { name, params: 9, locals: [...Array<number>(19).fill(I32), ...Array<number>(21).fill(V128)], body: c };
}

export type RqFn = (src: number, dst: number, blocks: number, walk: number, run: number, mPtr: number, hPtr: number, lPtr: number, zy: number, dstSkip?: number, blockSkip?: number, shared?: number) => void;

export interface FixedChannels {
  /** per channel: the multiplier m0·2^(32−bits), 2^ls (wrapping int32, 0 past 31), the right shift */
  readonly m: Int32Array;
  readonly lsMul: Int32Array;
  readonly rs: Int32Array;
}

type AddFn = (a: number, b: number, dst: number, n: number, pPtr: number, za: number, zb: number, ls: number, zc: number) => void;

interface Instance {
  memory: WebAssembly.Memory;
  rq: RqFn;
  rqx: RqFn;
  addx: AddFn;
  quant: RqFn;
}

let instance: Instance | null | undefined;

function rqInstance(): Instance | null {
  if (instance === undefined) {
    const made = instantiate<{ rq: RqFn; rqx: RqFn; addx: AddFn; quant: RqFn }>([rqFunc('rq', 'f64'), rqFixedFunc('rqx', 'f64'), addFixedFunc('addx'), rqFunc('quant', 'f32q')]);
    instance = made && { memory: made.memory, rq: made.exports.rq, rqx: made.exports.rqx, addx: made.exports.addx, quant: made.exports.quant };
  }
  return instance;
}

/** An integer below 2^22 in magnitude: a bound or zero point the float requantizers take (their rounding adds 1.5·2^23, see the file comment). */
export function inRoundRange(v: number): boolean {
  return Number.isInteger(v) && Math.abs(v) < 2 ** 22;
}

/**
 * Runs `fn` over acc laid out as `blocks` × `walk` channels × `run` values in chunks of whole
 * blocks (a per-tensor walk is cut into runs of CHUNK), after `params` has written the channel
 * parameters at the start of memory and returned where they end and fn's (pPtr, hPtr, lPtr).
 */
function runChunked(
  inst: Instance,
  fn: RqFn,
  acc: Float64Array,
  y: Int32Array,
  blocks: number,
  walk: number,
  run: number,
  zy: number,
  paramBytes: number,
  params: (buf: ArrayBuffer) => readonly [number, number, number],
): void {
  const perBlock = walk * run;
  const split = walk === 1 && run > CHUNK;
  const step = split ? CHUNK : Math.max(1, Math.floor(CHUNK / Math.max(1, perBlock)));
  const chunkValues = split ? CHUNK : Math.min(blocks, step) * perBlock;
  const src = (paramBytes + 15) & ~15;
  const dst = src + 8 * chunkValues;
  const end = dst + 4 * chunkValues;
  const have = inst.memory.buffer.byteLength;
  if (end > have) inst.memory.grow(Math.ceil((end - have) / PAGE));
  const buf = inst.memory.buffer;
  const [pPtr, hPtr, lPtr] = params(buf);
  const accView = new Float64Array(buf, src, chunkValues);
  const outView = new Int32Array(buf, dst, chunkValues);
  if (split) {
    for (let at = 0; at < run; at += CHUNK) {
      const n = Math.min(CHUNK, run - at);
      accView.set(acc.subarray(at, at + n));
      fn(src, dst, 1, 1, n, pPtr, hPtr, lPtr, zy);
      y.set(outView.subarray(0, n), at);
    }
    return;
  }
  for (let b = 0; b < blocks; b += step) {
    const nb = Math.min(step, blocks - b);
    const from = b * perBlock;
    const n = nb * perBlock;
    accView.set(acc.subarray(from, from + n));
    fn(src, dst, nb, walk, run, pPtr, hPtr, lPtr, zy);
    y.set(outView.subarray(0, n), from);
  }
}

/**
 * y[i] for acc laid out as `blocks` × `walk` channels × `run` values (requantize's walk), channel
 * c with multiplier mult[c] and bounds [lo, his[c]] (integers, already minus zy). False (nothing
 * written) where the bounds or zy are not integers below 2^22 in magnitude, or WebAssembly SIMD
 * is unavailable.
 */
export function requantizeFloatWasm(acc: Float64Array, y: Int32Array, blocks: number, walk: number, run: number, mult: Float32Array, lo: number, his: Float64Array, zy: number): boolean {
  if (!inRoundRange(lo) || !inRoundRange(zy)) return false;
  for (let c = 0; c < walk; c++) if (!inRoundRange(his[c])) return false;
  const inst = rqInstance();
  if (!inst) return false;
  runChunked(inst, inst.rq, acc, y, blocks, walk, run, zy, 8 * walk + 4, (buf) => {
    new Float32Array(buf, 0, walk).set(mult.subarray(0, walk));
    const hv = new Float32Array(buf, 4 * walk, walk);
    for (let c = 0; c < walk; c++) hv[c] = his[c];
    new Float32Array(buf, 8 * walk, 1)[0] = lo;
    return [0, 4 * walk, 8 * walk];
  });
  return true;
}

/**
 * QuantizeLinear (qmath.ts quantizeLinear) of n float32 values with one scale and zero point, in
 * WebAssembly SIMD: v = f32(x / s) (f32x4.div), v = lo < v ? v : lo (a NaN becomes lo, as MAXPS
 * does), v = hi < v ? hi : v, code = roundHalfEven(v) + z — the JS loop's operations, so its codes
 * (held by a test). lo, hi: the code range minus z. False (nothing written) where the bounds or z
 * are not integers below 2^22 in magnitude, or WebAssembly SIMD is unavailable.
 */
export function quantizeFloatWasm(x: Float32Array, y: Int32Array, n: number, s: number, lo: number, hi: number, z: number): boolean {
  if (!inRoundRange(lo) || !inRoundRange(hi) || !inRoundRange(z)) return false;
  const inst = rqInstance();
  if (!inst) return false;
  const chunk = Math.min(n, CHUNK);
  const src = 64;
  const dst = src + 4 * chunk;
  const end = dst + 4 * chunk;
  const have = inst.memory.buffer.byteLength;
  if (end > have) inst.memory.grow(Math.ceil((end - have) / PAGE));
  const buf = inst.memory.buffer;
  const p = new Float32Array(buf, 0, 3);
  p[0] = s;
  p[1] = hi;
  p[2] = lo;
  const xv = new Float32Array(buf, src, chunk);
  const yv = new Int32Array(buf, dst, chunk);
  for (let at = 0; at < n; at += chunk) {
    const k = Math.min(chunk, n - at);
    xv.set(x.subarray(at, at + k));
    inst.quant(src, dst, 1, 1, k, 0, 4, 8, z);
    y.set(yv.subarray(0, k), at);
  }
  return true;
}

/** Writes the fixed mode's channel records {m, 2^ls, rs} at `at` (rqFixedFunc's pPtr layout). */
export function writeFixedChannels(buf: ArrayBuffer, at: number, f: FixedChannels, channels: number): void {
  const rec = new Int32Array(buf, at, 3 * channels);
  for (let c = 0; c < channels; c++) {
    rec[3 * c] = f.m[c];
    rec[3 * c + 1] = f.lsMul[c];
    rec[3 * c + 2] = f.rs[c];
  }
}

/**
 * requantize's fixed mode with double rounding on the same walk: per channel the FixedMultiplier
 * constants `f`, bounds [lo, his[c]] already minus zy (integers). False where WebAssembly SIMD is
 * unavailable (nothing written).
 */
export function requantizeFixedWasm(acc: Float64Array, y: Int32Array, blocks: number, walk: number, run: number, f: FixedChannels, lo: number, his: ArrayLike<number>, zy: number): boolean {
  const inst = rqInstance();
  if (!inst) return false;
  runChunked(inst, inst.rqx, acc, y, blocks, walk, run, zy, 16 * walk + 4, (buf) => {
    writeFixedChannels(buf, 0, f, walk);
    const hv = new Int32Array(buf, 12 * walk, walk + 1);
    for (let c = 0; c < walk; c++) hv[c] = his[c];
    hv[walk] = lo;
    return [0, 12 * walk, 16 * walk];
  });
  return true;
}

/** One fixed-point multiplier's constants (FixedMultiplier's, double rounding). */
export interface FixedConstants {
  readonly m: number;
  readonly lsMul: number;
  readonly rs: number;
}

/**
 * addFixedFunc over n values of two contiguous code arrays (broadcast operands expanded by the
 * caller) into y: multipliers for a, b and the output, operand shift `ls`, zero points, output
 * bounds [lo, hi] (codes, not minus zc). False where WebAssembly SIMD is unavailable.
 */
export function addFixedWasm(a: Int32Array, b: Int32Array, y: Int32Array, n: number, ma: FixedConstants, mb: FixedConstants, mo: FixedConstants, za: number, zb: number, ls: number, zc: number, lo: number, hi: number): boolean {
  const inst = rqInstance();
  if (!inst) return false;
  const pPtr = 0;
  const p = new Int32Array(inst.memory.buffer, pPtr, 11);
  [ma, mb, mo].forEach((f, i) => {
    p[3 * i] = f.m;
    p[3 * i + 1] = f.lsMul;
    p[3 * i + 2] = f.rs;
  });
  p[9] = lo - zc;
  p[10] = hi - zc;
  return pairChunks(inst.memory, 64, a, b, y, n, (aPtr, bPtr, dst, k) => {
    inst.addx(aPtr, bPtr, dst, k, pPtr, za, zb, ls, zc);
    return true;
  });
}

/**
 * Runs `fn` over a and b in chunks of up to CHUNK values, copied into `memory` from byte `at` on
 * (the memory grown to fit), each chunk's int32 results from `dst` into y; false as soon as fn
 * returns false (y then partly written).
 */
function pairChunks(memory: WebAssembly.Memory, at: number, a: Int32Array, b: Int32Array, y: Int32Array, n: number, fn: (aPtr: number, bPtr: number, dst: number, k: number) => boolean): boolean {
  const chunk = Math.min(n, CHUNK);
  const aPtr = at;
  const bPtr = aPtr + 4 * chunk;
  const dst = bPtr + 4 * chunk;
  const end = dst + 4 * chunk;
  const have = memory.buffer.byteLength;
  if (end > have) memory.grow(Math.ceil((end - have) / PAGE));
  const buf = memory.buffer;
  const av = new Int32Array(buf, aPtr, chunk);
  const bv = new Int32Array(buf, bPtr, chunk);
  const yv = new Int32Array(buf, dst, chunk);
  for (let from = 0; from < n; from += chunk) {
    const k = Math.min(chunk, n - from);
    av.set(a.subarray(from, from + k));
    bv.set(b.subarray(from, from + k));
    if (!fn(aPtr, bPtr, dst, k)) return false;
    y.set(yv.subarray(0, k), from);
  }
  return true;
}

/**
 * addt(a, b, dst, n, table, amin, bmin) → −1, or the first i whose operands fall outside the
 * table (nothing written from there): dst[i] = table[(a[i] − amin)·256 + (b[i] − bmin)] (int32
 * codes, an int32 table of 256 × 256) — a float-mode Add of two 8-bit operands as the table
 * sim/qops.ts builds from ORT's arithmetic. Why WebAssembly: the codes come from kernel memories,
 * and a JS loop over views of WebAssembly memory runs at about half the speed of one over plain
 * arrays.
 */
function addLookupFunc(name: string): Func {
  const L = slots('A', 'B', 'DST', 'N', 'T', 'AMIN', 'BMIN', 'I', 'U', 'W');
  const c = new Code();
  c.i32(0).set(L.I);
  c.op(Op.Block, VOID).op(Op.Loop, VOID);
  c.get(L.I).get(L.N).op(Op.I32GeU, Op.BrIf, 1);
  c.get(L.A).op(Op.I32Load).mem(2, 0).get(L.AMIN).op(Op.I32Sub).set(L.U);
  c.get(L.B).op(Op.I32Load).mem(2, 0).get(L.BMIN).op(Op.I32Sub).set(L.W);
  c.get(L.U).get(L.W).op(Op.I32Or).i32(8).op(Op.I32ShrU).op(Op.If, VOID).get(L.I).op(RETURN).op(Op.End);
  c.get(L.DST).get(L.T).get(L.U).i32(8).op(Op.I32Shl).get(L.W).op(Op.I32Or).i32(2).op(Op.I32Shl, Op.I32Add).op(Op.I32Load).mem(2, 0).op(Op.I32Store).mem(2, 0);
  c.addTo(L.A, 4).addTo(L.B, 4).addTo(L.DST, 4).addTo(L.I, 1);
  c.op(Op.Br, 0).op(Op.End, Op.End);
  c.i32(-1);
  c.op(Op.End);
  return { name, params: 7, results: [I32], locals: [I32, I32, I32], body: c };
}

/** return (beyond nets/wasm-binary.ts's table) */
const RETURN = 0x0f;

type AddLookupFn = (a: number, b: number, dst: number, n: number, table: number, amin: number, bmin: number) => number;

let lookup: { memory: WebAssembly.Memory; addt: AddLookupFn; table: Int32Array | null } | null | undefined;

const TABLE_BYTES = 4 * 65536;

/**
 * y[i] = table[(a[i] − amin)·256 + (b[i] − bmin)] for i < n in WebAssembly (addLookupFunc), in
 * chunks; false where WebAssembly is unavailable or an operand falls outside the table (the
 * caller then runs its own loop, which covers every value).
 */
export function addLookupWasm(a: Int32Array, b: Int32Array, y: Int32Array, n: number, table: Int32Array, amin: number, bmin: number): boolean {
  if (lookup === undefined) {
    const made = instantiate<{ addt: AddLookupFn }>([addLookupFunc('addt')]);
    lookup = made && { memory: made.memory, addt: made.exports.addt, table: null };
  }
  const inst = lookup;
  if (!inst) return false;
  const have = inst.memory.buffer.byteLength;
  if (TABLE_BYTES > have) inst.memory.grow(Math.ceil((TABLE_BYTES - have) / PAGE));
  // the table stays in memory between calls (sim/qops.ts caches tables: the same one is the same object)
  if (inst.table !== table) {
    new Int32Array(inst.memory.buffer, 0, 65536).set(table);
    inst.table = table;
  }
  return pairChunks(inst.memory, TABLE_BYTES, a, b, y, n, (aPtr, bPtr, dst, k) => inst.addt(aPtr, bPtr, dst, k, 0, amin, bmin) < 0);
}
