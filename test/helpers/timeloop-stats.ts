/**
 * A reader of Timeloop's `*.stats.txt` (timeloop-model / timeloop-mapper, the post-v3.0 format of
 * the Accelergy exercises' reference runs): per level the STATS section, per kept data space its
 * counts and energies, and the "Summary Stats" block (cycles, computes, fJ/Compute per level).
 * Only what the tests compare is kept; numbers are parsed as printed (energies rounded by Timeloop
 * to 0.01 pJ, fJ/Compute to 0.01 fJ).
 */

export interface StatsDataSpace {
  readonly 'Partition size': number;
  readonly 'Utilized capacity': number;
  readonly 'Utilized instances (max)': number;
  readonly 'Scalar reads (per-instance)': number;
  readonly 'Scalar fills (per-instance)': number;
  readonly 'Scalar updates (per-instance)': number;
  readonly 'Temporal reductions (per-instance)': number;
  /** pJ, over the utilized instances */
  readonly 'Energy (total)': number;
}

export interface StatsLevel {
  /** the "Level N" index (dummy spatial levels are not printed, so there are gaps) */
  readonly index: number;
  readonly name: string;
  readonly cycles: number;
  /** the arithmetic level (level 0) only */
  readonly computes?: number;
  readonly utilizedInstances?: number;
  /** pJ: the arithmetic level's energy */
  readonly energyPj?: number;
  /** pJ: a storage level's "Leakage energy (total)" */
  readonly leakagePj?: number;
  /** kept data spaces, in the printed order (empty for the arithmetic level) */
  readonly dataSpaces: Readonly<Record<string, StatsDataSpace>>;
}

export interface TimeloopStats {
  /** arithmetic level first, then the storage levels innermost first */
  readonly levels: readonly StatsLevel[];
  readonly cycles: number;
  readonly computes: number;
  /** fJ/Compute per level name, and `Total` */
  readonly fJPerCompute: Readonly<Record<string, number>>;
}

const DS_FIELDS = [
  'Partition size',
  'Utilized capacity',
  'Utilized instances (max)',
  'Scalar reads (per-instance)',
  'Scalar fills (per-instance)',
  'Scalar updates (per-instance)',
  'Temporal reductions (per-instance)',
  'Energy (total)',
] as const;

/** `key : value [unit]` → value as a number (NaN when it is not one) */
function field(line: string): [string, number] | undefined {
  const m = /^\s*([^:]+?)\s*:\s*(\S+)/.exec(line);
  return m ? [m[1], Number(m[2])] : undefined;
}

function need(v: number | undefined, what: string): number {
  if (v === undefined || !Number.isFinite(v)) throw new Error(`stats.txt: no number for ${what}`);
  return v;
}

/** Parses the text of a Timeloop `*.stats.txt`. */
export function parseTimeloopStats(text: string): TimeloopStats {
  const lines = text.split(/\r?\n/);
  const summaryAt = lines.findIndex((l) => l.startsWith('Summary Stats'));
  if (summaryAt < 0) throw new Error('stats.txt: no "Summary Stats"');
  const networksAt = lines.findIndex((l) => l.startsWith('Networks'));
  const body = lines.slice(0, networksAt >= 0 ? networksAt : summaryAt);

  const levels: StatsLevel[] = [];
  for (let i = 0; i < body.length; i++) {
    const head = /^Level (\d+)$/.exec(body[i]);
    if (!head) continue;
    let end = i + 1;
    while (end < body.length && !/^Level \d+$/.test(body[end])) end++;
    const block = body.slice(i + 1, end);
    const name = /^=== (.+) ===$/.exec(block.find((l) => l.startsWith('=== ')) ?? '')?.[1];
    if (name === undefined) throw new Error(`stats.txt: level ${head[1]} has no name`);
    const statsAt = block.findIndex((l) => l.trim() === 'STATS');
    if (statsAt < 0) throw new Error(`stats.txt: level ${name} has no STATS`);
    const specs = new Map<string, number>();
    for (const l of block.slice(0, statsAt)) {
      const f = field(l);
      if (f) specs.set(f[0], f[1]);
    }
    const top = new Map<string, number>();
    const dataSpaces: Record<string, Record<string, number>> = {};
    let ds: Record<string, number> | undefined;
    for (const l of block.slice(statsAt + 1)) {
      const dsHead = /^ {4}(\w+):\s*$/.exec(l);
      if (dsHead) {
        ds = dataSpaces[dsHead[1]] = {};
        continue;
      }
      const f = field(l);
      if (!f) continue;
      if (/^ {8}\S/.test(l) && ds) ds[f[0]] = f[1];
      else if (/^ {4}\S/.test(l)) top.set(f[0], f[1]);
    }
    const checked: Record<string, StatsDataSpace> = {};
    for (const [dsName, d] of Object.entries(dataSpaces)) {
      const out: Record<string, number> = {};
      for (const k of DS_FIELDS) out[k] = need(d[k], `${name}.${dsName} ${k}`);
      checked[dsName] = out as unknown as StatsDataSpace;
    }
    const computes = top.get('Computes (total)');
    levels.push({
      index: Number(head[1]),
      name,
      cycles: need(top.get('Cycles'), `${name} Cycles`),
      ...(computes !== undefined
        ? {
            computes,
            utilizedInstances: need(top.get('Utilized instances'), `${name} Utilized instances`),
            energyPj: need(top.get('Energy (total)'), `${name} Energy (total)`),
          }
        : { leakagePj: need(specs.get('Leakage energy (total)'), `${name} Leakage energy (total)`) }),
      dataSpaces: checked,
    });
    i = end - 1;
  }

  const summary = lines.slice(summaryAt);
  const num = (re: RegExp, what: string): number => {
    const m = summary.map((l) => re.exec(l)).find((x) => x !== null);
    return need(m ? Number(m[1]) : undefined, what);
  };
  const fJPerCompute: Record<string, number> = {};
  const fjAt = summary.findIndex((l) => l.trim() === 'fJ/Compute');
  if (fjAt < 0) throw new Error('stats.txt: no fJ/Compute block');
  for (const l of summary.slice(fjAt + 1)) {
    const m = /^\s+(\S+)\s+=\s+(\S+)\s*$/.exec(l);
    if (!m) break;
    fJPerCompute[m[1]] = need(Number(m[2]), `fJ/Compute ${m[1]}`);
  }
  return {
    levels,
    cycles: num(/^Cycles: (\S+)$/, 'summary Cycles'),
    computes: num(/^Computes = (\S+)$/, 'summary Computes'),
    fJPerCompute,
  };
}
