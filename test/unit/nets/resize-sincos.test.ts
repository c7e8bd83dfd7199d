/**
 * Resize (nearest, integer factors), Sin and Cos: the importer, the FP32 executor and the exporter
 * against onnxruntime-node. For every ONNX spelling of an upsampling (opsets, coordinate rules,
 * rounding rules, scales or sizes, Upsample) qloom either imports it and gives ORT's output bit for
 * bit, or refuses it naming the node — and then ORT's output is not the replicating upsampling
 * (a refusal only where the file means something else).
 */
import { describe, expect, it } from 'vitest';
import { runFp32 } from '../../../nets/fp32.js';
import type { Graph, Tensor } from '../../../nets/graph.js';
import { exportOnnx } from '../../../nets/onnx/export.js';
import { importOnnx } from '../../../nets/onnx/import.js';
import { Prng } from '../../../nets/prng.js';
import { buildModel, f32, i64, type BAttr } from '../../helpers/onnx-build.js';
import { runOrt } from '../../helpers/ort.js';

function input(shape: number[], seed: number): Tensor {
  const rng = new Prng(seed);
  return { dtype: 'float32', shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()) };
}

/** the replicating upsampling, written out by hand for NCHW */
function replicate(x: Tensor, fh: number, fw: number): Float32Array {
  const [n, c, h, w] = x.shape;
  const out = new Float32Array(n * c * h * fh * w * fw);
  const d = x.data as Float32Array;
  let o = 0;
  for (let i = 0; i < n * c; i++)
    for (let y = 0; y < h * fh; y++) for (let xx = 0; xx < w * fw; xx++) out[o++] = d[(i * h + Math.floor(y / fh)) * w + Math.floor(xx / fw)];
  return out;
}

interface Spelling {
  label: string;
  opset: number;
  op?: 'Resize' | 'Upsample';
  attrs: Record<string, BAttr>;
  /** scales (float) or sizes (int64) as the third/fourth input */
  by: 'scales' | 'sizes';
  factors: [number, number];
}

const spellings: Spelling[] = [];
for (const factors of [
  [2, 2],
  [3, 2],
] as [number, number][]) {
  spellings.push({ label: `opset 10 ×${factors}`, opset: 10, attrs: { mode: 'nearest' }, by: 'scales', factors });
  spellings.push({ label: `Upsample opset 9 ×${factors}`, opset: 9, op: 'Upsample', attrs: { mode: 'nearest' }, by: 'scales', factors });
  for (const coord of ['half_pixel', 'asymmetric', 'pytorch_half_pixel', 'align_corners', 'tf_half_pixel_for_nn'])
    for (const nm of ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'])
      for (const opset of [11, 13])
        spellings.push({ label: `opset ${opset} ${coord} ${nm} ×${factors}`, opset, attrs: { mode: 'nearest', coordinate_transformation_mode: coord, nearest_mode: nm }, by: opset === 13 && nm === 'floor' ? 'sizes' : 'scales', factors });
}

function fileOf(s: Spelling, shape: number[]): Uint8Array {
  const [fh, fw] = s.factors;
  const scales = f32([4], [1, 1, fh, fw]);
  const inits: Record<string, Tensor> = {};
  let inputs: string[];
  if (s.opset <= 10) {
    inits.scales = scales;
    inputs = ['x', 'scales'];
  } else if (s.by === 'scales') {
    inits.scales = scales;
    inputs = ['x', s.opset === 11 ? 'roi' : '', 'scales'];
    if (s.opset === 11) inits.roi = f32([0], []);
  } else {
    inits.sizes = i64([shape[0], shape[1], shape[2] * fh, shape[3] * fw]);
    inputs = ['x', '', '', 'sizes'];
  }
  return buildModel({
    opset: s.opset,
    inputs: [{ name: 'x', shape }],
    outputs: [{ name: 'y' }],
    inits,
    nodes: [{ op: s.op ?? 'Resize', name: 'up', inputs, outputs: ['y'], attrs: s.attrs }],
  });
}

describe('Resize import: accepted spellings equal ORT bit for bit, refused ones are not replicating', () => {
  const shape = [1, 2, 5, 4];
  const x = input(shape, 7);
  it.each(spellings.map((s) => [s.label, s] as const))('%s', async (_l, s) => {
    const bytes = fileOf(s, shape);
    const ort = (await runOrt(bytes, { x })).y;
    const want = replicate(x, s.factors[0], s.factors[1]);
    const ortReplicates = Array.from(ort.data as Float32Array).every((v, i) => Object.is(v, want[i]));
    let graph: Graph | undefined;
    let error = '';
    try {
      graph = importOnnx(bytes, 'resize.onnx');
    } catch (e) {
      error = (e as Error).message;
    }
    if (graph) {
      const y = runFp32(graph, { x }).y;
      expect([...y.shape]).toEqual([...ort.dims]);
      expect(Array.from(y.data as Float32Array)).toEqual(Array.from(ort.data as Float32Array));
    } else {
      expect(error).toMatch(/up/);
      expect(ortReplicates).toBe(false);
    }
  });

  it('accepts the spellings PyTorch and Keras write (asymmetric + floor; half_pixel + round_prefer_floor)', () => {
    for (const label of ['opset 13 asymmetric floor ×2,2', 'opset 11 half_pixel round_prefer_floor ×3,2', 'opset 10 ×3,2'])
      expect(() => importOnnx(fileOf(spellings.find((s) => s.label === label)!, shape))).not.toThrow();
  });

  it('refuses linear mode and fractional scales, naming the node and the reason', () => {
    const lin = buildModel({ opset: 13, inputs: [{ name: 'x', shape }], outputs: [{ name: 'y' }], inits: { s: f32([4], [1, 1, 2, 2]) }, nodes: [{ op: 'Resize', name: 'up_lin', inputs: ['x', '', 's'], outputs: ['y'], attrs: { mode: 'linear' } }] });
    expect(() => importOnnx(lin, 'lin.onnx')).toThrow(/up_lin.*mode 'linear'/s);
    const frac = buildModel({ opset: 13, inputs: [{ name: 'x', shape }], outputs: [{ name: 'y' }], inits: { s: f32([4], [1, 1, 1.5, 2]) }, nodes: [{ op: 'Resize', name: 'up_frac', inputs: ['x', '', 's'], outputs: ['y'], attrs: { mode: 'nearest' } }] });
    expect(() => importOnnx(frac, 'frac.onnx')).toThrow(/up_frac.*1\.5/s);
  });
});

describe('Resize export and Sin/Cos against ORT', () => {
  const g = (opset: number): Graph => ({
    name: 'g',
    opset,
    inputs: [{ name: 'x', dtype: 'float32', shape: [2, 3, 4, 5] }],
    outputs: [
      { name: 'y', dtype: 'float32', shape: [2, 3, 8, 15] },
      { name: 's', dtype: 'float32', shape: [2, 3, 4, 5] },
      { name: 'c', dtype: 'float32', shape: [2, 3, 4, 5] },
    ],
    initializers: new Map(),
    nodes: [
      { name: 'up', op: 'Resize', inputs: ['x'], outputs: ['y'], attrs: { mode: 'nearest', scales: [1, 1, 2, 3] } },
      { name: 'sin', op: 'Sin', inputs: ['x'], outputs: ['s'], attrs: {} },
      { name: 'cos', op: 'Cos', inputs: ['x'], outputs: ['c'], attrs: {} },
    ],
  });
  // arguments as the DDPM's timestep embedding makes them: up to 1,000 radians
  const x = input([2, 3, 4, 5], 3);
  for (let i = 0; i < x.data.length; i++) (x.data as Float32Array)[i] *= 300;

  it.each([9, 10, 11, 13, 17])('opset %i: the exported Resize gives qloom\'s upsampling bit for bit; Sin and Cos within 1 ulp', async (opset) => {
    const graph = g(opset);
    const ours = runFp32(graph, { x });
    const ref = await runOrt(exportOnnx(graph, { opset }), { x });
    expect(Array.from(ours.y.data as Float32Array)).toEqual(Array.from(replicate(x, 2, 3)));
    expect(Array.from(ref.y.data as Float32Array)).toEqual(Array.from(ours.y.data as Float32Array));
    const ulps = (a: number, b: number) => Math.abs(new Int32Array(Float32Array.of(a).buffer)[0] - new Int32Array(Float32Array.of(b).buffer)[0]);
    for (const k of ['s', 'c']) {
      const a = ours[k].data as Float32Array;
      const b = ref[k].data as Float32Array;
      for (let i = 0; i < a.length; i++) expect(ulps(a[i], b[i])).toBeLessThanOrEqual(1);
    }
    // and the file imports back to the same graph form
    const back = importOnnx(exportOnnx(graph, { opset }));
    expect(back.nodes.find((n) => n.op === 'Resize')?.attrs.scales).toEqual([1, 1, 2, 3]);
  });
});
