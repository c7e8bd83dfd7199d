/**
 * Float-mode requantization (requant.ts `requantize`, mode 'float') in WebAssembly SIMD: the same
 * float32 operations in the same order, four lanes at a time —
 *   v = f32(f32(acc) · m)            f32x4.demote_f64x2_zero, f32x4.mul (both round to nearest even,
 *                                    as Math.fround does)
 *   v = lo < v ? v : lo              f32x4.pmax(lo, v): a NaN becomes lo, as `!(v >= lo)` does
 *   v = hi < v ? hi : v              f32x4.pmin(v, hi)
 *   y = roundHalfEven(v) + zy        f32x4.nearest (ties to even), i32x4.trunc_sat, i32x4.add
 * so its codes equal the JS loop's bit for bit (held by a test on random accumulators, every
 * rounding tie and both bounds). Why: the JS loop's data-dependent branches (the clamp below a
 * ReLU's zero, the tie test) mispredict on real activations and cost ~10 ns a value — a third of
 * a whole quantized network's time; this runs at well under 1 ns.
 *
 * It applies where every bound and the zero point are integers float32 holds exactly (|·| < 2^24:
 * outputs of ≤ 24 bits); `requantizeFloatWasm` returns false otherwise, or where WebAssembly SIMD
 * is missing, and the caller runs the JS loop.
 */
import { Code, F32, I32, instantiate, Op, Simd, V128, VOID, slots, type Func } from '../nets/wasm-binary.js';

const PAGE = 65536;
/** values per call: the accumulators (f64) and codes (i32) of one chunk stay near 12 MiB */
const CHUNK = 1 << 20;

/**
 * rq(src, dst, blocks, walk, run, mPtr, hiPtr, loPtr, zy): for each of `blocks` blocks, for each
 * of `walk` channels c, `run` accumulators at src (float64, or int32 for `input` 'i32': the SIMD
 * conv kernel's own output, converted with f32x4.convert_i32x4_s — the same round to nearest even)
 * → int32 codes at dst (dst = src works for int32), with multiplier f32 m[c], upper bound f32
 * hi[c], lower bound f32 lo (all already minus zy).
 */
export function rqFunc(name: string, input: 'f64' | 'i32'): Func {
  const wide = input === 'f64';
  const L = slots('SRC', 'DST', 'BLOCKS', 'WALK', 'RUN', 'MP', 'HP', 'LP', 'ZY', 'B', 'C', 'K', 'VM', 'VHI', 'VLO', 'VZY', 'VA', 'VB', 'SM', 'SHI', 'SLO', 'SV');
  const c = new Code();
  const shuffle = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
  c.get(L.LP).op(Op.F32Load).mem(2, 0).tee(L.SLO).simd(Simd.F32x4Splat).set(L.VLO);
  c.get(L.ZY).simd(Simd.I32x4Splat).set(L.VZY);
  c.get(L.BLOCKS).op(Op.I32Eqz, Op.If, VOID).op(Op.Else);
  c.i32(0).set(L.B);
  c.op(Op.Loop, VOID);
  {
    c.i32(0).set(L.C);
    c.op(Op.Loop, VOID);
    {
      c.get(L.MP).get(L.C).i32(2).op(Op.I32Shl, Op.I32Add).op(Op.F32Load).mem(2, 0).tee(L.SM).simd(Simd.F32x4Splat).set(L.VM);
      c.get(L.HP).get(L.C).i32(2).op(Op.I32Shl, Op.I32Add).op(Op.F32Load).mem(2, 0).tee(L.SHI).simd(Simd.F32x4Splat).set(L.VHI);
      c.get(L.RUN).set(L.K);
      // four values a step while at least four remain
      c.op(Op.Block, VOID).op(Op.Loop, VOID);
      c.get(L.K).i32(4).op(Op.I32LtS, Op.BrIf, 1);
      c.get(L.DST);
      c.get(L.VLO);
      if (wide) {
        c.get(L.SRC).simd(Simd.Load).mem(3, 0).simd(Simd.F32x4DemoteZero).set(L.VA);
        c.get(L.SRC).simd(Simd.Load).mem(3, 16).simd(Simd.F32x4DemoteZero).set(L.VB);
        c.get(L.VA).get(L.VB).simd(Simd.Shuffle).op(...shuffle);
      } else c.get(L.SRC).simd(Simd.Load).mem(2, 0).simd(Simd.F32x4ConvertI32x4S);
      c.get(L.VM).simd(Simd.F32x4Mul);
      c.simd(Simd.F32x4PMax).get(L.VHI).simd(Simd.F32x4PMin);
      c.simd(Simd.F32x4Nearest).simd(Simd.I32x4TruncSatF32x4S).get(L.VZY).simd(Simd.I32x4Add);
      c.simd(Simd.Store).mem(2, 0);
      c.addTo(L.SRC, wide ? 32 : 16).addTo(L.DST, 16);
      c.get(L.K).i32(4).op(Op.I32Sub).set(L.K);
      c.op(Op.Br, 0).op(Op.End, Op.End);
      // the rest one at a time, the same operations on scalars
      c.op(Op.Block, VOID).op(Op.Loop, VOID);
      c.get(L.K).op(Op.I32Eqz, Op.BrIf, 1);
      if (wide) c.get(L.SRC).op(Op.F64Load).mem(3, 0).op(Op.F32DemoteF64);
      else c.get(L.SRC).op(Op.I32Load).mem(2, 0).op(Op.F32ConvertI32S);
      c.get(L.SM).op(Op.F32Mul).set(L.SV);
      // lo < v ? v : lo
      c.get(L.SV).get(L.SLO).get(L.SLO).get(L.SV).op(Op.F32Lt, Op.Select).set(L.SV);
      // hi < v ? hi : v
      c.get(L.SHI).get(L.SV).get(L.SHI).get(L.SV).op(Op.F32Lt, Op.Select).set(L.SV);
      c.get(L.DST).get(L.SV).op(Op.F32Nearest).op(Op.Prefix, 0x00).get(L.ZY).op(Op.I32Add).op(Op.I32Store).mem(2, 0);
      c.addTo(L.SRC, wide ? 8 : 4).addTo(L.DST, 4);
      c.get(L.K).i32(1).op(Op.I32Sub).set(L.K);
      c.op(Op.Br, 0).op(Op.End, Op.End);
      c.countUp(L.C, L.WALK);
    }
    c.op(Op.End);
    c.countUp(L.B, L.BLOCKS);
  }
  c.op(Op.End);
  c.op(Op.End);
  c.op(Op.End);
  return { name, params: 9, locals: [I32, I32, I32, V128, V128, V128, V128, V128, V128, F32, F32, F32, F32], body: c };
}

export type RqFn = (src: number, dst: number, blocks: number, walk: number, run: number, mPtr: number, hPtr: number, lPtr: number, zy: number) => void;

interface Instance {
  memory: WebAssembly.Memory;
  rq: RqFn;
}

let instance: Instance | null | undefined;

function rqInstance(): Instance | null {
  if (instance === undefined) {
    const made = instantiate<{ rq: RqFn }>([rqFunc('rq', 'f64')]);
    instance = made && { memory: made.memory, rq: made.exports.rq };
  }
  return instance;
}

/** An integer float32 holds exactly and well inside int32 (the bounds and zero point the kernels take). */
export function exactF32(v: number): boolean {
  return Number.isInteger(v) && Math.abs(v) < 2 ** 24;
}

/**
 * y[i] for acc laid out as `blocks` × `walk` channels × `run` values (requantize's walk), channel
 * c with multiplier mult[c] and bounds [lo, his[c]] (integers, already minus zy). False (nothing
 * written) where the bounds or zy are not exact float32 integers below 2^24, or WebAssembly SIMD
 * is unavailable.
 */
export function requantizeFloatWasm(acc: Float64Array, y: Int32Array, blocks: number, walk: number, run: number, mult: Float32Array, lo: number, his: Float64Array, zy: number): boolean {
  if (!exactF32(lo) || !exactF32(zy)) return false;
  for (let c = 0; c < walk; c++) if (!exactF32(his[c])) return false;
  const inst = rqInstance();
  if (!inst) return false;
  // one call per chunk of whole blocks; a per-tensor walk (one channel) is cut into runs of CHUNK
  const perBlock = walk * run;
  const split = walk === 1 && run > CHUNK;
  const step = split ? CHUNK : Math.max(1, Math.floor(CHUNK / Math.max(1, perBlock)));
  const chunkValues = split ? CHUNK : Math.min(blocks, step) * perBlock;
  const mPtr = 0;
  const hPtr = mPtr + 4 * walk;
  const lPtr = hPtr + 4 * walk;
  const src = (lPtr + 4 + 15) & ~15;
  const dst = src + 8 * chunkValues;
  const end = dst + 4 * chunkValues;
  const have = inst.memory.buffer.byteLength;
  if (end > have) inst.memory.grow(Math.ceil((end - have) / PAGE));
  const buf = inst.memory.buffer;
  new Float32Array(buf, mPtr, walk).set(mult.subarray(0, walk));
  const hv = new Float32Array(buf, hPtr, walk);
  for (let c = 0; c < walk; c++) hv[c] = his[c];
  new Float32Array(buf, lPtr, 1)[0] = lo;
  const accView = new Float64Array(buf, src, chunkValues);
  const outView = new Int32Array(buf, dst, chunkValues);
  if (split) {
    for (let at = 0; at < run; at += CHUNK) {
      const n = Math.min(CHUNK, run - at);
      accView.set(acc.subarray(at, at + n));
      inst.rq(src, dst, 1, 1, n, mPtr, hPtr, lPtr, zy);
      y.set(outView.subarray(0, n), at);
    }
    return true;
  }
  for (let b = 0; b < blocks; b += step) {
    const nb = Math.min(step, blocks - b);
    const from = b * perBlock;
    const n = nb * perBlock;
    accView.set(acc.subarray(from, from + n));
    inst.rq(src, dst, nb, walk, run, mPtr, hPtr, lPtr, zy);
    y.set(outView.subarray(0, n), from);
  }
  return true;
}
