/**
 * A layer's action counts for energy: buffer traffic per buffer instance priced per word
 * (`BufferTraffic`), the requant unit's and DRAM's counts, and the `LayerAccounting` a plan
 * reports; `scaleSimAccounting` re-counts a GEMM layer's memory traffic from SCALE-Sim's model.
 * Its own file: what a layer costs, apart from how it is tiled (plan.ts) and timed.
 */
import type { ActionCount } from '../../arch/energy.js';
import type { ArchSpec, BufferName, BufferSpec, TensorClass } from '../../arch/spec.js';
import { zeroBits, type BitsClass } from '../result.js';
import type { GemmView } from '../timing/gemm-view.js';
import type { ScaleSimLayerResult } from '../timing/scalesim-memory.js';
import { ceilBytes } from './fold-model.js';
import type { WorkloadLayer } from './workload.js';

export interface LayerAccounting {
  readonly macs: number;
  readonly extraAdds: number;
  readonly mappingEfficiency: number;
  readonly dramBuffer: Record<BitsClass, number>;
  readonly bufferArray: Record<BitsClass, number>;
  readonly spills: { toBuffer: number; toDram: number };
  readonly dramRead: number;
  readonly dramWrite: number;
  readonly paramBytes: number;
  readonly counts: ActionCount[];
}

/** Buffer access counts: bytes read/written per buffer instance, priced per word. */
export class BufferTraffic {
  private readonly read = new Map<BufferName, number>();
  private readonly write = new Map<BufferName, number>();
  constructor(private readonly spec: ArchSpec) {}
  add(t: TensorClass, readBytes: number, writeBytes: number): void {
    const name = this.spec.memories.bufferOf[t];
    this.read.set(name, (this.read.get(name) ?? 0) + readBytes);
    this.write.set(name, (this.write.get(name) ?? 0) + writeBytes);
  }
  counts(out: ActionCount[]): void {
    for (const [name, bytes] of this.write) push(out, 'sram', 'write', this.spec.memories[name]!, name, bytes);
    for (const [name, bytes] of this.read) push(out, 'sram', 'read', this.spec.memories[name]!, name, bytes);
  }
}

/**
 * One access of a banked buffer reads or writes one `wordBits` word of one bank, so it is priced as
 * an access to a macro of one bank's capacity (`capacityBytes / banks`): that is the capacity the
 * energy table interpolates on. Horowitz's SRAM points (8 KB / 32 KB / 1 MB, arch/energy.ts) are
 * whole caches, themselves banked, so reading them as single macros of that size is this model's
 * choice, not his. Nothing here is area: no area is computed from the table (a bank's area times
 * `banks` would be the buffer's).
 */
function push(out: ActionCount[], component: string, action: string, b: BufferSpec, label: string, bytes: number): void {
  if (bytes <= 0) return;
  out.push({ component, action, bits: b.wordBits, capacityBytes: b.capacityBytes / b.banks, count: Math.ceil(bytes / (b.wordBits / 8)), label });
}

export function requantCounts(spec: ArchSpec, layer: WorkloadLayer, outputs: number, out: ActionCount[], traffic: BufferTraffic, bufferArray: Record<BitsClass, number>): void {
  if (outputs <= 0) return;
  out.push({ component: 'multiplier', action: 'mult', bits: [layer.accBits, spec.requant.multiplierBits], count: outputs, label: 'requant' });
  out.push({ component: 'adder', action: 'add', bits: layer.accBits, count: outputs, label: 'requant' });
  const a = layer.activation;
  if (a.kind === 'clamp') out.push({ component: 'adder', action: 'add', bits: layer.outputBits, count: outputs, label: 'activation' });
  if (a.kind === 'lut') {
    out.push({ component: 'sram', action: 'read', bits: layer.outputBits, capacityBytes: a.entries * Math.ceil(layer.outputBits / 8), count: outputs, label: 'lut' });
  }
  if (a.kind !== 'none' && !a.fused) {
    // no fused unit: int32 results written to the buffer and read back for the activation
    const bytes = ceilBytes(outputs, 32);
    bufferArray.outputs += 2 * outputs * 32;
    traffic.add('ofmap', bytes, bytes);
  }
}

export function dramCounts(out: ActionCount[], readBytes: number, writeBytes: number): void {
  if (readBytes > 0) out.push({ component: 'dram', action: 'read', bits: 64, count: Math.ceil(readBytes / 8), label: 'dram' });
  if (writeBytes > 0) out.push({ component: 'dram', action: 'write', bits: 64, count: Math.ceil(writeBytes / 8), label: 'dram' });
}

/** the counts a layer's memory traffic makes: per-buffer SRAM accesses and DRAM accesses */
function isMemoryCount(c: ActionCount): boolean {
  return c.component === 'dram' || (c.component === 'sram' && (c.label === 'glb' || c.label === 'ifmap' || c.label === 'filter' || c.label === 'ofmap'));
}

/** What `scaleSimAccounting` replaces in a layer's native accounting. */
export interface ScaleSimCounts {
  readonly dramBuffer: Record<BitsClass, number>;
  readonly bufferArray: Record<BitsClass, number>;
  readonly spills: { toBuffer: number; toDram: number };
  readonly dramRead: number;
  readonly dramWrite: number;
  readonly counts: ActionCount[];
}

/**
 * A GEMM layer's memory counts under SCALE-Sim's model (`memoryModel: 'scalesim'`), all from the
 * traffic SCALE-Sim moves, one word per operand element at its class's width:
 * - buffer fills = what it reads from DRAM (`dram.ifmapReads`, `dram.filterReads`: its re-reads
 *   and padded lanes included), so each buffer is written exactly the bytes DRAM delivered;
 * - buffer → array reads = its demand matrices' operand reads (`sram.ifmapReads`, `filterReads`);
 * - array → ofmap buffer = its ofmap demand (`ofmapWords`): the final outputs (groups · M · N of
 *   the view the array runs) at the output width, and in WS/IS every earlier K fold's partial
 *   outputs — partial sums, at the accumulator width; SCALE-Sim drains all of them to DRAM and
 *   never reads a partial sum back, so they count as spilled to DRAM (through the buffer: their
 *   bits cross both boundaries) and the buffer drains exactly what the array wrote;
 * - DRAM writes = SCALE-Sim's `dram.ofmapWrites`: the drain plus the padding lanes of partly
 *   filled write lines it counts as writes (USER mode), padding at the output width.
 * Bias and requant parameters, which SCALE-Sim does not have, keep the native counts (fetched once
 * per layer, read per fold); so does everything that is not memory traffic (MACs, requant unit,
 * LUT). DRAM bytes are whole bytes per class: `dramRead + dramWrite` = Σ `dramBuffer` / 8.
 */
export function scaleSimAccounting(spec: ArchSpec, layer: WorkloadLayer, native: LayerAccounting, runView: GemmView, r: ScaleSimLayerResult): ScaleSimCounts {
  const aBits = layer.activationBits;
  const wBits = layer.weightBits;
  const oBits = layer.outputBits;
  const outWords = runView.groups * runView.M * runView.N;
  const psumWords = r.ofmapWords - outWords;
  const padWords = r.dram.ofmapWrites - r.ofmapWords;
  const ifFill = ceilBytes(r.dram.ifmapReads, aBits);
  const wFill = ceilBytes(r.dram.filterReads, wBits);
  const paramFill = (native.dramBuffer.bias + native.dramBuffer.requantParams) / 8;
  const outDrain = ceilBytes(outWords, oBits);
  const psumDrain = ceilBytes(psumWords, layer.accBits);
  const padBytes = ceilBytes(padWords, oBits);
  const dramBuffer = zeroBits();
  dramBuffer.inputs = ifFill * 8;
  dramBuffer.weights = wFill * 8;
  dramBuffer.bias = native.dramBuffer.bias;
  dramBuffer.requantParams = native.dramBuffer.requantParams;
  dramBuffer.outputs = (outDrain + padBytes) * 8;
  dramBuffer.psums = psumDrain * 8;
  const bufferArray = zeroBits();
  bufferArray.inputs = r.sram.ifmapReads * aBits;
  bufferArray.weights = r.sram.filterReads * wBits;
  bufferArray.bias = native.bufferArray.bias;
  bufferArray.requantParams = native.bufferArray.requantParams;
  bufferArray.outputs = outWords * oBits;
  bufferArray.psums = psumWords * layer.accBits;
  const traffic = new BufferTraffic(spec);
  traffic.add('ifmap', bufferArray.inputs / 8, ifFill);
  traffic.add('filter', (bufferArray.weights + bufferArray.bias + bufferArray.requantParams) / 8, wFill + paramFill);
  traffic.add('ofmap', outDrain + psumDrain, outDrain + psumDrain);
  // the unfused activation's int32 round trip through the ofmap buffer (its requant counts are
  // already among the native counts kept: the scratch list is dropped)
  requantCounts(spec, layer, layer.view ? runView.groups * layer.view.M * layer.view.N : 0, [], traffic, bufferArray);
  const counts = native.counts.filter((c) => !isMemoryCount(c));
  traffic.counts(counts);
  const dramRead = ifFill + wFill + paramFill;
  const dramWrite = outDrain + padBytes + psumDrain;
  dramCounts(counts, dramRead, dramWrite);
  return { dramBuffer, bufferArray, spills: { toBuffer: 0, toDram: psumWords }, dramRead, dramWrite, counts };
}
