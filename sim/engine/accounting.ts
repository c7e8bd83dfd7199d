/**
 * A layer's action counts for energy: buffer traffic per buffer instance priced per word
 * (`BufferTraffic`), the requant unit's and DRAM's counts, and the `LayerAccounting` a plan
 * reports. Its own file: what a layer costs, apart from how it is tiled (plan.ts) and timed.
 */
import type { ActionCount } from '../../arch/energy.js';
import type { ArchSpec, BufferName, BufferSpec, TensorClass } from '../../arch/spec.js';
import type { BitsClass } from '../result.js';
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

function push(out: ActionCount[], component: string, action: string, b: BufferSpec, label: string, bytes: number): void {
  if (bytes <= 0) return;
  out.push({ component, action, bits: b.wordBits, capacityBytes: b.capacityBytes, count: Math.ceil(bytes / (b.wordBits / 8)), label });
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
