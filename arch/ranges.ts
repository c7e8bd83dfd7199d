/**
 * Physically meaningful ranges of an arch spec (arch/README.md "Ranges") and the smallest buffer
 * a spec may have, with the checks that report a value outside them. Its own file: the bounds are
 * a table of their own (tests and the README quote it), apart from how a spec is read
 * (normalize.ts).
 */
import type { Problem } from './errors.js';
import type { BufferSpec } from './schema.js';
import { type Obj, type Range, checkRange, describe, joinPath } from './validate.js';

// Physically meaningful ranges (arch/README.md "Ranges"). A value outside is a ConfigError that
// names the range. Besides refusing typos (`1e-300 B/s`, `1e308 Hz`), they keep every derived
// per-cycle value finite, so a run's counts stay finite (the engine checks them).

const KiB = 1024;
export const RANGES = Object.freeze({
  clockHz: { min: 1e3, max: 1e11, text: '1 kHz … 100 GHz', unit: 'Hz' },
  dramBandwidthBytesPerS: { min: 1e3, max: 1e15, text: '1 kB/s … 1 PB/s (1e3 … 1e15 bytes/s)', unit: 'bytes/s' },
  dramLatencyS: { min: 0, max: 1e-3, text: '0 … 1 ms', unit: 's' },
  /** a buffer must also hold minBufferBytes (it depends on the array and operand widths) */
  bufferCapacityBytes: { min: 1, max: 2 ** 40, text: 'at most 1 TiB', unit: 'bytes' },
  registerBytes: { min: 0, max: KiB * KiB, text: '0 … 1 MiB per PE', unit: 'bytes' },
  dmaBurstBytes: { min: 1, max: KiB * KiB, text: '1 B … 1 MiB', unit: 'bytes' },
  dramEnergyPerBitPj: { min: 0, max: 1e6, text: '0 … 1e6 pJ (1 µJ) per bit', unit: 'pJ' },
} satisfies Record<string, Range & { unit: string }>);
/** trace addresses are 32-bit (SCALE-Sim traces): base addresses leave 2^30 words for the operands */
export const MAX_BASE_ADDRESS = 2 ** 30;

/**
 * The smallest buffer a spec may have (bytes): one word in every bank, and one operand for every
 * PE along the array's wider edge — what the array reads from a buffer in one cycle at most.
 */
export function minBufferBytes(b: Pick<BufferSpec, 'banks' | 'wordBits'>, rows: number, cols: number, weightBits: number, activationBits: number): number {
  return Math.max(b.banks * (b.wordBits / 8), Math.max(rows, cols) * Math.ceil(Math.max(weightBits, activationBits) / 8));
}

/**
 * A buffer smaller than `minBufferBytes` is a problem at its capacity key, saying what the minimum
 * is made of. `input` is the buffer's input object (it names the key the user wrote).
 */
export function checkMinBuffer(input: Obj, spec: BufferSpec, path: string, rows: number, cols: number, weightBits: number, activationBits: number, problems: Problem[]): void {
  const least = minBufferBytes(spec, rows, cols, weightBits, activationBits);
  if (spec.capacityBytes < least) {
    const key = input.capacity !== undefined ? 'capacity' : 'capacityBytes';
    const opBytes = Math.ceil(Math.max(weightBits, activationBits) / 8);
    problems.push({
      path: joinPath(path, key),
      message:
        `${describe(input[key])}${key === 'capacity' ? ` (= ${spec.capacityBytes} byte${spec.capacityBytes === 1 ? '' : 's'})` : ''} is too small: a buffer holds at least ${least} bytes here — ` +
        `one ${spec.wordBits / 8}-byte word in each of its ${spec.banks} bank(s) and one ${opBytes}-byte operand for each of the ${Math.max(rows, cols)} PEs along the array's wider edge`,
    });
  }
}

/** checkRange with the range's base unit named after the converted value */
export function checkRangeWithUnit(value: number, r: Range & { unit: string }, path: string, shown: string, problems: Problem[], what: string): boolean {
  return checkRange(value, r, path, shown, problems, what, r.unit);
}
