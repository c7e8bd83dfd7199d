/** What every benchmark shares: the median of its rounds, and writing its results file whole. */
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
