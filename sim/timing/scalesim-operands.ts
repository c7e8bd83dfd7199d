/**
 * SCALE-Sim's operand addresses and prefetch streams (scalesim/compute/operand_matrix.py and
 * systolic_compute_<df>.create_*_prefetch_mat), local to each operand (trace offsets are added by
 * the callers). Its own file because both the demand generator (scalesim-demand.ts) and the read
 * buffers' prefetch order (scalesim-read-buffer.ts) are built from these matrices.
 */
import type { TimingDataflow } from './compute.js';
import { viewOutDims, type GemmView } from './gemm-view.js';

/**
 * The ifmap operand matrix M×K of one group as local addresses (−1 = a window position past the
 * edge). SCALE-Sim's layout: address = (row·W + col)·C + channel; window index = (ky·FW + kx)·C + c.
 * A plain GEMM (SCALE-Sim's 1×K filter over an M×K ifmap) gives m·K + k.
 */
export function ifmapAddressMatrix(view: GemmView): Int32Array {
  const { M, K } = view;
  const a = new Int32Array(M * K);
  const g = view.conv;
  if (!g) {
    for (let i = 0; i < M * K; i++) a[i] = i;
    return a;
  }
  const { outW } = viewOutDims(view);
  const cg = g.channels / g.group;
  const C = g.channels;
  for (let m = 0; m < M; m++) {
    const oy = Math.floor(m / outW);
    const ox = m - oy * outW;
    const iy0 = oy * g.strideH - g.padTop;
    const ix0 = ox * g.strideW - g.padLeft;
    const rowBase = m * K;
    let j = 0;
    for (let ky = 0; ky < g.filterH; ky++) {
      const iy = iy0 + ky * g.dilationH;
      for (let kx = 0; kx < g.filterW; kx++) {
        const ix = ix0 + kx * g.dilationW;
        const inside = iy >= 0 && iy < g.ifmapH && ix >= 0 && ix < g.ifmapW;
        const base = (iy * g.ifmapW + ix) * C;
        for (let c = 0; c < cg; c++) a[rowBase + j++] = inside ? base + c : -1;
      }
    }
  }
  return a;
}

/** filter operand (k, n) → local address n·K + k (SCALE-Sim: filter-major, window-minor). */
export function filterAddr(K: number, k: number, n: number): number {
  return n * K + k;
}

/** An operand's prefetch stream: the fetch matrix flattened, −1 = null request. */
export interface Stream {
  readonly words: Int32Array;
}

/** Anti-diagonal roll of a rows×cols matrix (SCALE-Sim's fix for issues #15/#16). */
function rolled(rowsP: number, colsP: number, at: (r: number, c: number) => number): Int32Array {
  const outW = new Int32Array(rowsP * colsP);
  let idx = 0;
  for (let d = 0; d < rowsP + colsP - 1; d++) {
    const maxRow = Math.min(d, rowsP - 1);
    const minRow = Math.max(0, d - colsP + 1);
    for (let r = maxRow; r >= minRow; r--) outW[idx++] = at(r, d - r);
  }
  return outW;
}

function plain(rowsP: number, colsP: number, at: (r: number, c: number) => number): Int32Array {
  const outW = new Int32Array(rowsP * colsP);
  let idx = 0;
  for (let r = 0; r < rowsP; r++) for (let c = 0; c < colsP; c++) outW[idx++] = at(r, c);
  return outW;
}

/**
 * `⌈n / width⌉ · T` rows of `width` lanes, laid out by `layout`: lane c of row r holds element
 * i = ⌊r / T⌋·width + c of the folded axis (n elements) at time t = r mod T, `addr(i, t)`, or −1
 * past the axis' end.
 */
function folded(layout: typeof plain, n: number, width: number, T: number, addr: (i: number, t: number) => number): Int32Array {
  return layout(Math.ceil(n / width) * T, width, (r, c) => {
    const f = Math.floor(r / T);
    const i = f * width + c;
    return i < n ? addr(i, r - f * T) : -1;
  });
}

/** The ifmap and filter prefetch streams of systolic_compute_<df>.create_*_prefetch_mat. */
export function prefetchStreams(view: GemmView, df: TimingDataflow, R: number, C: number, ifm: Int32Array): { ifmap: Stream; filter: Stream } {
  const { M, K, N } = view;
  let ifmap: Int32Array;
  let filter: Int32Array;
  if (df === 'os') {
    // ifmap rows of a row fold and filter columns of a column fold, over k
    ifmap = folded(rolled, M, R, K, (m, k) => ifm[m * K + k]);
    filter = folded(rolled, N, C, K, (n, k) => filterAddr(K, k, n));
  } else if (df === 'ws') {
    ifmap = folded(rolled, K, R, M, (k, m) => ifm[m * K + k]);
    filter = folded(plain, N, C, K, (n, k) => filterAddr(K, k, n));
  } else {
    ifmap = folded(plain, M, C, K, (m, k) => ifm[m * K + k]);
    filter = folded(rolled, K, R, N, (k, n) => filterAddr(K, k, n));
  }
  return { ifmap: { words: ifmap }, filter: { words: filter } };
}
