/**
 * Simulations on an accelerator: the library calls behind `qloom run` and `qloom energy`.
 *
 *  - `loadArch`: a preset name, an arch spec file (.json / .yaml) or a SCALE-Sim `.cfg`, with an
 *    optional memory-model override;
 *  - `simulateTopology`: timing only, a SCALE-Sim topology CSV (no weights, no data);
 *  - `simulateModel` (simulate-model.ts): functional + timing, a quantized network on images;
 *  - `saveRunResult` / `repriceRunResult`: a run's full result on disk, priced again with another
 *    energy table without re-running.
 */
import { readFileSync } from 'node:fs';
import { energyTableForSpec, loadEnergyTable } from '../arch/energy.js';
import { loadArchSpec, MEMORY_MODELS, validateArchSpec, type ArchSpec, type MemoryModel, type OnChipPolicy } from '../arch/spec.js';
import { parseJson } from '../errors/hints.js';
import { ConfigError, UsageError } from '../errors/index.js';
import { simulate, workloadFromViews } from '../sim/engine/index.js';
import { parseRunResult, recomputeEnergy, type RunResult } from '../sim/result.js';
import { simulateScaleSim } from '../sim/timing/scalesim-memory.js';
import { parseTopologyCsv } from '../sim/timing/topology.js';
import { ScaleSimTraceWriter } from '../traces/scalesim-trace.js';
import { checkOutputDir, ensureDir, writeFileAtomic } from './files.js';

/**
 * An arch: preset name, spec file (.json / .yaml), SCALE-Sim .cfg, or a spec; `memory` overrides its
 * memory model. Its energy table is read here too, so a bad one is refused before any work (and a
 * run's time is the run's: the table's units are parsed now, not in its first layer).
 */
export function loadArch(arch: string | ArchSpec, memory?: MemoryModel, onChip?: OnChipPolicy | 'none', fusion?: 'none' | 'bands'): ArchSpec {
  const loaded = typeof arch === 'string' ? loadArchSpec(arch) : arch;
  let spec = loaded;
  if (memory !== undefined && memory !== loaded.memoryModel) {
    if (!MEMORY_MODELS.includes(memory)) throw new UsageError(`memory model must be one of ${MEMORY_MODELS.join(', ')}, got '${String(memory)}'`);
    spec = validateArchSpec({ ...loaded, memoryModel: memory }, `${typeof arch === 'string' ? arch : loaded.name} with memory model ${memory}`);
  }
  const wantFusion = fusion ?? (onChip === 'none' ? 'none' : (spec.memories.fusion ?? 'none'));
  if ((onChip !== undefined && onChip !== (spec.memories.onChipBoundaries ?? 'none')) || wantFusion !== (spec.memories.fusion ?? 'none')) {
    // validated again: a split-buffer arch refuses it, naming the field
    const { onChipBoundaries: _b, fusion: _f, ...mem } = spec.memories;
    const policy = onChip ?? spec.memories.onChipBoundaries ?? 'none';
    spec = validateArchSpec(
      { ...spec, memories: { ...mem, onChipBoundaries: policy, ...(wantFusion === 'bands' && { fusion: 'bands' }) } },
      `${typeof arch === 'string' ? arch : loaded.name} with on-chip boundaries ${policy}${wantFusion === 'bands' ? ' and band fusion' : ''}`,
    );
  }
  energyTableForSpec(spec);
  return spec;
}

export interface TopologyRunOptions {
  /** preset name, spec file (.json / .yaml), SCALE-Sim .cfg, or a spec */
  readonly arch: string | ArchSpec;
  /** the memory model, instead of the arch's */
  readonly memory?: MemoryModel;
  /** a SCALE-Sim topology CSV file */
  readonly topology: string;
  /** the CSV's rows are GEMMs (M, N, K), not convolutions */
  readonly gemm?: boolean;
  /** also write SCALE-Sim SRAM/DRAM access traces here (the scalesim memory model only) */
  readonly scalesimTrace?: string;
  /** layers done, of the total */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Timing-only run of a SCALE-Sim topology on an arch (`qloom run --topology`). */
export function simulateTopology(opts: TopologyRunOptions): RunResult {
  const spec = loadArch(opts.arch, opts.memory);
  let text: string;
  try {
    text = readFileSync(opts.topology, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read the topology (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, opts.topology);
  }
  const views = parseTopologyCsv(text, opts.topology, opts.gemm ? 'gemm' : 'conv');
  if (opts.scalesimTrace !== undefined && spec.memoryModel !== 'scalesim') {
    throw new UsageError(`SCALE-Sim traces need the scalesim memory model (a .cfg, or memory model scalesim); ${spec.name} uses '${spec.memoryModel}'`);
  }
  if (opts.scalesimTrace !== undefined) checkOutputDir(opts.scalesimTrace);
  const result = simulate(spec, workloadFromViews(views, spec, opts.topology), { progress: opts.onProgress });
  if (opts.scalesimTrace !== undefined) {
    ensureDir(opts.scalesimTrace);
    // the engine does not take a trace sink: a second, trace-only pass of the same SCALE-Sim model
    const writer = new ScaleSimTraceWriter(opts.scalesimTrace);
    try {
      simulateScaleSim(spec, views, { trace: writer });
    } finally {
      writer.close();
    }
  }
  return result;
}

/** Writes a run's full result (counts included, so `repriceRunResult` can price it again), atomically. */
export function saveRunResult(result: RunResult, file: string): void {
  writeFileAtomic(file, JSON.stringify(result) + '\n');
}

/** A saved run result priced with another energy table (a name or a file), from its stored counts. */
export function repriceRunResult(file: string, table: string): RunResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read the result (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  }
  const doc = parseJson(text, (message) => new ConfigError(message, file));
  return recomputeEnergy(parseRunResult(doc, file), loadEnergyTable(table));
}
