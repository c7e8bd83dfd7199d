/**
 * checked.ts's psumTile in WebAssembly: one tile of one output summed in-array with every add
 * checked against psumBits — the path of an output-stationary array whose PE registers are
 * narrow (mcu-npu: 16-bit saturating), where no bound clears a partial sum and each MAC is an
 * add that may overflow. The same float64 operations as the JS loop (products and sums of
 * integers, exact below 2^53), the wrap as ToInt32 then a sign extension from bit psumBits − 1
 * (i64.trunc_f64_s, i32.wrap_i64: the same reduction mod 2^32 for these integers), the
 * saturation as the bound that was crossed, so the exact sum, the in-array sum and the count of
 * events equal psumTile's (test). For psumBits ≤ 32 and the wrap / saturate policies; the caller
 * keeps the JS loop otherwise.
 */
import { buildModule, Code, F64, I32, Op, slots, VOID, type Func } from '../../nets/wasm-binary.js';
import { POLICY_SATURATE, POLICY_WRAP } from './accumulator.js';

const PAGE = 65536;

/**
 * ptile(x, kOff, w, b, j0, j1, mode, sh, res): Σ_j w[j]·x[b + kOff[j]] for j in [j0, j1) (float64
 * operands, int32 offsets), in-array at [plo, phi] = f64 res[0], res[1] with mode 0 wrap / 1
 * saturate (sh = 32 − psumBits); writes res[2] = exact sum, res[3] = in-array sum, returns events.
 */
function ptileFunc(): Func {
  const L = slots('X', 'KOFF', 'W', 'B', 'J', 'J1', 'MODE', 'SH', 'RES', 'OVER', 'EXACT', 'PS', 'V', 'PROD', 'PLO', 'PHI');
  const c = new Code();
  c.get(L.RES).op(Op.F64Load).mem(3, 0).set(L.PLO);
  c.get(L.RES).op(Op.F64Load).mem(3, 8).set(L.PHI);
  c.op(Op.Block, VOID).op(Op.Loop, VOID);
  c.get(L.J).get(L.J1).op(Op.I32GeS, Op.BrIf, 1);
  // prod = w[j] · x[b + kOff[j]]
  c.get(L.W).get(L.J).i32(3).op(Op.I32Shl, Op.I32Add).op(Op.F64Load).mem(3, 0);
  c.get(L.X).get(L.B).get(L.KOFF).get(L.J).i32(2).op(Op.I32Shl, Op.I32Add).op(Op.I32Load).mem(2, 0).op(Op.I32Add).i32(3).op(Op.I32Shl, Op.I32Add).op(Op.F64Load).mem(3, 0);
  c.op(Op.F64Mul).set(L.PROD);
  c.get(L.EXACT).get(L.PROD).op(Op.F64Add).set(L.EXACT);
  c.get(L.PS).get(L.PROD).op(Op.F64Add).tee(L.V);
  // v < plo || v > phi
  c.get(L.PLO).op(Op.F64Lt).get(L.V).get(L.PHI).op(Op.F64Gt).op(Op.I32Or);
  c.op(Op.If, VOID);
  {
    c.addTo(L.OVER, 1);
    c.get(L.MODE).op(Op.I32Eqz, Op.If, VOID);
    // wrap: ((v | 0) << sh) >> sh
    c.get(L.V).op(Op.I64TruncF64S, Op.I32WrapI64).get(L.SH).op(Op.I32Shl).get(L.SH).op(Op.I32ShrS).op(Op.F64ConvertI32S).set(L.PS);
    c.op(Op.Else);
    // saturate: the bound crossed
    c.get(L.PHI).get(L.PLO).get(L.V).get(L.PHI).op(Op.F64Gt, Op.Select).set(L.PS);
    c.op(Op.End);
  }
  c.op(Op.Else);
  c.get(L.V).set(L.PS);
  c.op(Op.End);
  c.addTo(L.J, 1);
  c.op(Op.Br, 0).op(Op.End, Op.End);
  c.get(L.RES).get(L.EXACT).op(Op.F64Store).mem(3, 16);
  c.get(L.RES).get(L.PS).op(Op.F64Store).mem(3, 24);
  c.get(L.OVER);
  c.op(Op.End);
  return { name: 'ptile', params: 9, results: [I32], locals: [I32, F64, F64, F64, F64, F64, F64], body: c };
}

type PtileFn = (x: number, kOff: number, w: number, b: number, j0: number, j1: number, mode: number, sh: number, res: number) => number;

let compiled: WebAssembly.Module | null | undefined;

function psumModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(buildModule([ptileFunc()]));
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

function align(n: number): number {
  return (n + 63) & ~63;
}

/**
 * A prepared layer's weights (arrival order) and gather offsets in WebAssembly memory, and per
 * run its operand input: psumTile over them.
 */
export class PsumTiles {
  private readonly memory: WebAssembly.Memory;
  private readonly ptile: PtileFn;
  private readonly kOffPtr: number;
  private readonly xPtr: number;
  private res: Float64Array;
  private readonly mode: number;
  private readonly sh: number;

  /** null where WebAssembly is missing, or the policy / width is not one this kernel models */
  static create(wSeq: Float64Array, kOff: Int32Array, policy: number, psumBits: number): PsumTiles | null {
    if (!(policy === POLICY_WRAP || policy === POLICY_SATURATE) || !(psumBits >= 2 && psumBits <= 32)) return null;
    const mod = psumModule();
    return mod ? new PsumTiles(mod, wSeq, kOff, policy, psumBits) : null;
  }

  private constructor(mod: WebAssembly.Module, wSeq: Float64Array, kOff: Int32Array, policy: number, psumBits: number) {
    // [res: plo, phi, exact, ps][w f64][kOff i32][x f64 …]
    this.kOffPtr = align(64 + 8 * wSeq.length);
    this.xPtr = align(this.kOffPtr + 4 * kOff.length);
    this.memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(this.xPtr / PAGE)) });
    this.ptile = (new WebAssembly.Instance(mod, { e: { m: this.memory } }).exports as unknown as { ptile: PtileFn }).ptile;
    const buf = this.memory.buffer;
    new Float64Array(buf, 64, wSeq.length).set(wSeq);
    new Int32Array(buf, this.kOffPtr, kOff.length).set(kOff);
    this.mode = policy === POLICY_WRAP ? 0 : 1;
    this.sh = 32 - psumBits;
    this.res = new Float64Array(buf, 0, 4);
    this.res[0] = -(2 ** (psumBits - 1));
    this.res[1] = 2 ** (psumBits - 1) - 1;
  }

  /** This run's operand input (the padded float64 operands the JS kernels read). */
  load(x: Float64Array): void {
    const end = this.xPtr + 8 * x.length;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      this.memory.grow(Math.ceil((end - have) / PAGE));
      this.res = new Float64Array(this.memory.buffer, 0, 4);
    }
    new Float64Array(this.memory.buffer, this.xPtr, x.length).set(x);
  }

  /**
   * psumTile(st, r0, b, j0, j1): returns the events; the exact sum is exact(), the in-array sum
   * inArray() until the next call.
   */
  tile(r0: number, b: number, j0: number, j1: number): number {
    return this.ptile(this.xPtr, this.kOffPtr, 64 + 8 * r0, b, j0, j1, this.mode, this.sh, 0);
  }

  exact(): number {
    return this.res[2];
  }

  inArray(): number {
    return this.res[3];
  }
}
