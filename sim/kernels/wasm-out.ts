/**
 * The output stage of the SIMD kernel's requantized rows (wasm.ts adds these to its module):
 *  - pool2 (DotLayer.pool2x2): a 2×2, stride-2 max pool — the pool that follows a conv in most
 *    CNNs — on the codes while they are still in the kernel's memory, so the conv's full-size
 *    output is never copied out. It runs after the requantization, on the very codes MaxPool would
 *    read, so its result is MaxPool's bit for bit (test/golden/fused-pool-vs-ort.test.ts);
 *  - scatter (DotLayer.scatter): pooled channel rows of n images into NCHW order, one
 *    `memory.copy` per image and channel, so the layer's codes lie in WebAssembly as one NCHW
 *    tensor (an unpooled conv's requant writes them there itself: DotLayer.requantInto).
 */
import { Code, I32, Op, Simd, V128, VOID, type Func } from '../../nets/wasm-binary.js';
import { maxOf } from './wasm-fill.js';

/** the even (odd) int32 lanes of two vectors: [a0 a2 b0 b2] ([a1 a3 b1 b3]) */
const EVEN = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];
const ODD = [4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31];

/** memory.copy (bulk memory), memory 0 to memory 0: stack [dst, src, bytes] */
const MEMORY_COPY = [0xfc, 0x0a, 0x00, 0x00];

/**
 * pool2(src, rowBytes, rows, n, oh, ow, ph, pw): each of `rows` int32 rows (src + r·rowBytes)
 * holds n images of oh×ow outputs back to back; it is replaced, in place, by the n images of
 * ph×pw window maxima (window (y, x) = rows 2y, 2y+1 × columns 2x, 2x+1), back to back from the
 * row's start. In place is safe: output index b·ph·pw + y·pw + x never exceeds the index
 * b·oh·ow + 2y·ow + 2x of the window's first input (ph ≤ oh/2, pw ≤ ow/2), and a step's loads
 * come before its store, so no store reaches an input still to be read.
 */
export function poolFunc(): Func {
  const SRC = 0, ROWB = 1, ROWS = 2, N = 3, OH = 4, OW = 5, PH = 6, PW = 7;
  const R = 8, B = 9, Y = 10, X = 11, D = 12, R0 = 13, R1 = 14, IMG = 15, ROWSTART = 16, Q = 17, M = 18, OWB = 19;
  const A0 = 20, A1 = 21, V0 = 22, V1 = 23;
  const c = new Code();
  c.op(Op.Block, VOID);
  c.get(ROWS).op(Op.I32Eqz).get(N).op(Op.I32Eqz).op(Op.I32Or).get(PH).op(Op.I32Eqz).op(Op.I32Or).get(PW).op(Op.I32Eqz).op(Op.I32Or).op(Op.BrIf, 0);
  c.get(OW).i32(2).op(Op.I32Shl).set(OWB);
  c.get(SRC).set(ROWSTART);
  c.i32(0).set(R);
  c.op(Op.Loop, VOID); // rows
  {
    c.get(ROWSTART).set(D);
    c.get(ROWSTART).set(IMG);
    c.i32(0).set(B);
    c.op(Op.Loop, VOID); // images
    {
      c.i32(0).set(Y);
      c.op(Op.Loop, VOID); // output rows
      {
        // r0 = img + 2y·ow·4, r1 = r0 + ow·4
        c.get(IMG).get(Y).get(OWB).op(Op.I32Mul).i32(1).op(Op.I32Shl).op(Op.I32Add).tee(R0).get(OWB).op(Op.I32Add).set(R1);
        c.i32(0).set(X);
        c.op(Op.Block, VOID);
        c.op(Op.Loop, VOID); // 4 outputs at a time
        {
          c.get(X).i32(4).op(Op.I32Add).get(PW).op(Op.I32GtU).op(Op.BrIf, 1);
          c.get(R0).simd(Simd.Load).mem(2, 0).get(R1).simd(Simd.Load).mem(2, 0).simd(Simd.I32x4MaxS).set(A0);
          c.get(R0).simd(Simd.Load).mem(2, 16).get(R1).simd(Simd.Load).mem(2, 16).simd(Simd.I32x4MaxS).set(A1);
          c.get(A0).get(A1).simd(Simd.Shuffle).op(...EVEN).set(V0);
          c.get(A0).get(A1).simd(Simd.Shuffle).op(...ODD).set(V1);
          c.get(D).get(V0).get(V1).simd(Simd.I32x4MaxS).simd(Simd.Store).mem(2, 0);
          c.addTo(R0, 32).addTo(R1, 32).addTo(D, 16).addTo(X, 4);
          c.op(Op.Br, 0);
        }
        c.op(Op.End);
        c.op(Op.End);
        c.op(Op.Block, VOID);
        c.op(Op.Loop, VOID); // the row's last pw mod 4 outputs
        {
          c.get(X).get(PW).op(Op.I32GeU).op(Op.BrIf, 1);
          c.get(R0).op(Op.I32Load).mem(2, 0).set(M);
          c.get(R0).op(Op.I32Load).mem(2, 4).set(Q);
          maxOf(c, Q, M);
          c.get(R1).op(Op.I32Load).mem(2, 0).set(Q);
          maxOf(c, Q, M);
          c.get(R1).op(Op.I32Load).mem(2, 4).set(Q);
          maxOf(c, Q, M);
          c.get(D).get(M).op(Op.I32Store).mem(2, 0);
          c.addTo(R0, 8).addTo(R1, 8).addTo(D, 4).addTo(X, 1);
          c.op(Op.Br, 0);
        }
        c.op(Op.End);
        c.op(Op.End);
        c.countUp(Y, PH, Op.I32LtU);
      }
      c.op(Op.End);
      // next image: img += oh·ow·4
      c.get(IMG).get(OH).get(OWB).op(Op.I32Mul).op(Op.I32Add).set(IMG);
      c.countUp(B, N, Op.I32LtU);
    }
    c.op(Op.End);
    c.get(ROWSTART).get(ROWB).op(Op.I32Add).set(ROWSTART);
    c.countUp(R, ROWS, Op.I32LtU);
  }
  c.op(Op.End);
  c.op(Op.End);
  c.op(Op.End);
  return { name: 'pool2', params: 8, locals: [...new Array<number>(12).fill(I32), ...new Array<number>(4).fill(V128)], body: c };
}

/**
 * scatter(src, rowBytes, rows, n, areaBytes, dst, imgBytes): row r (src + r·rowBytes) holds n
 * images of areaBytes back to back; image b of row r goes to dst + b·imgBytes + r·areaBytes.
 */
export function scatterFunc(): Func {
  const SRC = 0, ROWB = 1, ROWS = 2, N = 3, AREAB = 4, DST = 5, IMGB = 6;
  const R = 7, B = 8, S = 9, D = 10;
  const c = new Code();
  c.op(Op.Block, VOID);
  c.get(ROWS).op(Op.I32Eqz).get(N).op(Op.I32Eqz).op(Op.I32Or).op(Op.BrIf, 0);
  c.i32(0).set(R);
  c.op(Op.Loop, VOID); // rows
  {
    c.get(SRC).get(R).get(ROWB).op(Op.I32Mul).op(Op.I32Add).set(S);
    c.get(DST).get(R).get(AREAB).op(Op.I32Mul).op(Op.I32Add).set(D);
    c.i32(0).set(B);
    c.op(Op.Loop, VOID); // images
    {
      c.get(D).get(S).get(AREAB).op(...MEMORY_COPY);
      c.addLocal(S, AREAB).addLocal(D, IMGB);
      c.countUp(B, N, Op.I32LtU);
    }
    c.op(Op.End);
    c.countUp(R, ROWS, Op.I32LtU);
  }
  c.op(Op.End);
  c.op(Op.End);
  c.op(Op.End);
  return { name: 'scatter', params: 7, locals: new Array<number>(4).fill(I32), body: c };
}
