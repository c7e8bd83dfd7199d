/**
 * Activation compression on the DRAM interface priced from the data (arch
 * `memories.dram.activationCompression`): the functional half of a run sizes every integer tensor a
 * layer writes, raw and compressed (sim/kernels/compress.ts, each sample the smaller of the two);
 * here each layer's DRAM traffic of class `inputs` shrinks by its input tensors' ratio and of
 * class `outputs` by its output tensor's, kept in whole bytes, and the DRAM read / write counts and
 * energies follow. Buffers hold raw codes (no buffer or array traffic changes), and the DMA's
 * cycles stay those of the raw sizes — the engine times one inference before any data exists, so
 * a DRAM-bound layer's speed-up from compression is not modelled (stated, not hidden). Operands of
 * class `attention` (scores, probabilities) are sent raw.
 */
import { applyEnergyTable, energyTableForSpec, type ActionCount } from '../arch/energy.js';
import type { ArchSpec } from '../arch/spec.js';
import type { QuantizedNetwork } from '../qnet/network.js';
import { dramCounts } from './engine/accounting.js';
import type { Workload } from './engine/workload.js';
import { mergeCounts, totalsOf, type LayerResult, type RunResult } from './result.js';

export interface TensorCompression {
  readonly rawBits: number;
  readonly compressedBits: number;
}

/** What a layer result reports of its DRAM compression. */
export interface LayerCompressionReport {
  /** compressed ÷ raw bits of the tensors the layer reads / writes (1 where nothing was sized) */
  readonly inputRatio: number;
  readonly outputRatio: number;
  /** DRAM bits per inference the compression saved */
  readonly savedBits: number;
}

/** Sums per-tensor sizes of several runs (batches). */
export function addCompression(into: Record<string, TensorCompression>, more: Readonly<Record<string, TensorCompression>> | undefined): void {
  for (const [name, c] of Object.entries(more ?? {})) {
    const a = into[name];
    into[name] = a ? { rawBits: a.rawBits + c.rawBits, compressedBits: a.compressedBits + c.compressedBits } : c;
  }
}

function ratioOf(names: readonly string[], sizes: Readonly<Record<string, TensorCompression>>): number {
  let raw = 0;
  let comp = 0;
  for (const n of names) {
    const c = sizes[n];
    if (!c) continue;
    raw += c.rawBits;
    comp += c.compressedBits;
  }
  return raw > 0 ? comp / raw : 1;
}

const wholeBytes = (bits: number): number => Math.ceil(bits / 8 - 1e-9) * 8;

/**
 * The run with each layer's activation DRAM traffic compressed as measured (`sizes`: tensor name →
 * raw and compressed bits over the samples), energies recomputed from the counts.
 */
export function withDramCompression(result: RunResult, spec: ArchSpec, workload: Workload, net: QuantizedNetwork, sizes: Readonly<Record<string, TensorCompression>>): RunResult {
  const table = energyTableForSpec(spec);
  const layers: LayerResult[] = result.layers.map((l, i) => {
    const qi = workload.layers[i]?.qlayerIndex;
    const q = qi === undefined ? undefined : net.layers[qi];
    if (!q) return l;
    // only tensors a layer wrote have sizes: weights and float graph inputs count as not compressed
    const inputRatio = ratioOf(q.inputs, sizes);
    const outputRatio = ratioOf([q.output], sizes);
    const d = l.bits.dramBuffer;
    const inputs = Math.min(d.inputs, wholeBytes(d.inputs * inputRatio));
    const outputs = Math.min(d.outputs, wholeBytes(d.outputs * outputRatio));
    const savedRead = (d.inputs - inputs) / 8;
    const savedWrite = (d.outputs - outputs) / 8;
    const report: LayerCompressionReport = { inputRatio, outputRatio, savedBits: 8 * (savedRead + savedWrite) };
    if (savedRead === 0 && savedWrite === 0) return { ...l, compression: report };
    const dramBytes = { read: l.dramBytes.read - savedRead, write: l.dramBytes.write - savedWrite };
    const counts: ActionCount[] = l.counts.filter((c) => c.component !== 'dram');
    dramCounts(counts, dramBytes.read, dramBytes.write);
    return {
      ...l,
      compression: report,
      bits: { ...l.bits, dramBuffer: { ...d, inputs, outputs } },
      dramBytes,
      counts,
      energyPj: applyEnergyTable(counts, table).totalPj,
    };
  });
  const counts = mergeCounts(layers.map((l) => l.counts));
  const energy = applyEnergyTable(counts, table);
  return { ...result, layers, counts, energy, totals: { ...totalsOf(layers, result.arch.pes, result.arch.clockHz, energy.totalPj), ...pick(result.totals) } };
}

/** Totals totalsOf does not derive from the layers (overflow breakdowns of a functional run). */
function pick(t: RunResult['totals']): Partial<RunResult['totals']> {
  return { ...(t.overflowsBy && { overflowsBy: t.overflowsBy }), ...(t.overflowsPerSample !== undefined && { overflowsPerSample: t.overflowsPerSample }) };
}
