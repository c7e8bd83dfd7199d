/**
 * AdaRound's per-step work in WebAssembly (assembled with nets/wasm-binary.ts's emitter): the layer
 * forward pass, the weight gradient and the Adam update of V. Every value is computed with the same
 * float64 operations in the same order as the JavaScript loops in adaround.ts, so the codes are
 * identical bit for bit — SIMD only runs independent sums side by side:
 *   fwd{4,1}:  pre[o, r] += Σ over k-blocks of 4 of (w0·x0 + w1·x1 + w2·x2 + w3·x3), then single k —
 *              two rows r per f64x2 lane pair, 4 (or 1) output channels per pass over the columns.
 *   grad4:     dW[o, k] = Σ_r d[o, r]·x[k, r], r ascending — two output channels per f64x2 (d read
 *              from a row-major copy [r][o]), 4 patch columns per pass; a zero d adds nothing to a
 *              sum that starts at +0, so rows whose activation was inactive need no skipping.
 *   outGrad:   dL/dpre through the fused clamp against the picked samples' targets, into [r][o].
 *   adam:      the V update, a few channels at a time so each weight's state is still in cache:
 *              adam (everything up to V; σ = 0 / 1 where h(V) is clipped by a wide margin, so σ's
 *              last bits cannot matter), expList (exp(−V) for the rest: V8's fdlibm exp, checked
 *              against Math.exp at start), adamSig (σ, h, the soft weight, and the next step's
 *              list of weights that need |2h − 1|^(β−1)); the caller takes Math.log of those (the
 *              engine's log differs between V8 versions; calling an imported Math function from
 *              WebAssembly costs more than a JavaScript loop) and expList the exp. sqrt is
 *              f64.sqrt (correctly rounded in both).
 * Layouts (byte offsets, all f64): cols [k][rs] (rs = rows rounded up to even, pad rows 0), pre
 * [o][rs], dT [rs][cout], dW and the soft weights [o][kc], per-weight state interleaved
 * {σ(V), V, m1, m2, ⌊W/s⌋} (40 bytes), per-channel {s, lo, hi} (24 bytes).
 */
import { buildModule, Code, F64, I32, Op, Simd, slots, V128, VOID, type Func } from '../nets/wasm-binary.js';

/** scalar f64 opcodes the emitter's table lacks (core spec numbering) */
const F = {
  Call: 0x10,
  Lt: 0x63,
  Gt: 0x64,
  Abs: 0x99,
  Neg: 0x9a,
  Sqrt: 0x9f,
  I32And: 0x71,
  I32Or: 0x72,
  I32DivU: 0x6e,
  F64x2ExtractLane: 0x21,
} as const;

/** byte offsets of the constants block the adam function reads (f64 each) */
export const PRM = {
  one: 0,
  zg: 8,
  gamma: 16,
  b1: 24,
  omb1: 32,
  b2: 40,
  omb2: 48,
  eps: 56,
  lr: 64,
  lamBeta2: 72,
  betaM1: 80,
  c1: 88,
  c2: 96,
  /** |V| from which σ(V) is stored as 0 / 1 without exp (see adam) */
  sigLimit: 104,
  /** outGrad: the fused activation's clamp (±Infinity where it has none) and 2 / rows */
  actLo: 112,
  actHi: 120,
  gradScale: 128,
  bytes: 136,
} as const;

/** bytes of one weight's interleaved optimizer state and its field offsets */
export const STATE = { bytes: 40, sig: 0, v: 8, m1: 16, m2: 24, floor: 32 } as const;

/**
 * fwd{B}(cols, w, pre, nPair, rsB, kc, nOb): for nOb blocks of B output channels (weights rows of
 * kc f64 from `w`, pre rows of rsB bytes from `pre`), pre += w·cols over nPair row pairs.
 */
function fwdFunc(B: 4 | 1): Func {
  const s = slots('COLS', 'W', 'PRE', 'NPAIR', 'RSB', 'KC', 'NOB', 'OB', 'RP', 'KK', 'CP', 'ROFF', 'WB', 'PB', 'KB8', 'WP', 3, 'ACC', 3, 'V', 3, 'T');
  const { COLS, W, PRE, NPAIR, RSB, KC, NOB, OB, RP, KK, CP, ROFF, WB, PB, KB8, WP, ACC, V, T } = s;
  const c = new Code();
  c.get(KC).i32(3).op(Op.I32Shl).set(KB8);
  c.get(W).set(WB);
  c.get(PRE).set(PB);
  c.get(NOB).set(OB);
  c.op(Op.Loop, VOID); // output-channel blocks
  {
    c.i32(0).set(ROFF);
    c.get(NPAIR).set(RP);
    c.op(Op.Loop, VOID); // row pairs
    {
      c.get(PB).get(ROFF).op(Op.I32Add).set(CP);
      for (let i = 0; i < B; i++) {
        c.get(CP).simd(Simd.Load).mem(3, 0).set(ACC + i);
        if (i < B - 1) c.addLocal(CP, RSB);
      }
      c.get(WB).set(WP);
      for (let i = 1; i < B; i++) c.get(WP + i - 1).get(KB8).op(Op.I32Add).set(WP + i);
      c.get(COLS).get(ROFF).op(Op.I32Add).set(CP);
      c.get(KC).i32(2).op(Op.I32ShrU).tee(KK).op(Op.If, VOID);
      c.op(Op.Loop, VOID); // k blocks of 4
      {
        for (let j = 0; j < 4; j++) {
          c.get(CP).simd(Simd.Load).mem(3, 0).set(V + j);
          c.addLocal(CP, RSB);
        }
        for (let i = 0; i < B; i++) {
          for (let j = 0; j < 4; j++) {
            c.get(WP + i).simd(Simd.Load64Splat).mem(3, 8 * j).get(V + j).simd(Simd.F64x2Mul);
            if (j > 0) c.get(T).simd(Simd.F64x2Add);
            c.set(T);
          }
          c.get(ACC + i).get(T).simd(Simd.F64x2Add).set(ACC + i);
          c.addTo(WP + i, 32);
        }
        c.countDown(KK);
      }
      c.op(Op.End, Op.End);
      c.get(KC).i32(3).op(F.I32And).tee(KK).op(Op.If, VOID);
      c.op(Op.Loop, VOID); // the k left over
      {
        c.get(CP).simd(Simd.Load).mem(3, 0).set(V);
        c.addLocal(CP, RSB);
        for (let i = 0; i < B; i++) {
          c.get(ACC + i).get(WP + i).simd(Simd.Load64Splat).mem(3, 0).get(V).simd(Simd.F64x2Mul).simd(Simd.F64x2Add).set(ACC + i);
          c.addTo(WP + i, 8);
        }
        c.countDown(KK);
      }
      c.op(Op.End, Op.End);
      c.get(PB).get(ROFF).op(Op.I32Add).set(CP);
      for (let i = 0; i < B; i++) {
        c.get(CP).get(ACC + i).simd(Simd.Store).mem(3, 0);
        if (i < B - 1) c.addLocal(CP, RSB);
      }
      c.addTo(ROFF, 16);
      c.countDown(RP);
    }
    c.op(Op.End);
    c.get(WB).get(KB8).i32(B).op(Op.I32Mul).op(Op.I32Add).set(WB);
    c.get(PB).get(RSB).i32(B).op(Op.I32Mul).op(Op.I32Add).set(PB);
    c.countDown(OB);
  }
  c.op(Op.End, Op.End);
  return { name: `fwd${B}`, params: 7, locals: [...new Array<number>(12).fill(I32), ...new Array<number>(9).fill(V128)], body: c };
}

/**
 * grad4(cols, dT, dW, nRow, rsB, kc, coB, nOb): for nOb blocks of 4 output channels (dT columns from
 * `dT`, row stride coB bytes; dW rows of kc f64 from `dW`), dW[o, k] = Σ_r dT[r, o]·cols[k, r].
 * Columns in blocks of J = 4, then one at a time; 2·J accumulators over the whole row range.
 */
function gradFunc(): Func {
  const s = slots('COLS', 'DT', 'DW', 'NROW', 'RSB', 'KC', 'COB', 'NOB', 'OB', 'KK', 'RR', 'DP', 'CB', 'DWB', 'X', 3, 'DWP', 3, 'ACC', 7, 'D0', 'D1', 'XV');
  const { COLS, DT, DW, NROW, RSB, KC, COB, NOB, OB, KK, RR, DP, CB, DWB, X, DWP, ACC, D0, D1, XV } = s;
  const c = new Code();
  const kBlock = (J: number) => {
    for (let a = 0; a < 2 * J; a++) c.zeroV(ACC + a);
    c.get(CB).set(X);
    for (let j = 1; j < J; j++) c.get(X + j - 1).get(RSB).op(Op.I32Add).set(X + j);
    c.get(DT).set(DP);
    c.get(NROW).set(RR);
    c.op(Op.Loop, VOID); // rows, ascending
    {
      c.get(DP).simd(Simd.Load).mem(3, 0).set(D0);
      c.get(DP).simd(Simd.Load).mem(3, 16).set(D1);
      for (let j = 0; j < J; j++) {
        c.get(X + j).simd(Simd.Load64Splat).mem(3, 0).set(XV);
        c.get(ACC + 2 * j).get(D0).get(XV).simd(Simd.F64x2Mul).simd(Simd.F64x2Add).set(ACC + 2 * j);
        c.get(ACC + 2 * j + 1).get(D1).get(XV).simd(Simd.F64x2Mul).simd(Simd.F64x2Add).set(ACC + 2 * j + 1);
        c.addTo(X + j, 8);
      }
      c.addLocal(DP, COB);
      c.countDown(RR);
    }
    c.op(Op.End);
    // lanes: ACC[2j] = (o, o+1), ACC[2j+1] = (o+2, o+3) at column k + j
    for (let j = 0; j < J; j++) {
      for (let q = 0; q < 4; q++) {
        c.get(DWP + q).get(ACC + 2 * j + (q >> 1)).simd(F.F64x2ExtractLane).op(q & 1).op(Op.F64Store).mem(3, 8 * j);
      }
    }
    for (let q = 0; q < 4; q++) c.addTo(DWP + q, 8 * J);
    c.get(CB).get(RSB).i32(J).op(Op.I32Mul).op(Op.I32Add).set(CB);
  };
  c.get(DW).set(DWB);
  c.get(NOB).set(OB);
  c.op(Op.Loop, VOID); // output-channel blocks
  {
    c.get(DWB).set(DWP);
    for (let q = 1; q < 4; q++) c.get(DWP + q - 1).get(KC).i32(3).op(Op.I32Shl).op(Op.I32Add).set(DWP + q);
    c.get(COLS).set(CB);
    c.get(KC).i32(2).op(Op.I32ShrU).tee(KK).op(Op.If, VOID);
    c.op(Op.Loop, VOID);
    kBlock(4);
    c.countDown(KK);
    c.op(Op.End, Op.End);
    c.get(KC).i32(3).op(F.I32And).tee(KK).op(Op.If, VOID);
    c.op(Op.Loop, VOID);
    kBlock(1);
    c.countDown(KK);
    c.op(Op.End, Op.End);
    c.addTo(DT, 32);
    c.get(DWB).get(KC).i32(5).op(Op.I32Shl).op(Op.I32Add).set(DWB);
    c.countDown(OB);
  }
  c.op(Op.End, Op.End);
  return { name: 'grad4', params: 8, locals: [...new Array<number>(14).fill(I32), ...new Array<number>(11).fill(V128)], body: c };
}

/**
 * adamReg(nW, state, list, vals, prm, dense): where the regularizer's gradient is needed (h(V)
 * strictly inside (0, 1) and 2h − 1 ≠ 0), list[n] = e and vals[n] = |2h − 1|; dense[e] = 0 for
 * the rest; returns n. The caller writes dense[e] = |2h − 1|^(β−1) (Math.exp / Math.log) for the
 * listed ones. Branch-free: h in or out of (0, 1) is data, not a predictable branch.
 */
function adamRegFunc(): Func {
  const { NW, ST, LIST, VALS, PRM_, RD, N, E, OK, ONE, ZG, GAMMA, HRAW, ABSA } = slots('NW', 'ST', 'LIST', 'VALS', 'PRM_', 'RD', 'N', 'E', 'OK', 'ONE', 'ZG', 'GAMMA', 'HRAW', 'ABSA');
  const c = new Code();
  c.get(PRM_).op(Op.F64Load).mem(3, PRM.one).set(ONE);
  c.get(PRM_).op(Op.F64Load).mem(3, PRM.zg).set(ZG);
  c.get(PRM_).op(Op.F64Load).mem(3, PRM.gamma).set(GAMMA);
  c.i32(0).set(N);
  c.i32(0).set(E);
  c.op(Op.Loop, VOID);
  {
    c.get(ST).op(Op.F64Load).mem(3, STATE.sig).get(ZG).op(Op.F64Mul).get(GAMMA).op(Op.F64Add).set(HRAW);
    c.get(HRAW).get(HRAW).op(Op.F64Add).get(ONE).op(Op.F64Sub).op(F.Abs).set(ABSA);
    c.get(HRAW).i32(0).op(Op.F64ConvertI32S).op(F.Gt).get(HRAW).get(ONE).op(F.Lt).op(F.I32And);
    c.get(ABSA).i32(0).op(Op.F64ConvertI32S).op(F.Gt).op(F.I32And).set(OK);
    c.get(LIST).get(N).i32(2).op(Op.I32Shl).op(Op.I32Add).get(E).op(Op.I32Store).mem(2, 0);
    c.get(VALS).get(N).i32(3).op(Op.I32Shl).op(Op.I32Add).get(ABSA).op(Op.F64Store).mem(3, 0);
    c.get(RD).get(E).i32(3).op(Op.I32Shl).op(Op.I32Add).i32(0).op(Op.F64ConvertI32S).op(Op.F64Store).mem(3, 0);
    c.get(N).get(OK).op(Op.I32Add).set(N);
    c.addTo(ST, STATE.bytes);
    c.countUp(E, NW);
  }
  c.op(Op.End);
  c.get(N);
  c.op(Op.End);
  return { name: 'adamReg', params: 6, results: [I32], locals: [I32, I32, I32, F64, F64, F64, F64, F64], body: c };
}

/**
 * adam(nCh, perCh, state, dW, wSoft, ch, prm, useReg, regDense, sigList, sigVals, e0): one Adam step
 * on V for the weights of nCh channels from weight e0 (the pointers at e0) — adaround.ts's adamStep, operation for operation, with |2h − 1|^(β−1) from
 * regDense (0 where it is not needed: dLdh ∓ 0 is dLdh, which is never −0; reset to 0 here). σ(V) = 1 / (1 + exp(−V))
 * needs exp only where |V| < 2.5: beyond, h(V) is clipped (σ > 0.924 gives h = 1, σ < 0.076 gives
 * h = 0, each with a margin far above rounding), so neither the gradient nor the soft weight can
 * depend on σ's last bits. Every weight gets σ = 1 (V > 0) or 0 and the matching soft weight here;
 * those with |V| < 2.5 are also listed (e, −V) for the caller's exp and adamSig, which overwrites
 * both. Returns the list's length. Branch-free (selects; the list grows by the condition).
 */
function adamFunc(): Func {
  const s = slots(
    'NCH', 'PERCH', 'ST', 'DWP', 'WS', 'CH', 'PRM_', 'USEREG', 'RD', 'SLIST', 'SVALS', 'E0', 'O', 'K', 'E', 'NSIG',
    'ONE', 'ZG', 'GAMMA', 'B1', 'OMB1', 'B2', 'OMB2', 'EPS', 'LR', 'LB2', 'C1', 'C2',
    'S', 'L', 'U', 'SIG', 'HRAW', 'GRAD', 'DLDH', 'X', 'A1', 'A2', 'VNEW', 'FL', 'LIM', 'ZERO',
  );
  const { NCH, PERCH, ST, DWP, WS, CH, PRM_, USEREG, RD, SLIST, SVALS, E0, O, K, E, NSIG } = s;
  const { ONE, ZG, GAMMA, B1, OMB1, B2, OMB2, EPS, LR, LB2, C1, C2, S: SS, L, U, SIG, HRAW, GRAD, DLDH, X, A1, A2, VNEW, FL, LIM, ZERO } = s;
  const c = new Code();
  const ld = (base: number, off: number) => c.get(base).op(Op.F64Load).mem(3, off);
  const consts: [number, number][] = [
    [ONE, PRM.one], [ZG, PRM.zg], [GAMMA, PRM.gamma], [B1, PRM.b1], [OMB1, PRM.omb1], [B2, PRM.b2], [OMB2, PRM.omb2],
    [EPS, PRM.eps], [LR, PRM.lr], [LB2, PRM.lamBeta2], [C1, PRM.c1], [C2, PRM.c2], [LIM, PRM.sigLimit],
  ];
  for (const [local, off] of consts) ld(PRM_, off).set(local);
  c.i32(0).op(Op.F64ConvertI32S).set(ZERO);
  c.get(E0).set(E);
  c.i32(0).set(NSIG);
  c.get(NCH).set(O);
  c.op(Op.Loop, VOID); // output channels
  {
    ld(CH, 0).set(SS);
    ld(CH, 8).set(L);
    ld(CH, 16).set(U);
    c.addTo(CH, 24);
    c.get(PERCH).set(K);
    c.op(Op.Loop, VOID); // the channel's weights
    {
      ld(ST, STATE.sig).tee(SIG).get(ZG).op(Op.F64Mul).get(GAMMA).op(Op.F64Add).set(HRAW);
      ld(ST, STATE.floor).set(FL);
      // dLdh = q outside [lo, hi] ? 0 : dW·s, q = ⌊W/s⌋ + h
      c.get(ZERO);
      ld(DWP, 0).get(SS).op(Op.F64Mul);
      c.get(FL).get(HRAW).op(Op.F64Add).tee(X).get(L).op(F.Lt).get(X).get(U).op(F.Gt).op(F.I32Or).op(Op.Select).set(DLDH);
      // regularizer: dLdh −= X·sign(2h − 1), X = (λ·2β)·regDense[e]
      c.get(RD).op(Op.F64Load).mem(3, 0).get(LB2).op(Op.F64Mul).set(X);
      c.get(RD).get(ZERO).op(Op.F64Store).mem(3, 0); // 0 again for the next step (the caller fills only listed ones)
      c.get(DLDH).get(X).op(Op.F64Sub);
      c.get(DLDH).get(X).op(Op.F64Add);
      c.get(HRAW).get(HRAW).op(Op.F64Add).get(ONE).op(Op.F64Sub).get(ZERO).op(F.Gt).op(Op.Select);
      c.get(DLDH).get(USEREG).op(Op.Select).set(DLDH);
      // where h is clipped no gradient reaches V: grad = h in (0, 1) ? ((dLdh·σ)·(1 − σ))·(ζ − γ) : 0
      c.get(DLDH).get(SIG).op(Op.F64Mul).get(ONE).get(SIG).op(Op.F64Sub).op(Op.F64Mul).get(ZG).op(Op.F64Mul);
      c.get(ZERO);
      c.get(HRAW).get(ZERO).op(F.Gt).get(HRAW).get(ONE).op(F.Lt).op(F.I32And).op(Op.Select).set(GRAD);
      c.get(B1);
      ld(ST, STATE.m1).op(Op.F64Mul).get(OMB1).get(GRAD).op(Op.F64Mul).op(Op.F64Add).set(A1);
      c.get(B2);
      ld(ST, STATE.m2).op(Op.F64Mul).get(OMB2).get(GRAD).op(Op.F64Mul).get(GRAD).op(Op.F64Mul).op(Op.F64Add).set(A2);
      c.get(ST).get(A1).op(Op.F64Store).mem(3, STATE.m1);
      c.get(ST).get(A2).op(Op.F64Store).mem(3, STATE.m2);
      // v − ((lr·a1)·c1) / (sqrt(a2·c2) + ε)
      ld(ST, STATE.v).get(LR).get(A1).op(Op.F64Mul).get(C1).op(Op.F64Mul);
      c.get(A2).get(C2).op(Op.F64Mul).op(F.Sqrt).get(EPS).op(Op.F64Add).op(Op.F64Div).op(Op.F64Sub).set(VNEW);
      c.get(ST).get(VNEW).op(Op.F64Store).mem(3, STATE.v);
      // saturated σ = h = 1 (V > 0) or 0; wSoft = s·clip(⌊W/s⌋ + h, lo, hi)
      c.get(ONE).get(ZERO).get(VNEW).get(ZERO).op(F.Gt).op(Op.Select).set(X);
      c.get(ST).get(X).op(Op.F64Store).mem(3, STATE.sig);
      c.get(FL).get(X).op(Op.F64Add).set(X);
      c.get(L).get(X).get(X).get(L).op(F.Lt).op(Op.Select).set(X);
      c.get(U).get(X).get(X).get(U).op(F.Gt).op(Op.Select).set(X);
      c.get(WS).get(SS).get(X).op(Op.F64Mul).op(Op.F64Store).mem(3, 0);
      // |V| < 2.5: list (e, −V) for exp
      c.get(SLIST).get(NSIG).i32(2).op(Op.I32Shl).op(Op.I32Add).get(E).op(Op.I32Store).mem(2, 0);
      c.get(SVALS).get(NSIG).i32(3).op(Op.I32Shl).op(Op.I32Add).get(VNEW).op(F.Neg).op(Op.F64Store).mem(3, 0);
      c.get(NSIG).get(VNEW).op(F.Abs).get(LIM).op(F.Lt).op(Op.I32Add).set(NSIG);
      c.addTo(ST, STATE.bytes);
      c.addTo(DWP, 8);
      c.addTo(WS, 8);
      c.addTo(RD, 8);
      c.addTo(E, 1);
      c.countDown(K);
    }
    c.op(Op.End);
    c.countDown(O);
  }
  c.op(Op.End);
  c.get(NSIG);
  c.op(Op.End);
  return { name: 'adam', params: 12, results: [I32], locals: [...new Array<number>(4).fill(I32), ...new Array<number>(26).fill(F64)], body: c };
}

/**
 * adamSig(n, list, vals, state, wSoft, ch, prm, perCh, regList, regVals, nReg): for each queued
 * weight e, vals = exp(−V): σ = 1 / (1 + vals), h = clip01(σ·(ζ − γ) + γ), wSoft = s·clip(⌊W/s⌋ + h,
 * lo, hi); and the next step's regularizer list (adamReg's condition on the new σ: a weight not
 * queued here has σ = 0 / 1, h clipped, and never qualifies) appended from nReg; returns its length.
 */
function adamSigFunc(): Func {
  const { N, LIST, VALS, ST, WS, CH, PRM_, PERCH, RLIST, RVALS, NREG, E, P, ONE, ZG, GAMMA, SIG, X, S: SS, L, U, ABSA } = slots(
    'N', 'LIST', 'VALS', 'ST', 'WS', 'CH', 'PRM_', 'PERCH', 'RLIST', 'RVALS', 'NREG', 'E', 'P', 'ONE', 'ZG', 'GAMMA', 'SIG', 'X', 'S', 'L', 'U', 'ABSA',
  );
  const c = new Code();
  c.get(PRM_).op(Op.F64Load).mem(3, PRM.one).set(ONE);
  c.get(PRM_).op(Op.F64Load).mem(3, PRM.zg).set(ZG);
  c.get(PRM_).op(Op.F64Load).mem(3, PRM.gamma).set(GAMMA);
  c.get(N).op(Op.If, VOID);
  c.op(Op.Loop, VOID);
  {
    c.get(LIST).op(Op.I32Load).mem(2, 0).set(E);
    c.get(ONE).get(ONE).get(VALS).op(Op.F64Load).mem(3, 0).op(Op.F64Add).op(Op.F64Div).set(SIG);
    c.get(ST).get(E).i32(STATE.bytes).op(Op.I32Mul).op(Op.I32Add).get(SIG).op(Op.F64Store).mem(3, STATE.sig);
    // channel e / perCh: {s, lo, hi}
    c.get(CH).get(E).get(PERCH).op(F.I32DivU).i32(24).op(Op.I32Mul).op(Op.I32Add).set(P);
    c.get(P).op(Op.F64Load).mem(3, 0).set(SS);
    c.get(P).op(Op.F64Load).mem(3, 8).set(L);
    c.get(P).op(Op.F64Load).mem(3, 16).set(U);
    c.get(SIG).get(ZG).op(Op.F64Mul).get(GAMMA).op(Op.F64Add).set(X);
    // regularizer list: h strictly inside (0, 1), |2h − 1| > 0
    c.get(X).get(X).op(Op.F64Add).get(ONE).op(Op.F64Sub).op(F.Abs).set(ABSA);
    c.get(RLIST).get(NREG).i32(2).op(Op.I32Shl).op(Op.I32Add).get(E).op(Op.I32Store).mem(2, 0);
    c.get(RVALS).get(NREG).i32(3).op(Op.I32Shl).op(Op.I32Add).get(ABSA).op(Op.F64Store).mem(3, 0);
    c.get(NREG);
    c.get(X).i32(0).op(Op.F64ConvertI32S).op(F.Gt).get(X).get(ONE).op(F.Lt).op(F.I32And);
    c.get(ABSA).i32(0).op(Op.F64ConvertI32S).op(F.Gt).op(F.I32And).op(Op.I32Add).set(NREG);
    c.i32(0).op(Op.F64ConvertI32S).get(X).get(X).i32(0).op(Op.F64ConvertI32S).op(F.Lt).op(Op.Select).set(X);
    c.get(ONE).get(X).get(X).get(ONE).op(F.Gt).op(Op.Select).set(X);
    c.get(ST).get(E).i32(STATE.bytes).op(Op.I32Mul).op(Op.I32Add).op(Op.F64Load).mem(3, STATE.floor).get(X).op(Op.F64Add).set(X);
    c.get(L).get(X).get(X).get(L).op(F.Lt).op(Op.Select).set(X);
    c.get(U).get(X).get(X).get(U).op(F.Gt).op(Op.Select).set(X);
    c.get(WS).get(E).i32(3).op(Op.I32Shl).op(Op.I32Add).get(SS).get(X).op(Op.F64Mul).op(Op.F64Store).mem(3, 0);
    c.addTo(LIST, 4);
    c.addTo(VALS, 8);
    c.countDown(N);
  }
  c.op(Op.End, Op.End);
  c.get(NREG);
  c.op(Op.End);
  return { name: 'adamSig', params: 11, results: [I32], locals: [I32, I32, ...new Array<number>(9).fill(F64)], body: c };
}

/**
 * outGrad(pre, tgt, dT, nB, cout, pix, rsB, prm): dL/dpre = ((pass·(2/rows))·(y − t)) through the
 * fused clamp (y = lo where x ≤ lo, hi where x ≥ hi, else x; pass 0 where clamped), against the
 * picked samples' float32 targets tgt [b][o][pix], into dT [b·pix + p][cout] — adaround.ts's
 * outputGrad, operation for operation; 8 positions × every channel at a time (writes stay in L1).
 */
function outGradFunc(): Func {
  const s = slots('PRE', 'TGT', 'DT', 'NB', 'COUT', 'PIX', 'RSB', 'PRM_', 'B', 'P0', 'PN', 'O', 'P', 'PP', 'TP', 'DP', 'LO', 'HI', 'GS', 'X', 'Y', 'PASS');
  const { PRE, TGT, DT, NB, COUT, PIX, RSB, PRM_, B, P0, PN, O, P, PP, TP, DP, LO, HI, GS, X, Y, PASS } = s;
  const c = new Code();
  const F64PromoteF32 = 0xbb;
  const F32Load = 0x2a;
  const F64Le = 0x65;
  const F64Ge = 0x66;
  c.get(PRM_).op(Op.F64Load).mem(3, PRM.actLo).set(LO);
  c.get(PRM_).op(Op.F64Load).mem(3, PRM.actHi).set(HI);
  c.get(PRM_).op(Op.F64Load).mem(3, PRM.gradScale).set(GS);
  c.i32(0).set(B);
  c.op(Op.Loop, VOID); // samples
  {
    c.i32(0).set(P0);
    c.op(Op.Loop, VOID); // tiles of 8 positions
    {
      // PN = min(8, pix − p0)
      c.i32(8).get(PIX).get(P0).op(Op.I32Sub).tee(PN).get(PN).i32(8).op(Op.I32GtU).op(Op.Select).set(PN);
      c.i32(0).set(O);
      c.op(Op.Loop, VOID); // channels
      {
        // pre[o][b·pix + p0], tgt[(b·cout + o)·pix + p0], dT[(b·pix + p0)·cout + o]
        c.get(PRE).get(O).get(RSB).op(Op.I32Mul).op(Op.I32Add).get(B).get(PIX).op(Op.I32Mul).get(P0).op(Op.I32Add).i32(3).op(Op.I32Shl).op(Op.I32Add).set(PP);
        c.get(TGT).get(B).get(COUT).op(Op.I32Mul).get(O).op(Op.I32Add).get(PIX).op(Op.I32Mul).get(P0).op(Op.I32Add).i32(2).op(Op.I32Shl).op(Op.I32Add).set(TP);
        c.get(DT).get(B).get(PIX).op(Op.I32Mul).get(P0).op(Op.I32Add).get(COUT).op(Op.I32Mul).get(O).op(Op.I32Add).i32(3).op(Op.I32Shl).op(Op.I32Add).set(DP);
        c.get(PN).set(P);
        c.op(Op.Loop, VOID); // positions
        {
          c.get(PP).op(Op.F64Load).mem(3, 0).set(X);
          // y = x ≤ lo ? lo : x ≥ hi ? hi : x; pass = neither
          c.get(HI).get(X).get(X).get(HI).op(F64Ge).op(Op.Select).set(Y);
          c.get(LO).get(Y).get(X).get(LO).op(F64Le).op(Op.Select).set(Y);
          c.get(X).get(LO).op(F64Le).get(X).get(HI).op(F64Ge).op(F.I32Or).op(Op.I32Eqz).set(PASS);
          c.get(DP);
          c.get(PASS).op(Op.F64ConvertI32S).get(GS).op(Op.F64Mul);
          c.get(Y).get(TP).op(F32Load).mem(2, 0).op(F64PromoteF32).op(Op.F64Sub).op(Op.F64Mul).op(Op.F64Store).mem(3, 0);
          c.addTo(PP, 8);
          c.addTo(TP, 4);
          c.get(DP).get(COUT).i32(3).op(Op.I32Shl).op(Op.I32Add).set(DP);
          c.countDown(P);
        }
        c.op(Op.End);
        c.countUp(O, COUT);
      }
      c.op(Op.End);
      c.addTo(P0, 8);
      c.get(P0).get(PIX).op(Op.I32LtU).op(Op.BrIf, 0);
    }
    c.op(Op.End);
    c.countUp(B, NB);
  }
  c.op(Op.End);
  c.op(Op.End);
  return { name: 'outGrad', params: 8, locals: [...new Array<number>(8).fill(I32), ...new Array<number>(5).fill(F64), I32], body: c };
}

/** f64.const with the exact bits of `v` */
function f64const(c: Code, v: number): Code {
  const b = new Uint8Array(new Float64Array([v]).buffer);
  c.op(0x44, ...b);
  return c;
}

/** fdlibm's constants as V8's ieee754::exp spells them */
const EXP = {
  ln2Hi: 6.93147180369123816490e-1,
  ln2Lo: 1.90821492927058770002e-10,
  invLn2: 1.44269504088896338700e0,
  p1: 1.66666666666666019037e-1,
  p2: -2.77777777770155933842e-3,
  p3: 6.61375632143793436117e-5,
  p4: -1.65339022054652515390e-6,
  p5: 4.13813679705723846039e-8,
  e: 2.718281828459045,
  uThreshold: -7.45133219101941108420e2,
  twoM1000: 9.33263618503218878990e-302,
} as const;

/**
 * expList(n, vals): vals[i] = exp(vals[i]) for vals[i] < 2.5 (σ's −V, and the regularizer's
 * (β − 1)·log|2h − 1| ≤ 0) — fdlibm's e_exp.c as V8 compiles it for Math.exp: argument reduction
 * x = k·ln2 + r with ln2 split hi / lo, the rational approximation, 2^k inserted into the exponent
 * (scaled by 2^−1000 for k < −1021), 0 below the underflow threshold; the overflow branches are
 * out of this range. adaKernels checks it against Math.exp bit for bit before it is used; where it
 * differs the caller keeps Math.exp.
 */
function expListFunc(): Func {
  const { N, VALS, K, HX, XSB, X, HI, LO, T, C } = slots('N', 'VALS', 'K', 'HX', 'XSB', 'X', 'HI', 'LO', 'T', 'C');
  const c = new Code();
  const I64ReinterpretF64 = 0xbd;
  const F64ReinterpretI64 = 0xbf;
  const I64ShrU = 0x88;
  const I64Shl = 0x86;
  const I32WrapI64 = 0xa7;
  const I64ExtendI32U = 0xad;
  const I32TruncF64S = 0xaa;
  const I32GtU = 0x4b;
  const F64Eq = 0x61;
  // c = x − t·(P1 + t·(P2 + t·(P3 + t·(P4 + t·P5)))), t = x²
  const poly = () => {
    c.get(X).get(X).op(Op.F64Mul).set(T);
    c.get(X).get(T);
    f64const(c, EXP.p1).get(T);
    f64const(c, EXP.p2).get(T);
    f64const(c, EXP.p3).get(T);
    f64const(c, EXP.p4).get(T);
    f64const(c, EXP.p5).op(Op.F64Mul).op(Op.F64Add).op(Op.F64Mul).op(Op.F64Add).op(Op.F64Mul).op(Op.F64Add).op(Op.F64Mul).op(Op.F64Add);
    c.op(Op.F64Mul).op(Op.F64Sub).set(C);
  };
  c.get(N).op(Op.If, VOID);
  c.op(Op.Loop, VOID);
  {
    c.op(Op.Block, VOID); // result stored inside; `br 0` leaves
    {
      c.get(VALS).op(Op.F64Load).mem(3, 0).tee(X).op(I64ReinterpretF64).i32(32).op(I64ExtendI32U).op(I64ShrU).op(I32WrapI64).tee(HX);
      c.i32(31).op(Op.I32ShrU).set(XSB);
      c.get(HX).i32(0x7fffffff).op(F.I32And).set(HX);
      // x < −745.13…: underflow to +0 (twom1000·twom1000)
      c.get(X);
      f64const(c, EXP.uThreshold).op(F.Lt).op(Op.If, VOID);
      c.get(VALS);
      f64const(c, EXP.twoM1000);
      f64const(c, EXP.twoM1000).op(Op.F64Mul).op(Op.F64Store).mem(3, 0);
      c.op(Op.Br, 1);
      c.op(Op.End);
      c.get(HX).i32(0x3fd62e42).op(I32GtU).op(Op.If, VOID); // |x| > 0.5 ln2
      {
        c.get(HX).i32(0x3ff0a2b2).op(Op.I32LtU).op(Op.If, VOID); // and |x| < 1.5 ln2
        {
          c.get(X);
          f64const(c, 1).op(F64Eq).op(Op.If, VOID);
          c.get(VALS);
          f64const(c, EXP.e).op(Op.F64Store).mem(3, 0);
          c.op(Op.Br, 3);
          c.op(Op.End);
          // hi = x − ln2HI[xsb], lo = ln2LO[xsb], k = 1 − 2·xsb
          c.get(X);
          f64const(c, -EXP.ln2Hi);
          f64const(c, EXP.ln2Hi).get(XSB).op(Op.Select).op(Op.F64Sub).set(HI);
          f64const(c, -EXP.ln2Lo);
          f64const(c, EXP.ln2Lo).get(XSB).op(Op.Select).set(LO);
          c.i32(1).get(XSB).get(XSB).op(Op.I32Add).op(Op.I32Sub).set(K);
        }
        c.op(Op.Else);
        {
          // k = (int)(invln2·x + (xsb ? −0.5 : 0.5)); hi = x − k·ln2HI; lo = k·ln2LO
          f64const(c, EXP.invLn2).get(X).op(Op.F64Mul);
          f64const(c, -0.5);
          f64const(c, 0.5).get(XSB).op(Op.Select).op(Op.F64Add).op(I32TruncF64S).tee(K);
          c.op(Op.F64ConvertI32S).set(T);
          c.get(X).get(T);
          f64const(c, EXP.ln2Hi).op(Op.F64Mul).op(Op.F64Sub).set(HI);
          c.get(T);
          f64const(c, EXP.ln2Lo).op(Op.F64Mul).set(LO);
        }
        c.op(Op.End);
        c.get(HI).get(LO).op(Op.F64Sub).set(X);
        poly();
        // y = 1 − ((lo − (x·c)/(2 − c)) − hi); exp = y·2^k
        f64const(c, 1).get(LO).get(X).get(C).op(Op.F64Mul);
        f64const(c, 2).get(C).op(Op.F64Sub).op(Op.F64Div).op(Op.F64Sub).get(HI).op(Op.F64Sub).op(Op.F64Sub);
        // k ≥ −1021: y·2^k; below: (y·2^(k+1000))·2^−1000 (y kept in C, which is done with)
        c.set(C);
        c.get(K).i32(-1021).op(Op.I32GeS).op(Op.If, VOID);
        c.get(C).i32(0x3ff00000).get(K).i32(20).op(Op.I32Shl).op(Op.I32Add).op(I64ExtendI32U).i32(32).op(I64ExtendI32U).op(I64Shl).op(F64ReinterpretI64);
        c.op(Op.F64Mul).set(T);
        c.op(Op.Else);
        c.get(C).i32(0x3ff00000).get(K).i32(1000).op(Op.I32Add).i32(20).op(Op.I32Shl).op(Op.I32Add).op(I64ExtendI32U).i32(32).op(I64ExtendI32U).op(I64Shl).op(F64ReinterpretI64);
        c.op(Op.F64Mul);
        f64const(c, EXP.twoM1000).op(Op.F64Mul).set(T);
        c.op(Op.End);
        c.get(VALS).get(T).op(Op.F64Store).mem(3, 0);
        c.op(Op.Br, 1);
      }
      c.op(Op.End);
      c.get(HX).i32(0x3e300000).op(Op.I32LtU).op(Op.If, VOID); // |x| < 2^−28: 1 + x
      c.get(VALS);
      f64const(c, 1).get(X).op(Op.F64Add).op(Op.F64Store).mem(3, 0);
      c.op(Op.Br, 1);
      c.op(Op.End);
      // k = 0: 1 − ((x·c)/(c − 2) − x)
      poly();
      c.get(VALS);
      f64const(c, 1).get(X).get(C).op(Op.F64Mul).get(C);
      f64const(c, 2).op(Op.F64Sub).op(Op.F64Div).get(X).op(Op.F64Sub).op(Op.F64Sub).op(Op.F64Store).mem(3, 0);
    }
    c.op(Op.End);
    c.addTo(VALS, 8);
    c.countDown(N);
  }
  c.op(Op.End, Op.End);
  c.op(Op.End);
  return { name: 'expList', params: 2, locals: [I32, I32, I32, F64, F64, F64, F64, F64], body: c };
}

type Fn = (...a: number[]) => number;

export interface AdaKernels {
  readonly memory: WebAssembly.Memory;
  /** see the functions above */
  readonly fwd4: Fn;
  readonly fwd1: Fn;
  readonly grad4: Fn;
  readonly adamReg: Fn;
  readonly adam: Fn;
  readonly adamSig: Fn;
  readonly outGrad: Fn;
  /** expList, or null where it does not reproduce Math.exp bit for bit on this engine */
  readonly expList: Fn | null;
}

let compiled: WebAssembly.Module | null | undefined;

/**
 * The kernels over a fresh memory of at least `bytes`; null where WebAssembly SIMD is unavailable
 * (adaround.ts then runs its JavaScript loops, which give the same codes).
 */
export function adaKernels(bytes: number): AdaKernels | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(buildModule([fwdFunc(4), fwdFunc(1), gradFunc(), adamRegFunc(), adamFunc(), adamSigFunc(), expListFunc(), outGradFunc()]));
    } catch {
      compiled = null;
    }
  }
  if (!compiled) return null;
  const pages = Math.max(1, Math.ceil(bytes / 65536));
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: pages });
  } catch {
    return null;
  }
  const ex = new WebAssembly.Instance(compiled, { e: { m: memory } }).exports as Record<string, Fn>;
  expChecked ??= expMatchesMathExp();
  return { memory, fwd4: ex.fwd4, fwd1: ex.fwd1, grad4: ex.grad4, adamReg: ex.adamReg, adam: ex.adam, adamSig: ex.adamSig, outGrad: ex.outGrad, expList: expChecked ? ex.expList : null };
}

let expChecked: boolean | undefined;

/**
 * expList against Math.exp, bit for bit, on 2^16 + 60 arguments: seeded uniform ones over (−2.5, 2.5)
 * and (−800, 0), each branch boundary's neighbours, ±1, ±0, tiny. A different engine's Math.exp
 * fails it.
 */
export function expMatchesMathExp(): boolean {
  if (!compiled) return false;
  const memory = new WebAssembly.Memory({ initial: 9 });
  const ex = new WebAssembly.Instance(compiled, { e: { m: memory } }).exports as Record<string, Fn>;
  const vals = new Float64Array(memory.buffer, 0, 65536 + 60);
  let seed = 0x9e3779b9;
  for (let i = 0; i < 65536; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    vals[i] = i & 1 ? (seed / 2 ** 32) * 5 - 2.5 : -(seed / 2 ** 32) * 800;
  }
  const edges = [0.5 * Math.LN2, 1.5 * Math.LN2, 2 ** -28, 1, 0, 2.4999999, 1e-300, 708.3964185322641, 709.782712893384, 745.1332191019411];
  let j = 65536;
  for (const e of edges) for (const v of [e, e * (1 + 2 ** -52), e * (1 - 2 ** -52)]) if (j < vals.length - 1) (vals[j++] = -v), e < 2.5 && (vals[j++] = v);
  const want = Float64Array.from(vals, (v) => Math.exp(v));
  ex.expList(j, 0);
  for (let i = 0; i < j; i++) if (!Object.is(vals[i], want[i])) return false;
  return true;
}
