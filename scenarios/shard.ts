/**
 * Shards of a sweep: `i/N` owns the points whose config hash, read as a number, is i−1 modulo N.
 * By hash rather than by index, so a shard's points do not depend on the order of the axes or on
 * which other points the scenario has — only on each point's own config and the code version — and
 * N shards cover every point exactly once with about 1/N each (sha256 is uniform).
 */
import { UsageError } from '../errors/index.js';

export interface Shard {
  /** 1-based, as schedulers number array tasks (Slurm, Kubernetes indexes are turned 1-based by the caller) */
  readonly index: number;
  readonly count: number;
}

/** `"i/N"` with 1 ≤ i ≤ N; `where` names the flag or field in the error. */
export function parseShard(text: string, where = '--shard'): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count || !Number.isSafeInteger(count)) {
    throw new UsageError(`${where} '${text}': expected i/N with 1 ≤ i ≤ N (e.g. 2/8 — the second of eight shards)`);
  }
  return { index, count };
}

/** Whether the point with this config hash (hex sha256) belongs to `shard`. */
export function inShard(configHash: string, shard: Shard): boolean {
  // the first 48 bits are an exact double: no BigInt needed
  return parseInt(configHash.slice(0, 12), 16) % shard.count === shard.index - 1;
}

export function shardLabel(shard: Shard): string {
  return `${shard.index}/${shard.count}`;
}
