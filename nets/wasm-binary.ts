/**
 * The one WebAssembly code emitter of the tree: the FP32 kernels (wasm-f32-kernels.ts) and sim/'s
 * integer kernels (sim/kernels/wasm.ts) assemble their functions byte by byte with it, with no
 * toolchain — the encodings (LEB128 integers, sections, the module header), the opcodes they use,
 * an instruction emitter for one function body, and the module around the functions.
 */
import { setFlagsFromString } from 'node:v8';

/** `\0asm` and version 1 */
export const WASM_HEADER: readonly number[] = Object.freeze([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

/** unsigned LEB128 */
export function uleb(n: number, out: number[]): void {
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
}

/** signed LEB128 (i32 immediates) */
export function sleb(n: number, out: number[]): void {
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

/** a section: id, byte length, body */
export function section(id: number, body: readonly number[], out: number[]): void {
  out.push(id);
  uleb(body.length, out);
  for (const b of body) out.push(b);
}

/** value types, and the empty block type */
export const I32 = 0x7f;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const I64 = 0x7e;
export const V128 = 0x7b;
export const VOID = 0x40;

/** the core opcodes the kernels use */
export const Op = {
  Block: 0x02,
  Loop: 0x03,
  If: 0x04,
  Else: 0x05,
  End: 0x0b,
  Br: 0x0c,
  BrIf: 0x0d,
  Select: 0x1b,
  LocalGet: 0x20,
  LocalSet: 0x21,
  LocalTee: 0x22,
  I32Load: 0x28,
  F32Load: 0x2a,
  F64Load: 0x2b,
  I32Load16S: 0x2e,
  I32Load8U: 0x2d,
  I32Store: 0x36,
  F32Store: 0x38,
  F64Store: 0x39,
  I32Store16: 0x3b,
  I32Const: 0x41,
  I64Const: 0x42,
  I32Eqz: 0x45,
  I32Eq: 0x46,
  I32LtS: 0x48,
  I32LtU: 0x49,
  I32GtS: 0x4a,
  I32GtU: 0x4b,
  I32GeS: 0x4e,
  I32GeU: 0x4f,
  I32Add: 0x6a,
  I32Sub: 0x6b,
  I32Mul: 0x6c,
  I32And: 0x71,
  I32Or: 0x72,
  I32Xor: 0x73,
  I32Shl: 0x74,
  I32ShrS: 0x75,
  I32ShrU: 0x76,
  I32Ctz: 0x68,
  I64Add: 0x7c,
  I64Mul: 0x7e,
  I64ShrS: 0x87,
  F32Lt: 0x5d,
  F64Lt: 0x63,
  F64Gt: 0x64,
  F64Ge: 0x66,
  F32Nearest: 0x90,
  F32Mul: 0x94,
  F64Nearest: 0x9e,
  F32ConvertI32S: 0xb2,
  F64Add: 0xa0,
  F64Sub: 0xa1,
  F64Mul: 0xa2,
  F64Div: 0xa3,
  I32WrapI64: 0xa7,
  I64TruncF64S: 0xb0,
  F32DemoteF64: 0xb6,
  F64ConvertI32S: 0xb7,
  F64PromoteF32: 0xbb,
  I64ExtendI32S: 0xac,
  /** 0xfc prefix: memory.copy is 0xfc 0x0a 0x00 0x00, i32.trunc_sat_f32_s 0xfc 0x00 */
  Prefix: 0xfc,
} as const;

/** the SIMD opcodes (after the 0xfd prefix, LEB-encoded) the kernels use */
export const Simd = {
  Load: 0x00,
  Load32Splat: 0x09,
  Load64Splat: 0x0a,
  Store: 0x0b,
  Const: 0x0c,
  Shuffle: 0x0d,
  I16x8Splat: 0x10,
  I32x4Splat: 0x11,
  I64x2Splat: 0x12,
  F32x4Splat: 0x13,
  F64x2Splat: 0x14,
  I32x4ExtractLane: 0x1b,
  I32x4Eq: 0x37,
  I32x4LtS: 0x39,
  I32x4GtS: 0x3b,
  V128And: 0x4e,
  V128Or: 0x50,
  V128Bitselect: 0x52,
  V128AnyTrue: 0x53,
  F64x2ExtractLane: 0x21,
  Load64Zero: 0x5d,
  F32x4DemoteZero: 0x5e,
  F64x2PromoteLow: 0x5f,
  I32x4Abs: 0xa0,
  I32x4Bitmask: 0xa4,
  I32x4Shl: 0xab,
  I32x4ShrS: 0xac,
  I32x4Add: 0xae,
  I32x4Sub: 0xb1,
  I32x4Mul: 0xb5,
  I32x4MinS: 0xb6,
  I32x4MaxS: 0xb8,
  I32x4DotI16x8S: 0xba,
  I32x4ExtMulLowI16x8S: 0xbc,
  I32x4ExtMulHighI16x8S: 0xbd,
  I32x4MaxU: 0xb9,
  I64x2ShrS: 0xcc,
  I64x2Add: 0xce,
  I64x2ExtMulLowI32x4S: 0xdc,
  I64x2ExtMulHighI32x4S: 0xdd,
  F32x4Add: 0xe4,
  F32x4Mul: 0xe6,
  F32x4PMin: 0xea,
  F32x4PMax: 0xeb,
  F64x2Add: 0xf0,
  F64x2Sub: 0xf1,
  F64x2Mul: 0xf2,
  F32x4ConvertI32x4S: 0xfa,
  I32x4TruncSatF64x2SZero: 0xfc,
  /** relaxed SIMD (relaxedMadd() says whether this engine has it): a·b + c, fused or not */
  F32x4RelaxedMadd: 0x105,
  F64x2RelaxedMadd: 0x107,
} as const;

/** Instruction emitter for one function body. */
export class Code {
  readonly b: number[] = [];
  op(...codes: number[]): this {
    for (const c of codes) this.b.push(c);
    return this;
  }
  /** an opcode and its unsigned LEB128 immediate */
  private withImm(code: number, imm: number): this {
    this.b.push(code);
    uleb(imm, this.b);
    return this;
  }
  get(i: number): this {
    return this.withImm(Op.LocalGet, i);
  }
  set(i: number): this {
    return this.withImm(Op.LocalSet, i);
  }
  tee(i: number): this {
    return this.withImm(Op.LocalTee, i);
  }
  i32(n: number): this {
    this.b.push(Op.I32Const);
    sleb(n, this.b);
    return this;
  }
  /** i64.const of a value in int32's range (its signed LEB128 is the same bytes) */
  i64(n: number): this {
    if (!Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 31) throw new RangeError(`i64 constant ${n} is outside int32's range`);
    this.b.push(Op.I64Const);
    sleb(n, this.b);
    return this;
  }
  /** SIMD instruction: 0xfd prefix, LEB opcode */
  simd(code: number): this {
    return this.withImm(0xfd, code);
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
  /** v128 local[i] = 0 */
  zeroV(i: number): this {
    this.simd(Simd.Const).op(...new Array<number>(16).fill(0));
    return this.set(i);
  }
  /** local[dst] = the largest of v128 local[v]'s four i32 lanes, compared unsigned (local[tmp] is scratch) */
  maxLaneU(v: number, dst: number, tmp: number): this {
    this.get(v).simd(Simd.I32x4ExtractLane).op(0).set(dst);
    for (let l = 1; l < 4; l++) {
      this.get(v).simd(Simd.I32x4ExtractLane).op(l).set(tmp);
      this.get(tmp).get(dst).get(tmp).get(dst).op(Op.I32GtU).op(Op.Select).set(dst);
    }
    return this;
  }
  /** loop tail: local[i] −= 1, and branch back to the enclosing loop while it is not 0 */
  countDown(i: number): this {
    return this.get(i).i32(1).op(Op.I32Sub).tee(i).op(Op.BrIf, 0);
  }
  /** loop tail: local[i] += 1, and branch back to the enclosing loop while local[i] < local[limit] (`lt`: signed or unsigned) */
  countUp(i: number, limit: number, lt: number = Op.I32LtS): this {
    return this.get(i).i32(1).op(Op.I32Add).tee(i).get(limit).op(lt).op(Op.BrIf, 0);
  }
}

/**
 * Local indices by name, from 0 in the order given (parameters first, then the locals): a number
 * after a name reserves that many more indices after it (a run of registers).
 * `const { A, ACC, B } = slots('A', 'ACC', 7, 'B')` gives A = 0, ACC = 1 (…8), B = 9.
 */
export function slots<const K extends readonly (string | number)[]>(...items: K): Readonly<Record<Extract<K[number], string>, number>> {
  const r: Record<string, number> = {};
  let next = 0;
  for (const it of items) {
    if (typeof it === 'number') next += it;
    else r[it] = next++;
  }
  return r as Record<Extract<K[number], string>, number>;
}

/** One function of a module: its name (the export), parameters (all i32), result types, locals after the parameters, body. */
export interface Func {
  name: string;
  params: number;
  /** result value types (none by default) */
  results?: readonly number[];
  /** local types after the (all-i32) parameters */
  locals: readonly number[];
  body: Code;
}

/** Module: imported memory e.m (at least one page); function i exported under its name. */
export function buildModule(funcs: readonly Func[]): Uint8Array<ArrayBuffer> {
  const mod: number[] = [...WASM_HEADER];
  const types: number[] = [];
  uleb(funcs.length, types);
  for (const f of funcs) {
    types.push(0x60);
    uleb(f.params, types);
    for (let i = 0; i < f.params; i++) types.push(I32);
    const results = f.results ?? [];
    uleb(results.length, types);
    for (const r of results) types.push(r);
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
    for (const b of f.body.b) body.push(b);
    uleb(body.length, code);
    for (const b of body) code.push(b);
  }
  section(10, code, mod);
  return new Uint8Array(mod);
}

/**
 * One instance of a module of `funcs` over its own memory of `pages` 64 KiB pages, or null where
 * this engine cannot compile it (no WebAssembly, or no SIMD): the caller keeps its JS loop.
 */
export function instantiate<T>(funcs: readonly Func[], pages = 1): { memory: WebAssembly.Memory; exports: T } | null {
  try {
    const mod = new WebAssembly.Module(buildModule(funcs));
    const memory = new WebAssembly.Memory({ initial: pages });
    return { memory, exports: new WebAssembly.Instance(mod, { e: { m: memory } }).exports as unknown as T };
  } catch {
    return null;
  }
}

let relaxed: boolean | undefined;
let flagSet = false;
let fused = false;

/** Whether this engine's relaxed madd rounds once (an FMA) rather than after the multiply too; false where relaxedMadd() does not hold. */
export function relaxedMaddFused(): boolean {
  return relaxedMadd() && fused;
}

/** Whether relaxedMadd() set --experimental-wasm-relaxed-simd (then modules validated only with it). */
export function relaxedFlagSet(): boolean {
  return flagSet;
}

/**
 * Whether this engine runs relaxed SIMD's `f64x2.relaxed_madd` / `f32x4.relaxed_madd` as a·b + c
 * (one instruction: FMA on x64 with FMA3, about twice the mul + add pair's throughput). Node ≥ 22
 * has relaxed SIMD on; Node 20's V8 has it behind --experimental-wasm-relaxed-simd, which is set
 * here (before any module using it compiles) when a module using it does not validate without.
 * A known-answer run then checks the operand order (a·b + c, not b·c + a: V8 11.3 miscompiles
 * another relaxed instruction, the int8 dot product's add form); any failure means false and the
 * callers keep mul + add. QLOOM_RELAXED_SIMD=0 in the environment turns it off.
 *
 * Where the products are exact — float32 operands multiplied in float64 lanes — fused and unfused
 * give the same bits (round(a·b + c) either way), so a kernel may use it without changing results.
 */
export function relaxedMadd(): boolean {
  if (relaxed === undefined) relaxed = probeRelaxedMadd();
  return relaxed;
}

function probeRelaxedMadd(): boolean {
  if (process.env.QLOOM_RELAXED_SIMD === '0') return false;
  const c = new Code();
  // f64x2 at 0 (a), 16 (b), 32 (c) → 48; f32x4 at 64, 80, 96 → 112
  for (const [base, op] of [[0, Simd.F64x2RelaxedMadd], [64, Simd.F32x4RelaxedMadd]]) {
    c.i32(0).i32(0).simd(Simd.Load).mem(4, base).i32(0).simd(Simd.Load).mem(4, base + 16);
    c.i32(0).simd(Simd.Load).mem(4, base + 32).simd(op).simd(Simd.Store).mem(4, base + 48);
  }
  c.op(Op.End);
  const bytes = buildModule([{ name: 'f', params: 0, locals: [], body: c }]);
  try {
    if (!WebAssembly.validate(bytes)) {
      setFlagsFromString('--experimental-wasm-relaxed-simd');
      flagSet = true;
      if (!WebAssembly.validate(bytes)) return false;
    }
    const memory = new WebAssembly.Memory({ initial: 1 });
    const f = new WebAssembly.Instance(new WebAssembly.Module(bytes), { e: { m: memory } }).exports.f as () => void;
    const e = 1 + 2 ** -23;
    const d = new Float64Array(memory.buffer, 0, 8);
    d.set([3, e, 5, e, 7, -1]);
    const s = new Float32Array(memory.buffer, 64, 16);
    // lane 1: (1 + 2^-12)² − (1 + 2^-11) = 2^-24 exactly; a float32 product first rounds 2^-24 away (a tie, to even)
    const g = 1 + 2 ** -12;
    s.set([3, g, 2, -1, 5, g, 0.5, 4, 7, -(1 + 2 ** -11), 0, 1]);
    f();
    // float64: products of float32 values are exact, so fused = unfused = these
    if (d[6] !== 22 || d[7] !== e * e - 1) return false;
    // float32: lanes 0, 2, 3 tell a·b + c from b·c + a and a·c + b; lane 1 whether it is fused
    fused = s[13] === 2 ** -24;
    return s[12] === 22 && (fused || s[13] === 0) && s[14] === 1 && s[15] === -3;
  } catch {
    return false;
  }
}
