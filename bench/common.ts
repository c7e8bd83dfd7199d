/** What every benchmark shares: the median of its rounds, and writing its results file whole. */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
export { writeFileAtomic as writeBenchResult } from '../scenarios/files.js';

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** What a timing run spent merging split-input groups (qnet/split.ts) and its requant parameter bits. */
export function mergeCost(ev: { result: { layers: readonly { cycles: number; energyPj: number }[] }; workload: { layers: readonly { vectorOp: string | null; requantParamBytes: number }[] } }): { mergeCycles: number; mergeEnergyPj: number; requantParamBits: number } {
  let mergeCycles = 0;
  let mergeEnergyPj = 0;
  let bytes = 0;
  ev.result.layers.forEach((l, i) => {
    const wl = ev.workload.layers[i];
    if (wl.vectorOp === 'merge') {
      mergeCycles += l.cycles;
      mergeEnergyPj += l.energyPj;
    }
    bytes += wl.requantParamBytes;
  });
  return { mergeCycles, mergeEnergyPj, requantParamBits: 8 * bytes };
}

/** The CPU's SIMD flags that decide ORT's (and V8's) integer kernels, from /proc/cpuinfo. */
export function cpuFlags(): { model: string; flags: Record<string, boolean> } {
  const wanted = ['sse4_1', 'ssse3', 'avx', 'avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx_vnni', 'avx_vnni_int8', 'amx_int8', 'asimddp', 'i8mm'];
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // not Linux: flags unknown
  }
  const line = /^(flags|Features)\s*:(.*)$/m.exec(text);
  const have = new Set((line?.[2] ?? '').trim().split(/\s+/));
  const model = /^model name\s*:(.*)$/m.exec(text)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  return { model, flags: Object.fromEntries(wanted.map((f) => [f, have.has(f)])) };
}

