/**
 * Reading TensorFlow.js model artifacts from disk without tfjs and without network:
 * `model.json` + binary shards (the standard tfjs layout), or the UMD/browserify bundles that
 * nsfwjs ships (`model.min.js` exporting the model.json object, `<shard>.min.js` exporting the
 * shard bytes as base64) — those are parsed for their literal, never executed.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ModelError } from '../errors.js';
import { numel, type Tensor } from '../graph.js';
import { readBundleLiteral } from './bundle-literal.js';

export interface TfjsQuantization {
  readonly dtype: 'uint8' | 'uint16' | 'float16';
  readonly scale?: number;
  readonly min?: number;
}

/** One entry of a tfjs weights manifest. */
export interface TfjsWeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly quantization?: TfjsQuantization;
}

export interface TfjsArtifacts {
  /** 'layers-model' (Keras topology) or 'graph-model' (TF GraphDef) */
  readonly format: 'layers-model' | 'graph-model';
  /** the whole model.json object (plain data, this realm) */
  readonly modelJson: Record<string, unknown>;
  readonly modelTopology: Record<string, unknown>;
  /** weight specs of every manifest group, in manifest order */
  readonly weightSpecs: readonly TfjsWeightSpec[];
  /** all shards concatenated in manifest order, as tfjs's IOHandlers hand them over */
  readonly weightData: ArrayBuffer;
  /** files actually read (model file first) */
  readonly files: readonly string[];
}

/** What a UMD bundle exports, read as data (the bundle is parsed, never run). */
function readBundle(file: string): unknown {
  return readBundleLiteral(readFileSync(file, 'utf8'), file);
}

function isFile(p: string): boolean {
  return existsSync(p) && statSync(p).isFile();
}

/**
 * Reads model.json (or model.min.js) and its weight shards from `dir`. A shard path from the
 * manifest is looked up as given (`group1-shard1of1.bin`), then as a `.min.js` bundle.
 */
export function readTfjsArtifacts(dir: string): TfjsArtifacts {
  const jsonFile = join(dir, 'model.json');
  const bundleFile = join(dir, 'model.min.js');
  let raw: unknown;
  let modelFile: string;
  if (isFile(jsonFile)) {
    modelFile = jsonFile;
    try {
      raw = JSON.parse(readFileSync(jsonFile, 'utf8'));
    } catch (e) {
      throw new ModelError(`not JSON: ${(e as Error).message}`, jsonFile);
    }
  } else if (isFile(bundleFile)) {
    modelFile = bundleFile;
    // round-trip through JSON: ordinary objects (the literal reader makes null-prototype ones)
    raw = JSON.parse(JSON.stringify(readBundle(bundleFile)));
  } else {
    throw new ModelError(`no model.json or model.min.js in ${dir}`, dir);
  }
  const modelJson = raw as Record<string, unknown>;
  const topo = modelJson.modelTopology as Record<string, unknown> | undefined;
  if (!topo || typeof topo !== 'object') throw new ModelError('model file has no modelTopology', modelFile);
  const format: TfjsArtifacts['format'] =
    modelJson.format === 'graph-model' || Array.isArray((topo as { node?: unknown }).node) ? 'graph-model' : 'layers-model';

  const manifest = (modelJson.weightsManifest ?? []) as { paths: string[]; weights: TfjsWeightSpec[] }[];
  const specs: TfjsWeightSpec[] = [];
  const chunks: Uint8Array[] = [];
  const files = [modelFile];
  for (const group of manifest) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      const candidates = [join(dir, p), join(dir, `${p}.min.js`), join(dir, `${p.replace(/\.bin$/, '')}.min.js`)];
      const f = candidates.find(isFile);
      if (!f) throw new ModelError(`weight shard '${p}' not found (looked for ${candidates.join(', ')})`, modelFile);
      files.push(f);
      if (f.endsWith('.min.js')) {
        const b64 = readBundle(f);
        if (typeof b64 !== 'string') throw new ModelError('weight bundle does not export a base64 string', f);
        chunks.push(new Uint8Array(Buffer.from(b64, 'base64')));
      } else {
        chunks.push(new Uint8Array(readFileSync(f)));
      }
    }
  }
  let total = 0;
  for (const c of chunks) total += c.length;
  const data = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    data.set(c, off);
    off += c.length;
  }
  return { format, modelJson, modelTopology: topo, weightSpecs: specs, weightData: data.buffer, files };
}

/** IEEE half → float, exact. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Decodes the concatenated weight bytes into tensors (in the tfjs layout given by each spec), the
 * way tfjs's io.decodeWeights does: quantized uint8/uint16 values become `q·scale + min` computed
 * in double and stored as float32 (rounded to int32 for int32 weights); float16 is widened.
 */
export function decodeTfjsWeights(specs: readonly TfjsWeightSpec[], data: ArrayBuffer, file = ''): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const bytes = new Uint8Array(data);
  const view = new DataView(data);
  const problems: { node: string; message: string }[] = [];
  let off = 0;
  for (const spec of specs) {
    const n = numel(spec.shape);
    const q = spec.quantization;
    const width = q ? (q.dtype === 'uint8' ? 1 : 2) : spec.dtype === 'bool' ? 1 : 4;
    if (q && q.dtype !== 'uint8' && q.dtype !== 'uint16' && q.dtype !== 'float16') {
      problems.push({ node: spec.name, message: `unsupported weight quantization dtype '${String(q.dtype)}'` });
      break; // byte widths unknown: later offsets would be wrong too
    }
    if (!q && spec.dtype !== 'float32' && spec.dtype !== 'int32' && spec.dtype !== 'bool') {
      problems.push({ node: spec.name, message: `unsupported weight dtype '${spec.dtype}'` });
      break;
    }
    if (off + n * width > bytes.length) {
      problems.push({ node: spec.name, message: `weight data ends at byte ${bytes.length}, this weight needs bytes ${off}..${off + n * width}` });
      break;
    }
    let t: Tensor;
    if (q) {
      const isInt = spec.dtype === 'int32';
      const arr = isInt ? new Int32Array(n) : new Float32Array(n);
      if (q.dtype === 'float16') {
        for (let i = 0; i < n; i++) arr[i] = halfToFloat(view.getUint16(off + 2 * i, true));
      } else {
        if (q.scale === undefined || q.min === undefined) {
          problems.push({ node: spec.name, message: `${q.dtype} quantization without scale/min` });
          off += n * width;
          continue;
        }
        const { scale, min } = q;
        for (let i = 0; i < n; i++) {
          const v = q.dtype === 'uint8' ? bytes[off + i] : view.getUint16(off + 2 * i, true);
          arr[i] = isInt ? Math.round(v * scale + min) : v * scale + min;
        }
      }
      t = { dtype: isInt ? 'int32' : 'float32', shape: [...spec.shape], data: arr };
    } else if (spec.dtype === 'float32') {
      const arr = new Float32Array(n);
      for (let i = 0; i < n; i++) arr[i] = view.getFloat32(off + 4 * i, true);
      t = { dtype: 'float32', shape: [...spec.shape], data: arr };
    } else if (spec.dtype === 'int32') {
      const arr = new Int32Array(n);
      for (let i = 0; i < n; i++) arr[i] = view.getInt32(off + 4 * i, true);
      t = { dtype: 'int32', shape: [...spec.shape], data: arr };
    } else {
      t = { dtype: 'uint8', shape: [...spec.shape], data: bytes.slice(off, off + n) };
    }
    off += n * width;
    out.set(spec.name, t);
  }
  if (problems.length) throw new ModelError(problems, file || undefined);
  return out;
}
