/**
 * quantizer.ts's quantErrorSse in WebAssembly, for the MSE range searches (ranges.ts
 * weightRangeMse: up to 800 candidate ranges, each a pass over a channel's weights — most of a W4
 * PTQ run's time). The same IEEE double operations in the same order as the JS loop —
 *   v = f32(x / scale); clamp to [lo, hi] (a NaN to lo); d = x − f32(roundHalfEven(v))·scale;
 *   sse += d·d, one weight after the other
 * — with f64.nearest for the rounding (ties to even) and selects for the clamps, so the sum equals
 * the JS loop's bit for bit (test), without its mispredicted branches and per-call overhead.
 */
import { Code, F64, I32, instantiate, Op, slots, VOID, type Func } from '../nets/wasm-binary.js';

const PAGE = 65536;

/** sse(x, len, par) → f64: x float32[len]; par: f64 scale, lo, hi */
function sseFunc(): Func {
  const L = slots('X', 'LEN', 'PAR', 'END', 'XV', 'V', 'SC', 'LO', 'HI', 'S');
  const c = new Code();
  c.get(L.PAR).op(Op.F64Load).mem(3, 0).set(L.SC);
  c.get(L.PAR).op(Op.F64Load).mem(3, 8).set(L.LO);
  c.get(L.PAR).op(Op.F64Load).mem(3, 16).set(L.HI);
  c.get(L.X).get(L.LEN).i32(2).op(Op.I32Shl, Op.I32Add).set(L.END);
  c.op(Op.Block, VOID).op(Op.Loop, VOID);
  c.get(L.X).get(L.END).op(Op.I32GeU, Op.BrIf, 1);
  c.get(L.X).op(Op.F32Load).mem(2, 0).op(Op.F64PromoteF32).set(L.XV);
  // v = Math.fround(xv / scale)
  c.get(L.XV).get(L.SC).op(Op.F64Div, Op.F32DemoteF64, Op.F64PromoteF32).set(L.V);
  // if (!(v >= lo)) v = lo
  c.get(L.V).get(L.LO).get(L.V).get(L.LO).op(Op.F64Ge, Op.Select).set(L.V);
  // if (v > hi) v = hi
  c.get(L.HI).get(L.V).get(L.V).get(L.HI).op(Op.F64Gt, Op.Select).set(L.V);
  // d = xv − fround(roundHalfEven(v)) · scale; sse += d·d
  c.get(L.XV).get(L.V).op(Op.F64Nearest, Op.F32DemoteF64, Op.F64PromoteF32).get(L.SC).op(Op.F64Mul, Op.F64Sub).set(L.V);
  c.get(L.S).get(L.V).get(L.V).op(Op.F64Mul, Op.F64Add).set(L.S);
  c.addTo(L.X, 4);
  c.op(Op.Br, 0).op(Op.End, Op.End);
  c.get(L.S);
  c.op(Op.End);
  return { name: 'sse', params: 3, results: [F64], locals: [I32, F64, F64, F64, F64, F64, F64], body: c };
}

type SseFn = (x: number, len: number, par: number) => number;

let instance: { memory: WebAssembly.Memory; sse: SseFn } | null | undefined;

function sseInstance(): { memory: WebAssembly.Memory; sse: SseFn } | null {
  if (instance === undefined) {
    const made = instantiate<{ sse: SseFn }>([sseFunc()]);
    instance = made && { memory: made.memory, sse: made.exports.sse };
  }
  return instance;
}

/**
 * A float32 tensor copied once into WebAssembly memory, and quantErrorSse over slices of it.
 * Null where WebAssembly is unavailable (the caller runs the JS loop). One at a time: the memory
 * is shared, so a second SseTensor overwrites the first's data.
 */
export class SseTensor {
  private constructor(
    private readonly inst: { memory: WebAssembly.Memory; sse: SseFn },
    private readonly n: number,
  ) {}

  static of(x: Float32Array): SseTensor | null {
    const inst = sseInstance();
    if (!inst) return null;
    const end = 32 + 4 * x.length;
    const have = inst.memory.buffer.byteLength;
    if (end > have) inst.memory.grow(Math.ceil((end - have) / PAGE));
    new Float32Array(inst.memory.buffer, 32, x.length).set(x);
    return new SseTensor(inst, x.length);
  }

  /** quantErrorSse(x, off, len, scale, zeroPoint, qmin, qmax) on the copied tensor */
  sse(off: number, len: number, scale: number, zeroPoint: number, qmin: number, qmax: number): number {
    if (off < 0 || len < 0 || off + len > this.n) throw new RangeError(`SseTensor: [${off}, ${off + len}) outside ${this.n} values`);
    const par = new Float64Array(this.inst.memory.buffer, 0, 3);
    par[0] = scale;
    par[1] = qmin - zeroPoint;
    par[2] = qmax - zeroPoint;
    return this.inst.sse(32 + 4 * off, len, 0);
  }
}
