/**
 * Timeloop's fully expanded input (timeloopfe v4's `parsed-processed-input.yaml`, with the run's
 * `*.ERT_summary.yaml` and, for a mapper run whose input has `mapping: []`, the chosen
 * `*.map.yaml`) → a frozen `TimeloopSpec`: the problem (dimensions, bounds, data spaces as
 * projections), the storage levels innermost first (instances, mesh, block size, ERT energies,
 * the level's temporal and spatial loops and which data spaces it keeps) and the compute level.
 *
 * Only what Timeloop's dense model evaluates is accepted. Sparse optimizations, densities,
 * metadata storage, skews, per-level link/multicast/reuse switches, power gating, imperfect
 * factorization and branching architectures are refused by name, so a run that used them is never
 * silently evaluated as a dense one. Every problem is collected into one ConfigError (file + YAML path);
 * problems in the map or ERT file carry that file's name in front of their path.
 *
 * What the spec takes from the YAML, and why:
 * - the hierarchy is the order of `architecture.subtree[..].local` (outer → inner) — timeloopfe has
 *   already flattened containers into it, inserted the `inter_*_spatial` dummy levels and written
 *   each component's instance count as `name[1..N]` plus `meshX`/`meshY`; the last component is
 *   the compute unit (Timeloop requires the arithmetic level innermost);
 * - the fanout below storage level i is (child meshX / meshX) × (child meshY / meshY), as Timeloop's
 *   ArchProperties derives it; a level with fanout > 1 owns the spatial loops;
 * - block size = width / cluster size / datawidth (Timeloop's word bits), the unit of
 *   `ceil(scalar / B)` energy;
 * - a mapping level without a factor is 1, a permutation missing dimensions gets them appended,
 *   `split` defaults to "all X" (Timeloop's parser does each of these, with a warning).
 */
import { parse as parseYaml } from 'yaml';
import { ConfigError, type Problem } from './errors.js';
import { checkKeys, deepFreeze, describe, isPlainObject, joinPath, type Obj } from './validate.js';

export interface TimeloopTerm {
  /** index into `problem.dimensions` */
  readonly dimension: number;
  /** the coefficient's value (1 for a bare dimension) */
  readonly coefficient: number;
}

export interface TimeloopDataSpace {
  readonly name: string;
  readonly readWrite: boolean;
  /** one sum of terms per rank of the data space */
  readonly projection: readonly (readonly TimeloopTerm[])[];
}

export interface TimeloopProblem {
  readonly name: string;
  readonly dimensions: readonly string[];
  readonly bounds: readonly number[];
  readonly dataSpaces: readonly TimeloopDataSpace[];
}

export interface TimeloopLoops {
  /** factor per problem dimension */
  readonly factors: readonly number[];
  /** every dimension once, innermost first (Timeloop's permutation order) */
  readonly permutation: readonly number[];
}

export interface TimeloopSpatialLoops extends TimeloopLoops {
  /** permutation positions below `split` fan out along X, the rest along Y */
  readonly split: number;
}

export interface TimeloopActionEnergy {
  readonly readPj: number;
  readonly writePj: number;
  readonly updatePj: number;
  readonly leakPj: number;
}

export interface TimeloopStorageLevel {
  readonly name: string;
  readonly className: string;
  /** timeloopfe's `dummy_storage` (an `inter_*_spatial` level): holds nothing, costs nothing */
  readonly dummy: boolean;
  readonly instances: number;
  readonly meshX: number;
  readonly meshY: number;
  readonly wordBits: number;
  readonly widthBits: number;
  readonly blockSize: number;
  /** instances sharing one access (Timeloop's cluster): energy is paid per utilized cluster */
  readonly clusterSize: number;
  /** fanout to the next inner level (or the compute units) along X and Y */
  readonly fanoutX: number;
  readonly fanoutY: number;
  readonly energy: TimeloopActionEnergy;
  /** words a tile may use (depth × block size, or entries, ÷ multiple buffering); null: unbounded (no size given) */
  readonly capacityWords: number | null;
  readonly allowOverbooking: boolean;
  /** words per cycle per instance; null: unlimited */
  readonly readBandwidth: number | null;
  readonly writeBandwidth: number | null;
  readonly sharedBandwidth: number | null;
  readonly temporal: TimeloopLoops;
  /** null when the level has no fanout below it */
  readonly spatial: TimeloopSpatialLoops | null;
  /** per data space (problem order): kept here, or bypassed */
  readonly keep: readonly boolean[];
}

export interface TimeloopCompute {
  readonly name: string;
  readonly className: string;
  readonly instances: number;
  readonly meshX: number;
  readonly meshY: number;
  readonly computePj: number;
}

export interface TimeloopSpec {
  readonly source: string;
  readonly problem: TimeloopProblem;
  /** innermost first */
  readonly storage: readonly TimeloopStorageLevel[];
  readonly compute: TimeloopCompute;
}

export interface TimeloopFile {
  readonly text: string;
  readonly file: string;
}

export interface TimeloopInputFiles {
  /** parsed-processed-input.yaml */
  readonly input: TimeloopFile;
  /** `*.ERT_summary.yaml`; when absent, the input's own `ERT_summary` section */
  readonly ert?: TimeloopFile;
  /** `*.map.yaml`; used when the input's `mapping` is empty (a mapper run) */
  readonly map?: TimeloopFile;
}

const TOP_KEYS = [
  'dumped_by_timeloop_front_end', 'architecture', 'architecture_constraints', 'problem', 'compound_components', 'mapping',
  'mapper', 'mapspace', 'globals', 'ERT_summary', 'ERT', 'ART', 'ART_summary', 'variables', 'components', 'sparse_optimizations',
] as const;
const DIRECTIVE_KEYS = ['target', 'type', 'factors', 'permutation', 'split', 'keep', 'bypass'] as const;
const REFUSED_DIRECTIVE_KEYS: Readonly<Record<string, string>> = {
  no_link_transfer: 'per-level link-transfer switches are not supported',
  no_multicast_no_reduction: 'per-level multicast switches are not supported',
  no_reuse: 'per-level multicast switches are not supported',
  no_temporal_reuse: 'per-level temporal-reuse switches are not supported',
  rmw_first_update: 'read-modify-write first updates are not supported',
  no_coalesce: 'no_coalesce is not supported',
};

interface Ctx {
  readonly problems: Problem[];
  /** prefix for paths in a file other than the input */
  prefix: string;
}

function push(ctx: Ctx, path: string, message: string): void {
  ctx.problems.push({ path: ctx.prefix + path, message });
}

function parseText(f: TimeloopFile, ctx: Ctx): Obj | undefined {
  let doc: unknown;
  try {
    doc = parseYaml(f.text);
  } catch (e) {
    push(ctx, '', `not valid YAML: ${(e as Error).message.split('\n')[0]}`);
    return undefined;
  }
  if (!isPlainObject(doc)) {
    push(ctx, '', `expected a YAML mapping at the top, got ${typeof doc === 'string' ? 'plain text' : describe(doc)}`);
    return undefined;
  }
  return doc;
}

function posInt(v: unknown, path: string, ctx: Ctx, what = 'a positive integer'): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 2 ** 31) return v;
  push(ctx, path, `expected ${what}, got ${describe(v)}`);
  return undefined;
}

function list(v: unknown, path: string, ctx: Ctx, optional = false): unknown[] {
  if (v === undefined && optional) return [];
  if (Array.isArray(v)) return v;
  push(ctx, path, v === undefined ? 'is required' : `expected a list, got ${describe(v)}`);
  return [];
}

function str(v: unknown, path: string, ctx: Ctx): string | undefined {
  if (typeof v === 'string' && v !== '') return v;
  push(ctx, path, v === undefined ? 'is required' : `expected a name, got ${describe(v)}`);
  return undefined;
}

// ---------- problem ----------

function readProblem(doc: Obj, ctx: Ctx): TimeloopProblem | undefined {
  const p = doc.problem;
  if (!isPlainObject(p)) {
    push(ctx, 'problem', p === undefined ? 'is required' : `expected an object, got ${describe(p)}`);
    return undefined;
  }
  const shape = p.shape;
  const instance = p.instance;
  if (!isPlainObject(shape)) push(ctx, 'problem.shape', 'expected an object with dimensions, data_spaces and coefficients');
  if (!isPlainObject(instance)) push(ctx, 'problem.instance', 'expected an object with the bound of every dimension');
  if (!isPlainObject(shape) || !isPlainObject(instance)) return undefined;
  const dims: string[] = [];
  list(shape.dimensions, 'problem.shape.dimensions', ctx).forEach((d, i) => {
    const name = str(d, `problem.shape.dimensions[${i}]`, ctx);
    if (name === undefined) return;
    if (dims.includes(name)) push(ctx, `problem.shape.dimensions[${i}]`, `dimension "${name}" listed twice`);
    else dims.push(name);
  });
  const coeffs = new Map<string, number>();
  list(shape.coefficients, 'problem.shape.coefficients', ctx, true).forEach((c, i) => {
    const at = `problem.shape.coefficients[${i}]`;
    if (!isPlainObject(c) || typeof c.name !== 'string') return push(ctx, at, 'expected {name, default}');
    const dflt = c.default ?? 1;
    if (typeof dflt !== 'number' || !Number.isInteger(dflt)) return push(ctx, `${at}.default`, `expected an integer, got ${describe(dflt)}`);
    coeffs.set(c.name, dflt);
  });
  const bounds = dims.map((d) => {
    const v = instance[d];
    return v === undefined ? (push(ctx, `problem.instance.${d}`, 'is required (the bound of this dimension)'), 1) : (posInt(v, `problem.instance.${d}`, ctx) ?? 1);
  });
  for (const [k, v] of Object.entries(instance)) {
    if (k === 'densities') {
      if (!(isPlainObject(v) && Object.keys(v).length === 0)) push(ctx, 'problem.instance.densities', 'sparse densities are not supported (dense model only)');
    } else if (coeffs.has(k)) {
      if (typeof v !== 'number' || !Number.isInteger(v)) push(ctx, `problem.instance.${k}`, `expected an integer coefficient, got ${describe(v)}`);
      else coeffs.set(k, v);
    }
  }
  const dataSpaces: TimeloopDataSpace[] = [];
  list(shape.data_spaces, 'problem.shape.data_spaces', ctx).forEach((ds, i) => {
    const at = `problem.shape.data_spaces[${i}]`;
    if (!isPlainObject(ds)) return push(ctx, at, `expected an object, got ${describe(ds)}`);
    const name = str(ds.name, `${at}.name`, ctx);
    if (typeof ds.projection === 'string') return push(ctx, `${at}.projection`, 'a projection written as an expression string is not supported; give the list-of-terms form');
    const projection: TimeloopTerm[][] = [];
    list(ds.projection, `${at}.projection`, ctx).forEach((rank, r) => {
      const terms: TimeloopTerm[] = [];
      list(rank, `${at}.projection[${r}]`, ctx).forEach((term, t) => {
        const tp = `${at}.projection[${r}][${t}]`;
        if (!Array.isArray(term) || term.length < 1 || term.length > 2) return push(ctx, tp, 'expected [dimension] or [dimension, coefficient]');
        const d = dims.indexOf(String(term[0]));
        if (d < 0) return push(ctx, tp, `unknown dimension ${describe(term[0])} (dimensions: ${dims.join(', ')})`);
        let coefficient = 1;
        if (term.length === 2) {
          const c = term[1];
          if (typeof c === 'number' && Number.isInteger(c)) coefficient = c;
          else if (typeof c === 'string' && coeffs.has(c)) coefficient = coeffs.get(c) as number;
          else return push(ctx, tp, `unknown coefficient ${describe(c)}`);
        }
        if (coefficient < 0) return push(ctx, tp, 'negative coefficients are not supported');
        terms.push({ dimension: d, coefficient });
      });
      projection.push(terms);
    });
    const rw = ds.read_write ?? false;
    if (typeof rw !== 'boolean') push(ctx, `${at}.read_write`, `expected true or false, got ${describe(rw)}`);
    if (name !== undefined) dataSpaces.push({ name, readWrite: rw === true, projection });
  });
  if (dataSpaces.length === 0) push(ctx, 'problem.shape.data_spaces', 'no data space');
  const name = typeof shape.name === 'string' ? shape.name : 'problem';
  return { name, dimensions: dims, bounds, dataSpaces };
}

// ---------- architecture ----------

interface RawComponent {
  readonly name: string;
  readonly className: string;
  readonly instances: number;
  readonly attributes: Obj;
  readonly path: string;
}

function flatten(nodes: unknown, path: string, ctx: Ctx, out: RawComponent[]): void {
  const arr = list(nodes, path, ctx);
  if (arr.length > 1) push(ctx, path, `branching architectures (${arr.length} subtrees at one level) are not supported`);
  const node = arr[0];
  if (node === undefined) return;
  const at = `${path}[0]`;
  if (!isPlainObject(node)) return push(ctx, at, `expected an object, got ${describe(node)}`);
  list(node.local, `${at}.local`, ctx, true).forEach((c, i) => {
    const cp = `${at}.local[${i}]`;
    if (!isPlainObject(c)) return push(ctx, cp, `expected a component, got ${describe(c)}`);
    if (c.enabled === false) return push(ctx, `${cp}.enabled`, 'disabled components are not supported');
    const full = str(c.name, `${cp}.name`, ctx);
    if (full === undefined) return;
    const m = /^(.*)\[(\d+)\.\.(\d+)\]$/.exec(full);
    const name = m ? m[1] : full;
    const instances = m ? Number(m[3]) - Number(m[2]) + 1 : 1;
    if (instances < 1) return push(ctx, `${cp}.name`, `empty instance range in "${full}"`);
    const attributes = isPlainObject(c.attributes) ? c.attributes : {};
    for (const k of Object.keys(attributes)) {
      const v = attributes[k];
      if (k.startsWith('metadata_') && v !== 0 && v !== null) push(ctx, `${cp}.attributes.${k}`, 'metadata storage (sparse formats) is not supported');
    }
    out.push({ name, className: typeof c.class === 'string' ? c.class : '', instances, attributes, path: cp });
  });
  if (node.subtree !== undefined) flatten(node.subtree, `${at}.subtree`, ctx, out);
}

function mesh(c: RawComponent, ctx: Ctx): { meshX: number; meshY: number } {
  const meshX = c.attributes.meshX === undefined ? c.instances : posInt(c.attributes.meshX, `${c.path}.attributes.meshX`, ctx) ?? 1;
  const meshY = c.attributes.meshY === undefined ? 1 : posInt(c.attributes.meshY, `${c.path}.attributes.meshY`, ctx) ?? 1;
  if (meshX * meshY !== c.instances) push(ctx, `${c.path}.attributes`, `meshX ${meshX} × meshY ${meshY} ≠ ${c.instances} instances`);
  return { meshX, meshY };
}

type Ert = Map<string, Map<string, number>>;

function readErt(doc: Obj, ctx: Ctx): Ert | undefined {
  const sum = doc.ERT_summary;
  if (!isPlainObject(sum)) {
    push(ctx, 'ERT_summary', 'is required (the per-action energies: the run\'s *.ERT_summary.yaml)');
    return undefined;
  }
  const ert: Ert = new Map();
  list(sum.table_summary, 'ERT_summary.table_summary', ctx).forEach((e, i) => {
    const at = `ERT_summary.table_summary[${i}]`;
    if (!isPlainObject(e) || typeof e.name !== 'string') return push(ctx, at, 'expected {name, actions}');
    const key = e.name.replace(/\[\d+\.\.\d+\]$/, '').split('.').pop() as string;
    const actions = new Map<string, number>();
    list(e.actions, `${at}.actions`, ctx).forEach((a, j) => {
      if (!isPlainObject(a) || typeof a.name !== 'string' || typeof a.energy !== 'number' || !Number.isFinite(a.energy) || a.energy < 0) {
        return push(ctx, `${at}.actions[${j}]`, 'expected {name, energy} with a non-negative energy in pJ');
      }
      actions.set(a.name, a.energy);
    });
    ert.set(key, actions);
  });
  return ert;
}

// ---------- mapping ----------

interface Directive {
  factors?: number[];
  permutation?: number[];
  split?: number;
  keep?: boolean[];
}

function parseFactors(v: unknown, path: string, dims: readonly string[], ctx: Ctx): number[] | undefined {
  const tokens = typeof v === 'string' ? v.split(/[\s,]+/) : Array.isArray(v) ? v.map(String) : undefined;
  if (tokens === undefined) return push(ctx, path, `expected "D=n …" factors, got ${describe(v)}`), undefined;
  const f = dims.map(() => 1);
  for (const t of tokens.filter((s) => s !== '')) {
    const m = /^([A-Za-z_][A-Za-z_0-9]*?)\s*=?\s*(\d+)$/.exec(t.trim());
    const d = m ? dims.indexOf(m[1]) : -1;
    if (!m || d < 0) {
      push(ctx, path, `cannot read factor "${t}" (dimensions: ${dims.join(', ')})`);
      continue;
    }
    f[d] = Number(m[2]);
    if (f[d] < 1) push(ctx, path, `factor of ${m[1]} must be ≥ 1`);
  }
  return f;
}

function parsePermutation(v: unknown, path: string, dims: readonly string[], ctx: Ctx): number[] | undefined {
  let names: string[];
  if (Array.isArray(v)) names = v.map(String);
  else if (typeof v === 'string' && /[\s,]/.test(v.trim())) names = v.trim().split(/[\s,]+/);
  else if (typeof v === 'string' && dims.every((d) => d.length === 1)) names = [...v];
  else return push(ctx, path, `expected a permutation of ${dims.join(', ')}, got ${describe(v)}`), undefined;
  const perm: number[] = [];
  for (const n of names) {
    const d = dims.indexOf(n);
    if (d < 0 || perm.includes(d)) push(ctx, path, d < 0 ? `unknown dimension "${n}"` : `dimension "${n}" listed twice`);
    else perm.push(d);
  }
  // Timeloop's parser pads a short permutation with the missing dimensions (outermost).
  dims.forEach((_, d) => {
    if (!perm.includes(d)) perm.push(d);
  });
  return perm;
}

function readMapping(
  entries: unknown[],
  basePath: string,
  ctx: Ctx,
  levelNames: readonly string[],
  problem: TimeloopProblem,
): Map<string, { temporal?: Directive; spatial?: Directive; data?: Directive }> {
  const out = new Map<string, { temporal?: Directive; spatial?: Directive; data?: Directive }>();
  const dims = problem.dimensions;
  const dsNames = problem.dataSpaces.map((d) => d.name);
  entries.forEach((e, i) => {
    const at = `${basePath}[${i}]`;
    if (!isPlainObject(e)) return push(ctx, at, `expected a mapping directive, got ${describe(e)}`);
    for (const [k, why] of Object.entries(REFUSED_DIRECTIVE_KEYS)) if (e[k] !== undefined) push(ctx, joinPath(at, k), why);
    const unknown: Problem[] = [];
    checkKeys(Object.fromEntries(Object.entries(e).filter(([k]) => !(k in REFUSED_DIRECTIVE_KEYS))), at, DIRECTIVE_KEYS, unknown);
    for (const p of unknown) push(ctx, p.path, p.message);
    const target = str(e.target, `${at}.target`, ctx);
    const type = e.type;
    if (target === undefined) return;
    if (!levelNames.includes(target)) return push(ctx, `${at}.target`, `no storage level "${target}" (levels: ${levelNames.join(', ')})`);
    const slot = out.get(target) ?? {};
    out.set(target, slot);
    if (type === 'temporal' || type === 'spatial') {
      if (slot[type] !== undefined) return push(ctx, `${at}.type`, `a second ${type} directive for "${target}"`);
      const d: Directive = {};
      d.factors = e.factors === undefined ? dims.map(() => 1) : parseFactors(e.factors, `${at}.factors`, dims, ctx);
      d.permutation = e.permutation === undefined ? dims.map((_, k) => k) : parsePermutation(e.permutation, `${at}.permutation`, dims, ctx);
      if (type === 'spatial') {
        const s = e.split ?? dims.length;
        if (typeof s !== 'number' || !Number.isInteger(s) || s < 0) push(ctx, `${at}.split`, `expected an integer ≥ 0, got ${describe(s)}`);
        else d.split = s;
      } else if (e.split !== undefined) push(ctx, `${at}.split`, 'split belongs to a spatial directive');
      slot[type] = d;
    } else if (type === 'bypass' || type === 'datatype') {
      if (slot.data !== undefined) return push(ctx, `${at}.type`, `a second keep/bypass directive for "${target}"`);
      const keep = dsNames.map(() => true);
      const named = (key: 'keep' | 'bypass'): string[] =>
        list(e[key], `${at}.${key}`, ctx, true).flatMap((n, j) => {
          if (typeof n === 'string' && dsNames.includes(n)) return [n];
          push(ctx, `${at}.${key}[${j}]`, `unknown data space ${describe(n)} (data spaces: ${dsNames.join(', ')})`);
          return [];
        });
      const kept = named('keep');
      for (const n of named('bypass')) {
        if (kept.includes(n)) push(ctx, `${at}.bypass`, `"${n}" is both kept and bypassed`);
        keep[dsNames.indexOf(n)] = false;
      }
      slot.data = { keep };
    } else {
      push(ctx, `${at}.type`, `unsupported directive type ${describe(type)} (supported: temporal, spatial, bypass, datatype)`);
    }
  });
  return out;
}

// ---------- assembly ----------

/**
 * Reads and validates Timeloop's expanded input; throws one ConfigError listing every problem.
 * `mapping: 'optional'` (a mapper's input) accepts an input without a mapping: every factor is then
 * 1 and every level keeps everything, a placeholder the mapper replaces.
 */
export function parseTimeloopInput(files: TimeloopInputFiles, opts: { mapping?: 'required' | 'optional' } = {}): TimeloopSpec {
  const mappingOptional = opts.mapping === 'optional';
  const ctx: Ctx = { problems: [], prefix: '' };
  const doc = parseText(files.input, ctx);
  if (doc === undefined) throw new ConfigError(ctx.problems, files.input.file);
  const topProblems: Problem[] = [];
  checkKeys(doc, '', TOP_KEYS, topProblems);
  for (const p of topProblems) push(ctx, p.path, p.message);
  const sparse = doc.sparse_optimizations;
  const noSparseTargets = isPlainObject(sparse) && Object.entries(sparse).every(([k, v]) => k === 'version' || (k === 'targets' && Array.isArray(v) && v.length === 0));
  if (sparse !== undefined && sparse !== null && !noSparseTargets) {
    push(ctx, 'sparse_optimizations', 'sparse optimizations are not supported (dense model only)');
  }
  const problem = readProblem(doc, ctx);

  const arch = doc.architecture;
  const comps: RawComponent[] = [];
  if (!isPlainObject(arch)) push(ctx, 'architecture', arch === undefined ? 'is required' : `expected an object, got ${describe(arch)}`);
  else if (arch.nodes !== undefined && arch.subtree === undefined) push(ctx, 'architecture.nodes', 'this is the unprocessed v0.4 form; give timeloopfe\'s parsed-processed-input.yaml (architecture.subtree[].local)');
  else flatten(arch.subtree, 'architecture.subtree', ctx, comps);
  if (isPlainObject(arch) && comps.length < 2) push(ctx, 'architecture', 'needs at least one storage level and the compute unit');

  let ert: Ert | undefined;
  if (files.ert !== undefined) {
    const ectx: Ctx = { problems: ctx.problems, prefix: `${files.ert.file}: ` };
    const edoc = parseText(files.ert, ectx);
    if (edoc !== undefined) ert = readErt(edoc, ectx);
  } else ert = readErt(doc, ctx);

  if (problem === undefined || comps.length < 2) throw new ConfigError(ctx.problems, files.input.file);

  const computeRaw = comps[comps.length - 1];
  const storageRaw = comps.slice(0, -1).reverse();
  const levelNames = storageRaw.map((c) => c.name);
  for (const [i, n] of levelNames.entries()) if (levelNames.indexOf(n) !== i) push(ctx, storageRaw[i].path, `two levels named "${n}"`);

  let mapEntries = list(doc.mapping, 'mapping', ctx, true);
  let mapPath = 'mapping';
  let mctx = ctx;
  if (mapEntries.length === 0 && files.map !== undefined) {
    mctx = { problems: ctx.problems, prefix: `${files.map.file}: ` };
    const mdoc = parseText(files.map, mctx);
    mapEntries = mdoc === undefined ? [] : list(mdoc.mapping, 'mapping', mctx);
    mapPath = 'mapping';
  }
  const unmapped = mapEntries.length === 0;
  if (unmapped && !mappingOptional) push(ctx, 'mapping', 'empty: give the explicit mapping (a mapper run\'s *.map.yaml next to the input)');
  const directives = readMapping(mapEntries, mapPath, mctx, levelNames, problem);

  const computeMesh = mesh(computeRaw, ctx);
  const computeActions = ert?.get(computeRaw.name);
  if (ert !== undefined && computeActions?.get('compute') === undefined) push(ctx, computeRaw.path, `no "compute" energy for "${computeRaw.name}" in the ERT`);
  const compute: TimeloopCompute = {
    name: computeRaw.name,
    className: computeRaw.className,
    instances: computeRaw.instances,
    ...computeMesh,
    computePj: computeActions?.get('compute') ?? 0,
  };

  const meshes = storageRaw.map((c) => mesh(c, ctx));
  const dims = problem.dimensions;
  const product = dims.map(() => 1);
  const storage: TimeloopStorageLevel[] = storageRaw.map((c, s) => {
    const inner = s === 0 ? computeMesh : meshes[s - 1];
    const { meshX, meshY } = meshes[s];
    if (inner.meshX % meshX !== 0 || inner.meshY % meshY !== 0) push(ctx, `${c.path}.attributes`, `mesh ${meshX}×${meshY} does not divide the inner level's ${inner.meshX}×${inner.meshY}`);
    const fanoutX = Math.max(1, Math.floor(inner.meshX / meshX));
    const fanoutY = Math.max(1, Math.floor(inner.meshY / meshY));
    const dummy = c.className === 'dummy_storage';
    const a = c.attributes;
    const wordBits = posInt(a.datawidth ?? a.word_bits ?? 8, `${c.path}.attributes.datawidth`, ctx) ?? 8;
    const widthBits = posInt(a.width ?? wordBits, `${c.path}.attributes.width`, ctx) ?? wordBits;
    // Timeloop's BufferLevel specs: block = width / cluster / word bits, or cluster from a given block
    const blockAttr = a.block_size ?? a.n_words;
    const givenBlock = blockAttr === undefined ? undefined : posInt(blockAttr, `${c.path}.attributes.block_size`, ctx);
    const givenCluster = a.cluster_size === undefined ? undefined : posInt(a.cluster_size, `${c.path}.attributes.cluster_size`, ctx);
    const clusterSize = givenCluster ?? (givenBlock !== undefined ? Math.max(1, Math.floor(widthBits / (wordBits * givenBlock))) : 1);
    const blockSize = givenBlock ?? Math.max(1, Math.floor(widthBits / clusterSize / wordBits));
    if (widthBits % (wordBits * blockSize) !== 0) push(ctx, `${c.path}.attributes.width`, `width ${widthBits} is not a multiple of datawidth ${wordBits} × block size ${blockSize}`);
    else if (givenBlock !== undefined && givenCluster !== undefined && givenBlock * wordBits * givenCluster !== widthBits) {
      push(ctx, `${c.path}.attributes`, `block_size ${givenBlock} × datawidth ${wordBits} × cluster_size ${givenCluster} ≠ width ${widthBits}`);
    }
    const num = (key: string, positive = true): number | null => {
      const v = a[key];
      if (v === undefined || v === null) return null;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (positive && v === 0)) {
        push(ctx, `${c.path}.attributes.${key}`, `expected a ${positive ? 'positive' : 'non-negative'} number, got ${describe(v)}`);
        return null;
      }
      return v;
    };
    if (a.has_power_gating === true || (a.power_gated_at !== undefined && a.power_gated_at !== null)) push(ctx, `${c.path}.attributes`, 'power gating is not supported');
    // Timeloop's size in words: entries, else depth × block size, else sizeKB
    const [entriesAttr, depth, sizeKB] = [num('entries'), num('depth'), num('sizeKB')];
    const entries = entriesAttr ?? (depth !== null ? depth * blockSize : sizeKB !== null ? Math.floor((sizeKB * 8192) / wordBits) : null);
    const buffering = num('multiple_buffering') ?? 1;
    const capacityWords = entries === null ? null : Math.floor(entries / buffering);
    if (a.allow_overbooking !== undefined && typeof a.allow_overbooking !== 'boolean') push(ctx, `${c.path}.attributes.allow_overbooking`, `expected true or false, got ${describe(a.allow_overbooking)}`);
    const actions = ert?.get(c.name);
    if (ert !== undefined && !dummy && actions === undefined) push(ctx, c.path, `no ERT entry for "${c.name}"`);
    const energy = { readPj: actions?.get('read') ?? 0, writePj: actions?.get('write') ?? 0, updatePj: actions?.get('update') ?? 0, leakPj: actions?.get('leak') ?? 0 };
    const d = directives.get(c.name) ?? {};
    const at = `mapping (target ${c.name})`;
    const temporal: TimeloopLoops = { factors: d.temporal?.factors ?? dims.map(() => 1), permutation: d.temporal?.permutation ?? dims.map((_, k) => k) };
    let spatial: TimeloopSpatialLoops | null = null;
    if (fanoutX * fanoutY > 1) {
      const sp = d.spatial;
      spatial = { factors: sp?.factors ?? dims.map(() => 1), permutation: sp?.permutation ?? dims.map((_, k) => k), split: sp?.split ?? dims.length };
      let x = 1;
      let y = 1;
      spatial.permutation.forEach((dim, pos) => {
        if (pos < spatial!.split) x *= spatial!.factors[dim];
        else y *= spatial!.factors[dim];
      });
      if (x > fanoutX || y > fanoutY) push(ctx, at, `spatial factors use ${x}×${y} (X×Y) instances, the fanout below "${c.name}" is ${fanoutX}×${fanoutY}`);
    } else if (d.spatial !== undefined && d.spatial.factors?.some((f) => f > 1)) {
      push(ctx, at, `spatial factors on "${c.name}", which has no fanout below it`);
    }
    for (let k = 0; k < dims.length; k++) product[k] *= temporal.factors[k] * (spatial?.factors[k] ?? 1);
    return {
      name: c.name, className: c.className, dummy, instances: c.instances, meshX, meshY, wordBits, widthBits, blockSize, clusterSize,
      fanoutX, fanoutY, energy, capacityWords, allowOverbooking: a.allow_overbooking === true,
      readBandwidth: num('read_bandwidth'), writeBandwidth: num('write_bandwidth'), sharedBandwidth: num('shared_bandwidth'), temporal, spatial, keep: d.data?.keep ?? problem.dataSpaces.map(() => true),
    };
  });
  dims.forEach((d, k) => {
    if (product[k] !== problem.bounds[k] && !(unmapped && mappingOptional)) {
      push(ctx, 'mapping', `the factors of ${d} multiply to ${product[k]}, the problem's ${d} is ${problem.bounds[k]} (imperfect factorization is not supported)`);
    }
  });
  problem.dataSpaces.forEach((ds, i) => {
    if (!storage.some((l) => l.keep[i])) push(ctx, 'mapping', `no level keeps ${ds.name}`);
  });
  if (ctx.problems.length > 0) throw new ConfigError(ctx.problems, files.input.file);
  return deepFreeze({ source: files.input.file, problem, storage, compute });
}

/**
 * `spec` with the mapping of `file` (Timeloop's mapping YAML: `mapping:` entries with target,
 * type temporal / spatial / bypass, factors, permutation, split, keep / bypass — the form of a
 * Timeloop `*.map.yaml` — or, for several layers of a network, `layers: { <layer>: [entries] }`,
 * read for `layer`) in place of its own: a level without a temporal (spatial) entry gets
 * factors 1; without a keep/bypass entry it keeps everything. Every problem in one ConfigError
 * naming the file: unknown levels and dimensions, spatial factors beyond a level's fanout,
 * factors whose product is not the problem's bound, a data space no level keeps.
 */
export function applyTimeloopMapping(spec: TimeloopSpec, file: TimeloopFile, layer?: string): TimeloopSpec {
  const ctx: Ctx = { problems: [], prefix: '' };
  const doc = parseText(file, ctx);
  if (doc === undefined) throw new ConfigError(ctx.problems, file.file);
  const problem = spec.problem;
  const dims = problem.dimensions;
  // one layer's mapping (`mapping:`), or several by layer name (`layers: { conv1: [ … ], … }`)
  const at = layer !== undefined && isPlainObject(doc.layers) ? `layers.${layer}` : 'mapping';
  const entries = layer !== undefined && isPlainObject(doc.layers) ? doc.layers[layer] : doc.mapping;
  const directives = readMapping(list(entries, at, ctx), at, ctx, spec.storage.map((l) => l.name), problem);
  const product = dims.map(() => 1);
  const storage = spec.storage.map((l): TimeloopStorageLevel => {
    const d = directives.get(l.name) ?? {};
    const where = `${at} (target ${l.name})`;
    const temporal: TimeloopLoops = { factors: d.temporal?.factors ?? dims.map(() => 1), permutation: d.temporal?.permutation ?? dims.map((_, k) => k) };
    let spatial: TimeloopSpatialLoops | null = null;
    if (l.fanoutX * l.fanoutY > 1) {
      const sp = d.spatial;
      const s: TimeloopSpatialLoops = { factors: sp?.factors ?? dims.map(() => 1), permutation: sp?.permutation ?? dims.map((_, k) => k), split: sp?.split ?? dims.length };
      let x = 1;
      let y = 1;
      s.permutation.forEach((dim, pos) => {
        if (pos < s.split) x *= s.factors[dim];
        else y *= s.factors[dim];
      });
      if (x > l.fanoutX || y > l.fanoutY) push(ctx, where, `spatial factors use ${x}×${y} (X×Y) instances, the fanout below "${l.name}" is ${l.fanoutX}×${l.fanoutY}`);
      spatial = s;
    } else if (d.spatial !== undefined && d.spatial.factors?.some((f) => f > 1)) push(ctx, where, `spatial factors on "${l.name}", which has no fanout below it`);
    for (let k = 0; k < dims.length; k++) product[k] *= temporal.factors[k] * (spatial?.factors[k] ?? 1);
    return { ...l, temporal, spatial, keep: d.data?.keep ?? problem.dataSpaces.map(() => true) };
  });
  dims.forEach((d, k) => {
    if (product[k] !== problem.bounds[k]) push(ctx, at, `the factors of ${d} multiply to ${product[k]}, the problem's ${d} is ${problem.bounds[k]} (imperfect factorization is not supported)`);
  });
  problem.dataSpaces.forEach((ds, i) => {
    if (!storage.some((l) => l.keep[i])) push(ctx, at, `no level keeps ${ds.name}`);
  });
  if (ctx.problems.length > 0) throw new ConfigError(ctx.problems, file.file);
  return deepFreeze({ ...spec, source: file.file, storage });
}
