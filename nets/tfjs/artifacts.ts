/**
 * Reading TensorFlow.js model artifacts from disk without tfjs and without network:
 * `model.json` + binary shards (the standard tfjs layout), or the UMD/browserify bundles that
 * nsfwjs ships (`model.min.js` exporting the model.json object, `<shard>.min.js` exporting the
 * shard bytes as base64) — those are parsed for their literal, never executed.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { parseJson } from '../../errors/hints.js';
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

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** the largest weight tensor read (elements): beyond it a shape is a hostile or broken manifest */
const MAX_WEIGHT_ELEMENTS = 2 ** 31 - 1;

/**
 * The weights manifest, checked before anything is read: groups of shard paths inside `dir` (a path
 * that leaves the model folder is refused, never read) and weight specs with a name, a dtype and
 * a shape of whole numbers. Every problem in one ModelError.
 */
function manifestOf(m: unknown, dir: string, modelFile: string): { paths: string[]; weights: TfjsWeightSpec[] }[] {
  const problems: string[] = [];
  const root = resolve(dir);
  if (!Array.isArray(m)) throw new ModelError(`weightsManifest: expected an array of weight groups, got ${describeValue(m)}`, modelFile);
  m.forEach((g: unknown, i) => {
    const at = `weightsManifest[${i}]`;
    if (!isObject(g)) return problems.push(`${at}: expected an object with paths and weights, got ${describeValue(g)}`);
    if (!Array.isArray(g.paths)) problems.push(`${at}.paths: expected an array of shard file names, got ${describeValue(g.paths)}`);
    else
      g.paths.forEach((p: unknown, j) => {
        if (typeof p !== 'string' || p === '') problems.push(`${at}.paths[${j}]: expected a file name, got ${describeValue(p)}`);
        else if (isAbsolute(p) || !resolve(root, p).startsWith(root + sep)) problems.push(`${at}.paths[${j}]: '${p}' is outside the model folder (a shard is a file in it)`);
      });
    if (!Array.isArray(g.weights)) problems.push(`${at}.weights: expected an array of weight specs, got ${describeValue(g.weights)}`);
    else
      g.weights.forEach((w: unknown, j) => {
        const wat = `${at}.weights[${j}]`;
        if (!isObject(w)) return problems.push(`${wat}: expected a weight spec object, got ${describeValue(w)}`);
        if (typeof w.name !== 'string') problems.push(`${wat}.name: expected a string, got ${describeValue(w.name)}`);
        if (typeof w.dtype !== 'string') problems.push(`${wat}.dtype: expected a string, got ${describeValue(w.dtype)}`);
        const shape = w.shape;
        if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) problems.push(`${wat}.shape: expected an array of whole numbers ≥ 0, got ${describeValue(shape)}`);
        else if (shape.reduce((a: number, d: number) => a * d, 1) > MAX_WEIGHT_ELEMENTS) problems.push(`${wat}.shape: [${shape.join(', ')}] has more than 2^31 − 1 elements`);
        const q = w.quantization;
        if (q !== undefined && q !== null && (!isObject(q) || typeof q.dtype !== 'string' || !['scale', 'min'].every((k) => q[k] === undefined || Number.isFinite(q[k])))) {
          problems.push(`${wat}.quantization: expected {dtype, scale, min} with finite numbers, got ${describeValue(q)}`);
        }
      });
    return undefined;
  });
  if (problems.length) throw new ModelError(problems.map((message) => ({ node: '', message })), modelFile);
  return m as { paths: string[]; weights: TfjsWeightSpec[] }[];
}

function describeValue(v: unknown): string {
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (Array.isArray(v)) return v.length <= 8 && v.every((x) => typeof x !== 'object' || x === null) ? `[${v.map(String).join(', ')}]` : 'an array';
  return isObject(v) ? 'an object' : String(v);
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
    raw = parseJson(readFileSync(jsonFile, 'utf8'), (message) => new ModelError(message, jsonFile));
  } else if (isFile(bundleFile)) {
    modelFile = bundleFile;
    // round-trip through JSON: ordinary objects (the literal reader makes null-prototype ones)
    raw = JSON.parse(JSON.stringify(readBundle(bundleFile)));
  } else {
    throw new ModelError(`no model.json or model.min.js in ${dir}`, dir);
  }
  if (!isObject(raw)) throw new ModelError(`expected a model object at the top level, got ${Array.isArray(raw) ? 'an array' : String(raw)}`, modelFile);
  const modelJson = raw;
  const topo = modelJson.modelTopology as Record<string, unknown> | undefined;
  if (!topo || typeof topo !== 'object') throw new ModelError('model file has no modelTopology', modelFile);
  const format: TfjsArtifacts['format'] =
    modelJson.format === 'graph-model' || Array.isArray((topo as { node?: unknown }).node) ? 'graph-model' : 'layers-model';

  const manifest = manifestOf(modelJson.weightsManifest ?? [], dir, modelFile);
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
