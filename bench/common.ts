/** What every benchmark shares: the median of its rounds, and writing its results file whole. */
export { writeFileAtomic as writeBenchResult } from '../scenarios/files.js';

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
