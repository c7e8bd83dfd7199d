/**
 * The WebAssembly SIMD functions of the FP32 kernels (wasm-f32.ts runs them), assembled with the
 * shared emitter (wasm-binary.ts): a register-blocked GEMM in two accumulations, im2col, padding,
 * direct depthwise convolution, Relu / Clip, BatchNormalization, max and global average pooling.
 *
 * GEMM contract, C = A·B (+ bias per row when fused):
 *   A  packed row panels [⌈M/4⌉][K][4]  (f64 for 'f64', f32 for 'f32'; rows past M are 0)
 *   B  float32 row-major, row stride ldb bytes; column blocks of 4 ('f64') or 8 ('f32') are read
 *      whole, so up to 7 values past N (past the end: slack) are read into lanes that are dropped
 *   C  row-major [⌈M/4⌉·4][ldc], whole column blocks: f64/f32 as accumulated, or float32 when fused
 * Loop order: column blocks outside (a K×block strip of B stays in L1), row panels inside (A
 * streams in order), K innermost with the 4×block tile of C in registers.
 */
import { Code, F64, I32, Op, Simd, slots, V128, VOID, type Func } from './wasm-binary.js';
import { byFourThenOne, convFmaFuncs, convKernelFuncs, epilogue, mac } from './wasm-f32-conv.js';

/**
 * gemm(a, b, c, mBlocks, nBlocks, k, ldbBytes, ldcBytes, bias, cin, ldcinBytes) for one accumulation
 * (see the file comment) over one K block: the tile starts from `cin`'s sums (raw layout, the
 * previous K block's output) or, with cin = 0, from zero.
 * Tile: 4 rows × 4 columns in f64x2 (8 accumulators), or 4 rows × 8 columns in f32x4
 * (8 accumulators) — 8 accumulators plus operands stay inside x64's 16 vector registers.
 * Unfused, the tile is stored as accumulated (f64 or f32 C). Fused, `bias` (one value per row,
 * f64 or f32) is added and the sum stored as float32: for f64 that is the single rounding.
 */
function gemmFunc(accum: 'f64' | 'f32', fused: boolean, fma: boolean): Func {
  const { A, B, C, MB, NB, K, LDB, LDC, BIAS, CIN, LDCIN, JB, IB, AP, BP, KK, CP, BCOL, ACC, B0, B1, AV } = slots('A', 'B', 'C', 'MB', 'NB', 'K', 'LDB', 'LDC', 'BIAS', 'CIN', 'LDCIN', 'JB', 'IB', 'AP', 'BP', 'KK', 'CP', 'BCOL', 'ACC', 7, 'B0', 'B1', 'AV');
  const is64 = accum === 'f64';
  const colBytes = is64 ? 16 : 32; // f32 bytes of B per column block
  const aStep = is64 ? 32 : 16; // bytes of one packed A column (4 rows)
  // bytes of C per column block: 4 f64, 8 f32, or (fused f64) 4 f32
  const cBlockLog2 = is64 && fused ? 4 : 5;

  const c = new Code();
  c.i32(0).set(JB);
  c.get(B).set(BCOL);
  c.op(Op.Loop, VOID); // column blocks
  {
    c.get(A).set(AP);
    c.i32(0).set(IB);
    c.op(Op.Loop, VOID); // row panels
    {
      // start from the previous K block's sums (cin, raw layout) or from 0
      c.get(CIN).op(Op.If, VOID);
      {
        c.get(CIN).get(IB).i32(2).op(Op.I32Shl).get(LDCIN).op(Op.I32Mul).op(Op.I32Add).get(JB).i32(5).op(Op.I32Shl).op(Op.I32Add).set(CP);
        for (let r = 0; r < 4; r++) {
          c.get(CP).simd(Simd.Load).mem(4, 0).set(ACC + 2 * r);
          c.get(CP).simd(Simd.Load).mem(4, 16).set(ACC + 2 * r + 1);
          if (r < 3) c.addLocal(CP, LDCIN);
        }
      }
      c.op(Op.Else);
      for (let r = 0; r < 8; r++) c.zeroV(ACC + r);
      c.op(Op.End);
      c.get(BCOL).set(BP);
      c.get(K).set(KK);
      c.op(Op.Loop, VOID); // k
      {
        if (is64) {
          c.get(BP).simd(Simd.Load64Zero).mem(3, 0).simd(Simd.F64x2PromoteLow).set(B0);
          c.get(BP).simd(Simd.Load64Zero).mem(3, 8).simd(Simd.F64x2PromoteLow).set(B1);
        } else {
          c.get(BP).simd(Simd.Load).mem(4, 0).set(B0);
          c.get(BP).simd(Simd.Load).mem(4, 16).set(B1);
        }
        for (let r = 0; r < 4; r++) {
          if (is64) c.get(AP).simd(Simd.Load64Splat).mem(3, 8 * r).set(AV);
          else c.get(AP).simd(Simd.Load32Splat).mem(2, 4 * r).set(AV);
          mac(c, accum, fma, ACC + 2 * r, () => c.get(AV).get(B0));
          mac(c, accum, fma, ACC + 2 * r + 1, () => c.get(AV).get(B1));
        }
        c.addTo(AP, aStep);
        c.addLocal(BP, LDB);
        c.countDown(KK);
      }
      c.op(Op.End);
      // C rows ib·4 … ib·4+3, this column block
      c.get(C).get(IB).i32(2).op(Op.I32Shl).get(LDC).op(Op.I32Mul).op(Op.I32Add).get(JB).i32(cBlockLog2).op(Op.I32Shl).op(Op.I32Add).set(CP);
      for (let r = 0; r < 4; r++) {
        if (!fused) {
          c.get(CP).get(ACC + 2 * r).simd(Simd.Store).mem(4, 0);
          c.get(CP).get(ACC + 2 * r + 1).simd(Simd.Store).mem(4, 16);
        } else if (is64) {
          // bias of row ib·4 + r
          c.get(BIAS).get(IB).i32(5).op(Op.I32Shl).op(Op.I32Add).simd(Simd.Load64Splat).mem(3, 8 * r).set(AV);
          c.get(CP);
          c.get(ACC + 2 * r).get(AV).simd(Simd.F64x2Add).simd(Simd.F32x4DemoteZero);
          c.get(ACC + 2 * r + 1).get(AV).simd(Simd.F64x2Add).simd(Simd.F32x4DemoteZero);
          // [lo0, lo1, hi0, hi1]
          c.simd(Simd.Shuffle).op(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
          c.simd(Simd.Store).mem(4, 0);
        } else {
          c.get(BIAS).get(IB).i32(4).op(Op.I32Shl).op(Op.I32Add).simd(Simd.Load32Splat).mem(2, 4 * r).set(AV);
          c.get(CP).get(ACC + 2 * r).get(AV).simd(Simd.F32x4Add).simd(Simd.Store).mem(4, 0);
          c.get(CP).get(ACC + 2 * r + 1).get(AV).simd(Simd.F32x4Add).simd(Simd.Store).mem(4, 16);
        }
        if (r < 3) c.addLocal(CP, LDC);
      }
      c.countUp(IB, MB);
    }
    c.op(Op.End);
    c.addTo(BCOL, colBytes);
    c.countUp(JB, NB);
  }
  c.op(Op.End);
  c.op(Op.End);
  const name = `gemm${is64 ? 64 : 32}${fused ? 'b' : ''}`;
  return { name, params: 11, locals: [...new Array<number>(7).fill(I32), ...new Array<number>(11).fill(V128)], body: c };
}

/**
 * im2col(xpad, dst, kOff, k, oh, ow, rowStep, colStep, ldb): for each of the k rows, the input
 * value under every output position — dst[r·ldb + oy·ow + ox] = xpad[kOff[r] + oy·rowStep +
 * ox·colStep] (all byte offsets). The input is padded, so no position needs a bounds check.
 */
function im2colFunc(): Func {
  const { XP, DST, KOFF, K, OH, OW, ROW, COL, LDB, R, D, SROW, S, OY, OX } = slots('XP', 'DST', 'KOFF', 'K', 'OH', 'OW', 'ROW', 'COL', 'LDB', 'R', 'D', 'SROW', 'S', 'OY', 'OX');
  const c = new Code();
  c.i32(0).set(R);
  c.op(Op.Loop, VOID);
  {
    c.get(XP).get(KOFF).get(R).i32(2).op(Op.I32Shl).op(Op.I32Add).op(Op.I32Load).mem(2, 0).op(Op.I32Add).set(SROW);
    c.get(DST).get(R).get(LDB).op(Op.I32Mul).op(Op.I32Add).set(D);
    c.get(OH).set(OY);
    c.op(Op.Loop, VOID);
    {
      c.get(SROW).set(S);
      c.get(OW).set(OX);
      c.op(Op.Loop, VOID);
      {
        c.get(D).get(S).op(Op.F32Load).mem(2, 0).op(Op.F32Store).mem(2, 0);
        c.addTo(D, 4);
        c.addLocal(S, COL);
        c.countDown(OX);
      }
      c.op(Op.End);
      c.addLocal(SROW, ROW);
      c.countDown(OY);
    }
    c.op(Op.End);
    c.countUp(R, K);
  }
  c.op(Op.End);
  c.op(Op.End);
  return { name: 'im2col', params: 9, locals: new Array<number>(6).fill(I32), body: c };
}

/**
 * pad(src, dst, rows, w, hIn, hp, wp, top, left): copies `rows` input rows of w float32 (rows =
 * planes·hIn) into planes of hp×wp at (top, left); the caller zeroed dst.
 */
function padFunc(): Func {
  const { SRC, DST, ROWS, W, HIN, HP, WP, TOP, LEFT, R, IY, D } = slots('SRC', 'DST', 'ROWS', 'W', 'HIN', 'HP', 'WP', 'TOP', 'LEFT', 'R', 'IY', 'D');
  const c = new Code();
  c.i32(0).set(R);
  c.i32(0).set(IY);
  // d = dst + (top·wp + left)·4: the first row's place
  c.get(DST).get(TOP).get(WP).op(Op.I32Mul).get(LEFT).op(Op.I32Add).i32(2).op(Op.I32Shl).op(Op.I32Add).set(D);
  c.op(Op.Loop, VOID);
  {
    // memory.copy d ← src, w·4 bytes
    c.get(D).get(SRC).get(W).i32(2).op(Op.I32Shl).op(Op.Prefix, 0x0a, 0x00, 0x00);
    c.get(SRC).get(W).i32(2).op(Op.I32Shl).op(Op.I32Add).set(SRC);
    c.get(D).get(WP).i32(2).op(Op.I32Shl).op(Op.I32Add).set(D);
    // at a plane's end, skip the bottom and next top padding rows
    c.get(IY).i32(1).op(Op.I32Add).tee(IY).get(HIN).op(Op.I32GeS).op(Op.If, VOID);
    {
      c.i32(0).set(IY);
      c.get(D).get(HP).get(HIN).op(Op.I32Sub).get(WP).op(Op.I32Mul).i32(2).op(Op.I32Shl).op(Op.I32Add).set(D);
    }
    c.op(Op.End);
    c.countUp(R, ROWS);
  }
  c.op(Op.End);
  c.op(Op.End);
  return { name: 'pad', params: 9, locals: new Array<number>(3).fill(I32), body: c };
}

/** Locals of the loops dw and maxpool share (see windowLoops). */
interface WindowLocals {
  P: number;
  PLANES: number;
  PLANE: number;
  XPL: number;
  XROW: number;
  OH: number;
  OY: number;
  ROW: number;
  XB: number;
  OWB: number;
  OB: number;
  O: number;
  T: number;
  TAPS: number;
  KOFF: number;
  /** i32 scratch for the stride-2 address */
  ADDR: number;
}

/** What a windowed kernel adds to the shared loops, each at its place. */
interface WindowHooks {
  row?: () => void;
  block: () => void;
  tap: () => void;
  /** after the tap's four input values (v128) were pushed */
  tapped: () => void;
  blockDone: () => void;
  rowDone: () => void;
  planeDone?: () => void;
}

/**
 * The loops of the windowed kernels (depthwise convolution, max pooling), then the function end:
 * planes › output rows › blocks of 4 outputs › taps. Per tap, the four inputs under the block —
 * at kOff[t] from the block's input pointer, every other one for stride 2 (x0 x1 … x7 → x0 x2 x4 x6);
 * the input pointer steps a row per output row and 4 (8) floats per block. With `in64` (stride 1
 * only) the input is float64 and the hook gets the first two values, ADDR the tap's address.
 */
function windowLoops(c: Code, L: WindowLocals, s2: boolean, h: WindowHooks, in64 = false): void {
  c.i32(0).set(L.P);
  c.op(Op.Loop, VOID); // planes
  {
    c.get(L.XPL).set(L.XROW);
    c.get(L.OH).set(L.OY);
    c.op(Op.Loop, VOID); // output rows
    {
      h.row?.();
      c.get(L.XROW).set(L.XB);
      c.get(L.OWB).set(L.OB);
      c.op(Op.Loop, VOID); // blocks of 4 outputs
      {
        h.block();
        c.i32(0).set(L.T);
        c.op(Op.Loop, VOID); // taps
        {
          h.tap();
          c.get(L.XB).get(L.KOFF).get(L.T).i32(2).op(Op.I32Shl).op(Op.I32Add).op(Op.I32Load).mem(2, 0).op(Op.I32Add);
          if (in64) c.tee(L.ADDR).simd(Simd.Load).mem(0, 0);
          else if (s2) {
            c.tee(L.ADDR).simd(Simd.Load).mem(0, 0);
            c.get(L.ADDR).simd(Simd.Load).mem(0, 16);
            c.simd(Simd.Shuffle).op(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
          } else c.simd(Simd.Load).mem(0, 0);
          h.tapped();
          c.countUp(L.T, L.TAPS);
        }
        c.op(Op.End);
        h.blockDone();
        c.addTo(L.O, 16);
        c.addTo(L.XB, s2 || in64 ? 32 : 16);
        c.countDown(L.OB);
      }
      c.op(Op.End);
      h.rowDone();
      c.addLocal(L.XROW, L.ROW);
      c.countDown(L.OY);
    }
    c.op(Op.End);
    c.addLocal(L.XPL, L.PLANE);
    h.planeDone?.();
    c.countUp(L.P, L.PLANES);
  }
  c.op(Op.End);
  c.op(Op.End);
}

/**
 * dw(xpad, w, bias, out, kOff, planes, oh, owBlocks, taps, rowStep, planeBytes, ow, bnp, mode, bounds) — depthwise
 * convolution, one input plane per output plane, stride 1 (`s2` false) or 2 along x; `in64`: stride 1
 * over float64 input (staged by stage64). Per block of
 * 4 outputs of a row: float64 accumulators start at the bias and add w·x tap by tap in kernel order,
 * exactly the scalar loop's order (padding taps add w·0). Outputs are stored 4 at a time in
 * order, compact [planes][oh][ow]: a row's last block spills into the next row's first places,
 * which that row then overwrites (the caller leaves 16 bytes of slack after the end). bnp, mode,
 * bounds: the fused BatchNormalization and Relu / Clip of the output (epilogue, wasm-f32-conv.ts).
 */
function dwFunc(s2: boolean, in64: boolean, fma: boolean): Func {
  const { XP, W, BIAS, OUT, KOFF, PLANES, OH, OWB, TAPS, ROW, PLANE, OW, BNP, MODE, BOUNDS, P, OY, OB, T, XROW, XB, WP, O, XPL, WPL, ORW, Q, ACC0, ACC1, WV, V, MU, INV, SC, BB, LO, HI, ADDR } = slots(
    'XP', 'W', 'BIAS', 'OUT', 'KOFF', 'PLANES', 'OH', 'OWB', 'TAPS', 'ROW', 'PLANE', 'OW', 'BNP', 'MODE', 'BOUNDS',
    'P', 'OY', 'OB', 'T', 'XROW', 'XB', 'WP', 'O', 'XPL', 'WPL', 'ORW', 'Q', 'ACC0', 'ACC1', 'WV', 'V', 'MU', 'INV', 'SC', 'BB', 'LO', 'HI', 'ADDR',
  );
  const c = new Code();
  c.get(XP).set(XPL);
  c.get(W).set(WPL);
  c.get(OUT).set(ORW);
  windowLoops(c, { P, PLANES, PLANE, XPL, XROW, OH, OY, ROW, XB, OWB, OB, O, T, TAPS, KOFF, ADDR }, s2, {
    row: () => c.get(ORW).set(O),
    block: () => {
      c.get(BIAS).get(P).i32(3).op(Op.I32Shl).op(Op.I32Add).simd(Simd.Load64Splat).mem(3, 0).tee(ACC0).set(ACC1);
      c.get(WPL).set(WP);
    },
    tap: () => c.get(WP).simd(Simd.Load64Splat).mem(3, 0).set(WV),
    tapped: () => {
      c.set(V);
      if (in64) {
        // float64 input staged once per image: no conversion per tap
        mac(c, 'f64', fma, ACC0, () => c.get(WV).get(V));
        mac(c, 'f64', fma, ACC1, () => c.get(WV).get(ADDR).simd(Simd.Load).mem(0, 16));
      } else {
        mac(c, 'f64', fma, ACC0, () => c.get(WV).get(V).simd(Simd.F64x2PromoteLow));
        mac(c, 'f64', fma, ACC1, () => c.get(WV).get(V).get(V).simd(Simd.Shuffle).op(8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15).simd(Simd.F64x2PromoteLow));
      }
      c.addTo(WP, 8);
    },
    blockDone: () => {
      c.get(O);
      c.get(ACC0).simd(Simd.F32x4DemoteZero);
      c.get(ACC1).simd(Simd.F32x4DemoteZero);
      c.simd(Simd.Shuffle).op(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
      epilogue(c, { BNP, MODE, BOUNDS, Q, MU, INV, SC, BB, LO, HI }, () => c.get(P));
      c.simd(Simd.Store).mem(0, 0);
    },
    rowDone: () => c.get(ORW).get(OW).i32(2).op(Op.I32Shl).op(Op.I32Add).set(ORW),
    planeDone: () => c.get(WPL).get(TAPS).i32(3).op(Op.I32Shl).op(Op.I32Add).set(WPL),
  }, in64);
  // ADDR (the tap's address for stride 2 and float64 input) is an i32 after the v128 locals
  return { name: s2 ? 'dw2' : in64 ? 'dw1' : 'dw1f', params: 15, locals: [...new Array<number>(12).fill(I32), ...new Array<number>(10).fill(V128), I32], body: c };
}

/**
 * clamp(p, vectors, bounds) in place over float32 data: with `relu`, v = 0 < v ? v : 0 (pmax(0, v):
 * NaN and −0 become 0, as the scalar `v > 0 ? v : 0`); else v = v < lo ? lo : v, then
 * v = hi < v ? hi : v (pmax(v, lo), pmin(·, hi): NaN passes), lo and hi float32 at `bounds`.
 */
function clampFunc(relu: boolean): Func {
  const { P, N, BOUNDS, LO, HI } = slots('P', 'N', 'BOUNDS', 'LO', 'HI');
  const c = new Code();
  if (relu) c.zeroV(LO);
  else {
    c.get(BOUNDS).simd(Simd.Load32Splat).mem(2, 0).set(LO);
    c.get(BOUNDS).simd(Simd.Load32Splat).mem(2, 4).set(HI);
  }
  c.op(Op.Loop, VOID);
  {
    c.get(P);
    if (relu) c.get(LO).get(P).simd(Simd.Load).mem(4, 0).simd(Simd.F32x4PMax);
    else c.get(P).simd(Simd.Load).mem(4, 0).get(LO).simd(Simd.F32x4PMax).get(HI).simd(Simd.F32x4PMin);
    c.simd(Simd.Store).mem(4, 0);
    c.addTo(P, 16);
    c.countDown(N);
  }
  c.op(Op.End);
  c.op(Op.End);
  return { name: relu ? 'relu' : 'clamp', params: 3, locals: [V128, V128], body: c };
}

/**
 * bn(p, n, c, inner, params) in place over float32 planes [n][c][inner]: v = (v − mean)·inv·scale
 * + bias in float64, operation by operation as the scalar loop evaluates it (so the same float64
 * results, rounded once to float32); params float64 [c][4] = mean, inv, scale, bias. Four values
 * at a time, then the plane's remainder one by one.
 */
function bnFunc(): Func {
  const { P, N, CH, INNER, PARAMS, I, CI, Q, REM, MU, INV, SC, BB, LO, HI, FMU, FINV, FSC, FBB } = slots('P', 'N', 'CH', 'INNER', 'PARAMS', 'I', 'CI', 'Q', 'REM', 'MU', 'INV', 'SC', 'BB', 'LO', 'HI', 'FMU', 'FINV', 'FSC', 'FBB');
  const c = new Code();
  const affine = (v: number): void => {
    c.get(v).get(MU).simd(Simd.F64x2Sub).get(INV).simd(Simd.F64x2Mul).get(SC).simd(Simd.F64x2Mul).get(BB).simd(Simd.F64x2Add).simd(Simd.F32x4DemoteZero);
  };
  c.get(N).get(CH).op(Op.I32Mul).set(I);
  c.i32(0).set(CI);
  c.op(Op.Loop, VOID); // planes
  {
    c.get(PARAMS).get(CI).i32(5).op(Op.I32Shl).op(Op.I32Add).set(Q);
    c.get(Q).simd(Simd.Load64Splat).mem(3, 0).set(MU);
    c.get(Q).simd(Simd.Load64Splat).mem(3, 8).set(INV);
    c.get(Q).simd(Simd.Load64Splat).mem(3, 16).set(SC);
    c.get(Q).simd(Simd.Load64Splat).mem(3, 24).set(BB);
    c.get(Q).op(Op.F64Load).mem(3, 0).set(FMU);
    c.get(Q).op(Op.F64Load).mem(3, 8).set(FINV);
    c.get(Q).op(Op.F64Load).mem(3, 16).set(FSC);
    c.get(Q).op(Op.F64Load).mem(3, 24).set(FBB);
    c.get(INNER).set(REM);
    byFourThenOne(
      c,
      REM,
      () => {
        c.get(P).simd(Simd.Load64Zero).mem(3, 0).simd(Simd.F64x2PromoteLow).set(LO);
        c.get(P).simd(Simd.Load64Zero).mem(3, 8).simd(Simd.F64x2PromoteLow).set(HI);
        c.get(P);
        affine(LO);
        affine(HI);
        c.simd(Simd.Shuffle).op(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        c.simd(Simd.Store).mem(0, 0);
        c.addTo(P, 16);
      },
      () => {
        c.get(P);
        c.get(P).op(Op.F32Load).mem(2, 0).op(Op.F64PromoteF32).get(FMU).op(Op.F64Sub).get(FINV).op(Op.F64Mul).get(FSC).op(Op.F64Mul).get(FBB).op(Op.F64Add);
        c.op(Op.F32DemoteF64).op(Op.F32Store).mem(2, 0);
        c.addTo(P, 4);
      },
    );
    // next plane: channel (ci + 1) mod c
    c.get(CI).i32(1).op(Op.I32Add).tee(CI).get(CH).op(Op.I32GeS).op(Op.If, VOID).i32(0).set(CI).op(Op.End);
    c.countDown(I);
  }
  c.op(Op.End);
  c.op(Op.End);
  return { name: 'bn', params: 5, locals: [I32, I32, I32, I32, V128, V128, V128, V128, V128, V128, F64, F64, F64, F64], body: c };
}

/**
 * maxpool(xpad, out, kOff, planes, oh, owBlocks, taps, rowStep, planeBytes, ow): per block of 4
 * outputs, m = −∞ then m = pmax(m, v) tap by tap in kernel order — pmax(m, v) = m < v ? v : m, the
 * scalar `v > m` select (NaN never wins). Padding holds −∞, so padded taps change nothing, as the
 * scalar loop skips them. Stride 1 or 2 along x; output compact as dw's.
 */
function maxPoolFunc(s2: boolean): Func {
  const { XP, OUT, KOFF, PLANES, OH, OWB, TAPS, ROW, PLANE, OW, P, OY, OB, T, XROW, XB, O, XPL, ADDR, M, NEG } = slots('XP', 'OUT', 'KOFF', 'PLANES', 'OH', 'OWB', 'TAPS', 'ROW', 'PLANE', 'OW', 'P', 'OY', 'OB', 'T', 'XROW', 'XB', 'O', 'XPL', 'ADDR', 'M', 'NEG');
  const c = new Code();
  // −∞ in every lane
  c.simd(Simd.Const).op(...[0, 0, 0x80, 0xff, 0, 0, 0x80, 0xff, 0, 0, 0x80, 0xff, 0, 0, 0x80, 0xff]).set(NEG);
  c.get(XP).set(XPL);
  c.get(OUT).set(O);
  windowLoops(c, { P, PLANES, PLANE, XPL, XROW, OH, OY, ROW, XB, OWB, OB, O, T, TAPS, KOFF, ADDR }, s2, {
    block: () => c.get(NEG).set(M),
    tap: () => c.get(M),
    tapped: () => c.simd(Simd.F32x4PMax).set(M),
    blockDone: () => c.get(O).get(M).simd(Simd.Store).mem(0, 0),
    // the row's last block may have run past ow: back to the row's true end
    rowDone: () => c.get(O).get(OWB).i32(4).op(Op.I32Shl).op(Op.I32Sub).get(OW).i32(2).op(Op.I32Shl).op(Op.I32Add).set(O),
  });
  return { name: s2 ? 'mp2' : 'mp1', params: 10, locals: [...new Array<number>(9).fill(I32), V128, V128], body: c };
}

/**
 * gap(src, dst, planes, inner): per plane of `inner` float32, the mean in float64 — four values a
 * step into two f64x2 sums, the remainder into a scalar one, combined as (s0 + s2) + (s1 + s3) +
 * rest, ÷ inner, rounded once: the scalar loop's sum in another order of float64 additions.
 */
function gapFunc(): Func {
  const { SRC, DST, PLANES, INNER, N, REST, LO, HI, V } = slots('SRC', 'DST', 'PLANES', 'INNER', 'N', 'REST', 'LO', 'HI', 'V');
  const c = new Code();
  c.op(Op.Loop, VOID); // planes
  {
    c.zeroV(LO);
    c.zeroV(HI);
    c.i32(0).op(Op.F64ConvertI32S).set(REST);
    c.get(INNER).set(N);
    byFourThenOne(
      c,
      N,
      () => {
        c.get(SRC).simd(Simd.Load).mem(0, 0).set(V);
        c.get(LO).get(V).simd(Simd.F64x2PromoteLow).simd(Simd.F64x2Add).set(LO);
        c.get(HI).get(V).get(V).simd(Simd.Shuffle).op(8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15).simd(Simd.F64x2PromoteLow).simd(Simd.F64x2Add).set(HI);
        c.addTo(SRC, 16);
      },
      () => {
        c.get(REST).get(SRC).op(Op.F32Load).mem(2, 0).op(Op.F64PromoteF32).op(Op.F64Add).set(REST);
        c.addTo(SRC, 4);
      },
    );
    c.get(LO).get(HI).simd(Simd.F64x2Add).set(LO);
    c.get(DST);
    c.get(LO).simd(Simd.F64x2ExtractLane).op(0).get(LO).simd(Simd.F64x2ExtractLane).op(1).op(Op.F64Add).get(REST).op(Op.F64Add);
    c.get(INNER).op(Op.F64ConvertI32S).op(Op.F64Div).op(Op.F32DemoteF64).op(Op.F32Store).mem(2, 0);
    c.addTo(DST, 4);
    c.countDown(PLANES);
  }
  c.op(Op.End);
  c.op(Op.End);
  return { name: 'gap', params: 4, locals: [I32, F64, V128, V128, V128], body: c };
}

/** The functions that multiply-accumulate (GEMMs, depthwise), with mul + add or relaxed madd. */
function macFuncs(fma: boolean): Func[] {
  return [gemmFunc('f64', false, fma), gemmFunc('f32', false, fma), gemmFunc('f64', true, fma), gemmFunc('f32', true, fma), dwFunc(false, true, fma), dwFunc(true, false, fma)];
}

/**
 * The multiply-accumulate functions again with relaxed madd, under the same names — a second
 * module over the same memory, compiled only where relaxedMadd() holds.
 */
export function fp32FmaFuncs(): Func[] {
  return [...macFuncs(true), ...convFmaFuncs()];
}

/** Every function of the FP32 kernel module, exported under its name. */
export function fp32KernelFuncs(): Func[] {
  return [
    ...macFuncs(false),
    im2colFunc(),
    padFunc(),
    clampFunc(true),
    clampFunc(false),
    bnFunc(),
    maxPoolFunc(false),
    maxPoolFunc(true),
    gapFunc(),
    ...convKernelFuncs(),
  ];
}
