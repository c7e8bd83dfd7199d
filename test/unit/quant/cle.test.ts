/**
 * Cross-layer equalization: the equalized graph computes the same function as the BN-folded one
 * (with ReLU6 → ReLU applied where CLE says it replaced them, and exactly when `relu6: 'skip'`), the
 * depthwise triples end with r1_i = r_dw_i = r3_i, per-channel weight ranges get more uniform, and
 * high-bias absorption moves max(0, β − 3γ) while keeping outputs close. Constructed graphs check a
 * gemm–ReLU–MaxPool–free pair and absorption by hand.
 */
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../../nets/data/index.js';
import { batchInput } from '../../../nets/eval.js';
import { runFp32 } from '../../../nets/fp32.js';
import type { Graph, Node, Tensor } from '../../../nets/graph.js';
import { photoOutputs } from '../../../nets/photo-eval.js';
import { Prng } from '../../../nets/prng.js';
import { loadModel } from '../../../nets/zoo/index.js';
import { foldBatchNorms } from '../../../quant/bnfold.js';
import { crossLayerEqualize } from '../../../quant/cle.js';
import { maxRelErr } from '../../helpers/numeric.js';

function withRelu(g: Graph, names: readonly string[]): Graph {
  const set = new Set(names);
  return { ...g, nodes: g.nodes.map((n) => (set.has(n.name) ? { ...n, op: 'Relu' as const, attrs: {} } : n)) };
}

function weightOf(g: Graph, layer: string): { w: Float32Array; shape: readonly number[] } {
  const n = g.nodes.find((x) => x.name === layer)!;
  const t = g.initializers.get(n.inputs[1])!;
  return { w: t.data as Float32Array, shape: t.shape };
}

/** max |W| per output channel (axis 0) */
function outRanges(g: Graph, layer: string): Float64Array {
  const { w, shape } = weightOf(g, layer);
  const per = w.length / shape[0];
  const r = new Float64Array(shape[0]);
  for (let o = 0; o < shape[0]; o++) for (let k = 0; k < per; k++) r[o] = Math.max(r[o], Math.abs(w[o * per + k]));
  return r;
}

/** max |W| per input channel of a group-1 conv (axis 1) */
function inRanges(g: Graph, layer: string): Float64Array {
  const { w, shape } = weightOf(g, layer);
  const [o, i] = shape;
  const taps = w.length / (o * i);
  const r = new Float64Array(i);
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let t = 0; t < taps; t++) r[b] = Math.max(r[b], Math.abs(w[(a * i + b) * taps + t]));
  return r;
}

/** DFQ's per-channel "precision" of a layer: mean_i r_i / max_i r_i (1 = perfectly uniform) */
function precision(r: Float64Array): number {
  let s = 0;
  let m = 0;
  for (const v of r) {
    s += v;
    m = Math.max(m, v);
  }
  return s / r.length / m;
}

describe('crossLayerEqualize on fmnist-dwsep', () => {
  const { graph } = loadModel('fmnist-dwsep');
  const folded = foldBatchNorms(graph);
  const set = loadDataset('fmnist', 'test', { samples: 128, seed: 4 });
  const feeds = batchInput(graph, set.images, set.shape, 0, set.count);
  const out = (g: Graph) => runFp32(g, feeds)[g.outputs[0].name].data as Float32Array;

  it('finds the five conv–depthwise–conv triples and keeps the function (ReLU6 → ReLU)', () => {
    const res = crossLayerEqualize(folded.graph, folded.bn, { highBiasAbsorption: false });
    expect(res.pairs.map((p) => [p.first, p.second, p.third])).toEqual([
      ['stem', 'dw1', 'pw1'],
      ['pw1', 'dw2', 'pw2'],
      ['pw2', 'dw3', 'pw3'],
      ['pw3', 'dw4', 'pw4'],
      ['pw4', 'dw5', 'pw5'],
    ]);
    for (const p of res.pairs) expect(p.iterations).toBeGreaterThan(1);
    expect([...res.relu6Replaced].sort()).toEqual(['dw1_relu6', 'dw2_relu6', 'dw3_relu6', 'dw4_relu6', 'dw5_relu6', 'pw1_relu6', 'pw2_relu6', 'pw3_relu6', 'pw4_relu6', 'stem_relu6']);
    const ref = out(withRelu(folded.graph, res.relu6Replaced));
    expect(maxRelErr(ref, out(res.graph))).toBeLessThan(1e-4);
  });

  it('converged triples have r1_i = r_dw_i = r3_i; layer ranges get more uniform', () => {
    const res = crossLayerEqualize(folded.graph, folded.bn, { highBiasAbsorption: false, tolerance: 1e-7, maxIterations: 400 });
    for (const p of res.pairs) {
      const r1 = outRanges(res.graph, p.first);
      const rd = outRanges(res.graph, p.second);
      const r3 = inRanges(res.graph, p.third!);
      for (let i = 0; i < r1.length; i++) {
        expect(Math.abs(Math.log(r1[i] / rd[i]))).toBeLessThan(1e-4);
        expect(Math.abs(Math.log(rd[i] / r3[i]))).toBeLessThan(1e-4);
      }
    }
    // depthwise layers are the textbook victims of per-tensor quantization: their precision rises
    let before = 0;
    let after = 0;
    for (const p of res.pairs) {
      before += precision(outRanges(folded.graph, p.second)) / res.pairs.length;
      after += precision(outRanges(res.graph, p.second)) / res.pairs.length;
    }
    expect(after).toBeGreaterThan(before * 1.5);
  });

  it("relu6: 'skip' equalizes nothing joined by ReLU6 and keeps the function exactly", () => {
    const res = crossLayerEqualize(folded.graph, folded.bn, { relu6: 'skip' });
    expect(res.pairs).toEqual([]);
    expect(res.relu6Replaced).toEqual([]);
    expect(out(res.graph)).toEqual(out(folded.graph));
  });
});

describe('crossLayerEqualize on mobilenetv2 (pretrained)', () => {
  const { graph } = loadModel('mobilenetv2');
  const folded = foldBatchNorms(graph);
  const photos = (g: Graph) => photoOutputs(g, 'mobilenetv2', { samples: 2, seed: 6 }).outputs;

  it('keeps the function (no absorption), equalizes 17 triples, ranges more uniform', () => {
    const res = crossLayerEqualize(folded.graph, folded.bn, { highBiasAbsorption: false });
    const triples = res.pairs.filter((p) => p.third);
    expect(triples.length).toBe(17);
    expect(triples.map((p) => p.second)).toContain('block_16_depthwise');
    const ref = photos(withRelu(folded.graph, res.relu6Replaced));
    expect(maxRelErr(ref, photos(res.graph))).toBeLessThan(1e-4);
    let before = 0;
    let after = 0;
    for (const p of triples) {
      before += precision(outRanges(folded.graph, p.second)) / triples.length;
      after += precision(outRanges(res.graph, p.second)) / triples.length;
    }
    expect(after).toBeGreaterThan(before * 1.5);
  });

  it('high-bias absorption: β − 3γ ≤ 0 left behind, outputs stay close', () => {
    const plain = crossLayerEqualize(folded.graph, folded.bn, { highBiasAbsorption: false });
    const res = crossLayerEqualize(folded.graph, folded.bn, { highBiasAbsorption: true });
    const total = [...res.absorbed.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(1);
    for (const p of res.pairs.filter((x) => x.third)) {
      // absorbed out of the depthwise layer (its successor is a 1×1 conv, no padding)
      const bn = res.bn.get(p.second)!;
      for (let i = 0; i < bn.beta.length; i++) expect(bn.beta[i] - 3 * bn.gamma[i]).toBeLessThan(1e-4);
      // the β it reports is the real pre-activation mean: bias moved by exactly what β moved
      const before = plain.bn.get(p.second)!;
      const bOld = plain.graph.initializers.get(plain.graph.nodes.find((n) => n.name === p.second)!.inputs[2])!.data as Float32Array;
      const bNew = res.graph.initializers.get(res.graph.nodes.find((n) => n.name === p.second)!.inputs[2])!.data as Float32Array;
      for (let i = 0; i < bn.beta.length; i++) expect(bNew[i] - bOld[i]).toBeCloseTo(bn.beta[i] - before.beta[i], 3);
    }
    // DFQ's padded absorption: the depthwise layer first receives W·c from the expand conv, then
    // gives c to the project conv — its reported β must include what it received
    const dfq = crossLayerEqualize(folded.graph, folded.bn, { highBiasAbsorption: true, padding: 'dfq' });
    for (const p of dfq.pairs.filter((x) => x.third)) {
      const bn = dfq.bn.get(p.second)!;
      const before = plain.bn.get(p.second)!;
      const bOld = plain.graph.initializers.get(plain.graph.nodes.find((n) => n.name === p.second)!.inputs[2])!.data as Float32Array;
      const bNew = dfq.graph.initializers.get(dfq.graph.nodes.find((n) => n.name === p.second)!.inputs[2])!.data as Float32Array;
      for (let i = 0; i < bn.beta.length; i++) {
        expect(bNew[i] - bOld[i]).toBeCloseTo(bn.beta[i] - before.beta[i], 3);
        expect(bn.beta[i] - 3 * bn.gamma[i]).toBeLessThan(1e-4);
      }
    }
    // not exact on real photos (border taps of padded depthwise layers and the 3γ tail break the
    // "ReLU is linear above c" assumption): same top-1, outputs within 10 dB SQNR
    const a = photos(plain.graph);
    const b = photos(res.graph);
    let sig = 0;
    let err = 0;
    for (let i = 0; i < a.length; i++) {
      sig += a[i] * a[i];
      err += (a[i] - b[i]) ** 2;
    }
    expect(10 * Math.log10(sig / err)).toBeGreaterThan(10);
    const top = (o: Float32Array, r: number) => Array.from(o.subarray(r * 5, r * 5 + 5)).reduce((best, v, j, arr) => (v > arr[best] ? j : best), 0);
    expect([top(b, 0), top(b, 1)]).toEqual([top(a, 0), top(a, 1)]);
  });
});

describe('crossLayerEqualize on constructed graphs', () => {
  const t = (shape: number[], data: Float32Array): Tensor => ({ dtype: 'float32', shape, data });
  it('gemm → ReLU → gemm with α, β: same function, ranges balanced, absorption by hand', () => {
    const prng = new Prng(31);
    const [k, h, n] = [6, 5, 4];
    const w1 = new Float32Array(h * k).map((_, i) => prng.normal() * (1 + (Math.floor(i / k) % 3) * 4));
    const w2 = new Float32Array(k * 0 + h * n).map(() => prng.normal());
    const inits = new Map<string, Tensor>([
      ['W1', t([h, k], w1)],
      ['C1', t([h], new Float32Array(h).map(() => 3 + prng.next()))],
      ['W2', t([h, n], w2)],
      ['C2', t([n], new Float32Array(n).map(() => prng.normal()))],
    ]);
    const nodes: Node[] = [
      { name: 'fc1', op: 'Gemm', inputs: ['x', 'W1', 'C1'], outputs: ['h'], attrs: { alpha: 1.5, beta: 0.5, transA: 0, transB: 1 } },
      { name: 'relu', op: 'Relu', inputs: ['h'], outputs: ['r'], attrs: {} },
      { name: 'fc2', op: 'Gemm', inputs: ['r', 'W2', 'C2'], outputs: ['y'], attrs: { alpha: 1, beta: 1, transA: 0, transB: 0 } },
    ];
    const g: Graph = {
      name: 'mlp',
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, k] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1, n] }],
      initializers: inits,
      nodes,
      opset: 17,
    };
    const x = new Float32Array(64 * k).map(() => prng.normal() * 0.01);
    const run = (gr: Graph) => runFp32(gr, { x: t([64, k], x) }).y.data as Float32Array;
    // a BN-like description of fc1's output: mean β = 0.5·C1 (x is tiny), γ = 0.2, so c = β − 3γ > 0
    // and the pre-activation (≥ β − 0.3 on these inputs) never drops below c: absorption is exact
    const gamma = new Float32Array(h).fill(0.2);
    const beta = (inits.get('C1')!.data as Float32Array).map((v) => 0.5 * v);
    const bn = new Map([['fc1', { gamma, beta }]]);
    const plain = crossLayerEqualize(g, bn, { highBiasAbsorption: false });
    expect(plain.pairs).toEqual([{ first: 'fc1', second: 'fc2', iterations: 2 }]);
    expect(maxRelErr(run(g), run(plain.graph))).toBeLessThan(1e-5);
    // r1_i (row i of fc1's [h,k] weight, with α) equals r2_i (row i of fc2's [h,n] weight)
    const e1 = weightOf(plain.graph, 'fc1').w;
    const e2 = weightOf(plain.graph, 'fc2').w;
    for (let i = 0; i < h; i++) {
      const r1 = Math.max(...Array.from(e1.subarray(i * k, (i + 1) * k), Math.abs));
      const r2 = Math.max(...Array.from(e2.subarray(i * n, (i + 1) * n), Math.abs));
      expect(r1 / r2).toBeCloseTo(1, 5);
      // and it is sqrt(r1·r2) of the originals
      const o1 = 1.5 * Math.max(...Array.from(w1.subarray(i * k, (i + 1) * k), Math.abs));
      const o2 = Math.max(...Array.from(w2.subarray(i * n, (i + 1) * n), Math.abs));
      expect(r1).toBeCloseTo(Math.sqrt(o1 * o2), 4);
    }
        const hba = crossLayerEqualize(g, bn, { highBiasAbsorption: true });
    expect(maxRelErr(run(g), run(hba.graph))).toBeLessThan(1e-5);
    const s = hba.bn.get('fc1')!;
    const p = plain.bn.get('fc1')!;
    for (let i = 0; i < h; i++) {
      // c_i = β_i − 3γ_i of the equalized statistics, taken out of β
      expect(s.beta[i]).toBeCloseTo(3 * p.gamma[i], 5);
      expect(s.gamma[i]).toBeCloseTo(p.gamma[i], 6);
    }
  });

  it('conv → depthwise → conv with dead channels: the function holds and dead weights stop setting the range', () => {
    // channel 0: the project conv never reads it (r3 = 0); channel 1: the depthwise filter is all
    // zero (r_dw = 0); channel 2: the expand filter is all zero, its output the constant relu(0.5)
    // (r1 = 0); channel 3: live. The dead channels carry the largest weights of their layers.
    const prng = new Prng(7);
    const C = 4;
    const w1 = new Float32Array(C * C).map(() => prng.normal());
    w1.fill(0, 2 * C, 3 * C);
    const b1 = Float32Array.of(0.1, 0.2, 0.5, 0.3);
    const wd = new Float32Array(C * 9).map(() => prng.normal());
    for (let k = 0; k < 9; k++) wd[k] *= 50; // channel 0: huge but unread
    wd.fill(0, 9, 18);
    const bd = Float32Array.of(0.2, 0.7, 0.1, 0.4);
    const w3 = new Float32Array(3 * C).map(() => prng.normal());
    for (let o = 0; o < 3; o++) w3[o * C] = 0;
    const inits = new Map<string, Tensor>([
      ['W1', t([C, C, 1, 1], w1)],
      ['B1', t([C], b1)],
      ['WD', t([C, 1, 3, 3], wd)],
      ['BD', t([C], bd)],
      ['W3', t([3, C, 1, 1], w3)],
    ]);
    const nodes: Node[] = [
      { name: 'expand', op: 'Conv', inputs: ['x', 'W1', 'B1'], outputs: ['a'], attrs: { kernel_shape: [1, 1] } },
      { name: 'r1', op: 'Relu', inputs: ['a'], outputs: ['ar'], attrs: {} },
      { name: 'dw', op: 'Conv', inputs: ['ar', 'WD', 'BD'], outputs: ['d'], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: C } },
      { name: 'r2', op: 'Relu', inputs: ['d'], outputs: ['dr'], attrs: {} },
      { name: 'project', op: 'Conv', inputs: ['dr', 'W3'], outputs: ['y'], attrs: { kernel_shape: [1, 1] } },
    ];
    const g: Graph = {
      name: 'dead',
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, C, 6, 6] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 3, 6, 6] }],
      initializers: inits,
      nodes,
      opset: 17,
    };
    const x = new Float32Array(8 * C * 36).map(() => prng.normal());
    const run = (gr: Graph) => runFp32(gr, { x: t([8, C, 6, 6], x) }).y.data as Float32Array;
    const res = crossLayerEqualize(g, new Map(), { highBiasAbsorption: false });
    expect(res.pairs).toEqual([expect.objectContaining({ first: 'expand', second: 'dw', third: 'project' })]);
    expect(maxRelErr(run(g), run(res.graph))).toBeLessThan(1e-6);
    const rE = outRanges(res.graph, 'expand');
    const rD = outRanges(res.graph, 'dw');
    const rP = inRanges(res.graph, 'project');
    // unread channel 0: expand and depthwise silenced; constant channel 1: expand silenced
    expect([rE[0], rD[0], rE[1], rD[1]]).toEqual([0, 0, 0, 0]);
    // constant channel 2: the depthwise–project half balanced at sqrt(r_dw·r3) of the originals
    const maxAbs = (a: Float32Array) => Math.max(...Array.from(a, Math.abs));
    const oD2 = maxAbs(wd.subarray(18, 27));
    const oP2 = Math.max(...[0, 1, 2].map((o) => Math.abs(w3[o * C + 2])));
    expect(rD[2]).toBeCloseTo(Math.sqrt(oD2 * oP2), 5);
    expect(rP[2]).toBeCloseTo(Math.sqrt(oD2 * oP2), 5);
    // live channel 3: all three ranges meet at cbrt(r1·r_dw·r3)
    const oE3 = maxAbs(w1.subarray(3 * C, 4 * C));
    const oD3 = maxAbs(wd.subarray(27, 36));
    const oP3 = Math.max(...[0, 1, 2].map((o) => Math.abs(w3[o * C + 3])));
    const target = Math.cbrt(oE3 * oD3 * oP3);
    for (const r of [rE[3], rD[3], rP[3]]) expect(r).toBeCloseTo(target, 5);
    // the depthwise layer's per-tensor maximum is now a live channel's, not the unread ×50 filter's
    expect(Math.max(...rD)).toBeCloseTo(Math.max(rD[2], rD[3]), 12);
    expect(Math.max(...rD)).toBeLessThan(maxAbs(wd.subarray(0, 9)) / 10);
  });

  it("high-bias absorption into a padded layer: 'dfq' moves c and errs only on the border by Σ out-of-image W2·c; 'exact' leaves it", () => {
    const prng = new Prng(11);
    const [C, O, H] = [3, 2, 5];
    const w1 = new Float32Array(C * C).map(() => prng.normal() * 0.1);
    const b1 = Float32Array.of(4, 5, 6);
    const w2 = new Float32Array(O * C * 9).map(() => prng.normal());
    const inits = new Map<string, Tensor>([
      ['W1', t([C, C, 1, 1], w1)],
      ['B1', t([C], b1)],
      ['W2', t([O, C, 3, 3], w2)],
    ]);
    const nodes: Node[] = [
      { name: 'c1', op: 'Conv', inputs: ['x', 'W1', 'B1'], outputs: ['a'], attrs: { kernel_shape: [1, 1] } },
      { name: 'relu', op: 'Relu', inputs: ['a'], outputs: ['ar'], attrs: {} },
      { name: 'c2', op: 'Conv', inputs: ['ar', 'W2'], outputs: ['y'], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
    ];
    const g: Graph = {
      name: 'hba-pad',
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, C, H, H] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1, O, H, H] }],
      initializers: inits,
      nodes,
      opset: 17,
    };
    const x = new Float32Array(C * H * H).map(() => prng.normal());
    const run = (gr: Graph) => runFp32(gr, { x: t([1, C, H, H], x) }).y.data as Float32Array;
    // BN statistics of c1's output: β = bias, γ = 0.5 → c = β − 1.5 > 0, and the pre-activation
    // (bias ± |0.1·x|·3) stays above c, so absorption is exact away from the border
    const bn = new Map([['c1', { gamma: new Float32Array(C).fill(0.5), beta: b1.slice() }]]);
    // compare with the equalized graph without absorption (the same function, the same scales)
    const plain = crossLayerEqualize(g, bn, { highBiasAbsorption: false });
    const exact = crossLayerEqualize(g, bn, { highBiasAbsorption: true });
    const dfq = crossLayerEqualize(g, bn, { highBiasAbsorption: true, padding: 'dfq' });
    expect(exact.absorbed.get('c1')).toBe(0);
    expect(Array.from(run(exact.graph))).toEqual(Array.from(run(plain.graph)));
    expect(dfq.absorbed.get('c1')).toBeGreaterThan(0);
    // c_i in the equalized units: β_i·s_i − 3·γ_i·s_i, read back from the returned statistics
    const pb = plain.bn.get('c1')!;
    const c = Array.from(pb.beta, (b, i) => b - 3 * pb.gamma[i]);
    const w2e = weightOf(plain.graph, 'c2').w;
    const y0 = run(plain.graph);
    const y1 = run(dfq.graph);
    for (let o = 0; o < O; o++)
      for (let r = 0; r < H; r++)
        for (let q = 0; q < H; q++) {
          let outside = 0; // Σ over taps that fall outside the image of W2·c
          for (let i = 0; i < C; i++)
            for (let kr = 0; kr < 3; kr++)
              for (let kq = 0; kq < 3; kq++) {
                const rr = r + kr - 1;
                const qq = q + kq - 1;
                if (rr < 0 || rr >= H || qq < 0 || qq >= H) outside += w2e[((o * C + i) * 3 + kr) * 3 + kq] * c[i];
              }
          const k = (o * H + r) * H + q;
          expect(y1[k] - y0[k]).toBeCloseTo(outside, 4);
        }
  });
});
