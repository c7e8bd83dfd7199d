/**
 * The ArchSpec noun (DESIGN.md), as callers use it: get a spec (a preset by name, a JSON/YAML file,
 * a SCALE-Sim .cfg, or `validateArchSpec` on an input), identify its hardware (`archHash`), and
 * find its buffers. The one module to import: it re-exports the schema (types, vocabulary,
 * defaults: schema.ts), the ranges (ranges.ts) and the validator (normalize.ts), which live in
 * their own files.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readDataFile } from './energy.js';
import { ConfigError } from './errors.js';
import { normalizeArchSpec, validateArchSpec } from './normalize.js';
import { PRESETS } from './presets.js';
import { parseScaleSimCfg } from './scalesim-cfg.js';
import { TENSOR_CLASSES, type ArchSpec, type BufferName, type BufferSpec, type TensorClass } from './schema.js';
import { type Obj, canonicalJson, didYouMean, sha256 } from './validate.js';

export * from './schema.js';
export { MAX_BASE_ADDRESS, RANGES, minBufferBytes } from './ranges.js';
export { validateArchSpec } from './normalize.js';
export { DATA_SPACE_NAMES, type DataSpaceName, type InnerLevelSpec, type StorageLevel, TIMELOOP_SPACE, engineHierarchyProblem, hierarchyInputOf, hierarchyOf } from './hierarchy.js';

// ---------------------------------------------------------------------------------------------
// Presets and files

const presetCache = new Map<string, ArchSpec>();

export const PRESET_NAMES: readonly string[] = Object.freeze(Object.keys(PRESETS));

/** A built-in preset, validated (once) and frozen. */
export function presetSpec(name: string): ArchSpec {
  let spec = presetCache.get(name);
  if (!spec) {
    const input = Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
    if (!input) {
      const hint = didYouMean(name, PRESET_NAMES);
      throw new ConfigError(`unknown arch preset "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}; presets: ${PRESET_NAMES.join(', ')}`);
    }
    spec = normalizeArchSpec(input, `preset ${name}`, process.cwd());
    presetCache.set(name, spec);
  }
  return spec;
}

/**
 * A preset by name (`edge-npu`, …), or a spec file: `.json`, `.yaml`/`.yml` (the input form), or a
 * SCALE-Sim v2 `.cfg` (read by scalesim-cfg.ts). Throws ConfigError naming the file.
 */
export function loadArchSpec(nameOrFile: string): ArchSpec {
  if (Object.hasOwn(PRESETS, nameOrFile)) return presetSpec(nameOrFile);
  if (/\.(json|ya?ml)$/i.test(nameOrFile)) return validateArchSpec(readDataFile(nameOrFile), nameOrFile);
  if (/\.cfg$/i.test(nameOrFile)) {
    let text: string;
    try {
      text = readFileSync(nameOrFile, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, nameOrFile);
    }
    return validateArchSpec(parseScaleSimCfg(text, nameOrFile), nameOrFile);
  }
  // not a preset: what the path names, if anything, says more than "unknown preset" would
  const accepted = `an arch is a preset name (${PRESET_NAMES.join(', ')}) or a spec file (.json, .yaml, .yml, or a SCALE-Sim .cfg)`;
  if (existsSync(nameOrFile)) {
    throw new ConfigError(`is ${statSync(nameOrFile).isDirectory() ? 'a directory' : 'neither a .json, .yaml, .yml nor a .cfg file'}; ${accepted}`, nameOrFile);
  }
  if (/[\\/]/.test(nameOrFile)) throw new ConfigError(`no such file; ${accepted}`, nameOrFile);
  return presetSpec(nameOrFile);
}

// ---------------------------------------------------------------------------------------------
// Hash and helpers

/**
 * Keys left out of `archHash`: labels (name, description, source) and the energy table (applied
 * after a run; identify it with energy.ts `energyTableHash`). What remains is everything that can
 * change a run's counts.
 */
export const ARCH_HASH_EXCLUDES: readonly string[] = Object.freeze(['name', 'description', 'source', 'energyTable']);

/** sha256 (hex) of the canonical JSON of the hardware part of a normalized spec; key order-free. */
export function archHash(spec: ArchSpec): string {
  const hw: Obj = {};
  for (const [k, v] of Object.entries(spec)) if (!ARCH_HASH_EXCLUDES.includes(k)) hw[k] = v;
  return sha256(canonicalJson(hw));
}

/** The buffer that holds a tensor class (the `glb` in a unified layout). */
export function bufferFor(spec: ArchSpec, tensor: TensorClass): BufferSpec {
  return spec.memories[spec.memories.bufferOf[tensor]]!;
}

/** The buffers of a spec, by name. */
export function buffersOf(spec: ArchSpec): readonly { readonly name: BufferName; readonly buffer: BufferSpec }[] {
  return (spec.memories.layout === 'unified' ? (['glb'] as const) : TENSOR_CLASSES).map((name) => ({ name, buffer: spec.memories[name]! }));
}
