/**
 * From the nest analysis to Timeloop's per-level statistics and energy, following
 * src/loop-analysis/tiling.cpp (CollapseTiles with the legacy read/update accounting) and
 * src/model/buffer.cpp (scalar → vector accesses, energy, leakage):
 *
 * - the loops of a storage level collapse into one tile: its size is the outermost loop's working
 *   set, its accesses (what it serves its child) the innermost loop's;
 * - partition size: the outermost kept tile, divided down by each spatial fanout's share;
 * - parent access share = Σ accesses × multicast / fanout at the next level holding a tile: a
 *   multicast read counts once at the parent and once per child as a fill, partial sums reduced
 *   in the network count once as an update at the parent;
 * - bypass (MaskTiles): a bypassed level's tile is dropped and the next outer level's accesses are
 *   rescaled to what the bypassed level served, so the child talks straight to it;
 * - read-only data: reads = accesses, fills = parent share (0 at the outermost level);
 *   read-write data with first-read elision: updates = accesses, reads = temporal reductions =
 *   accesses − partition size, fills = parent share − partition size (outermost: parent share);
 * - energy per instance and data space = Σ ceil(scalar / block size) × ERT action energy (with a
 *   cluster size c > 1, × utilized clusters / utilized instances, clusters = min(instances used,
 *   instances / c)); leakage = ERT leak × cycles × the level's utilized instances (at least 1, as
 *   Timeloop counts them); compute = MACs × ERT compute.
 *
 * Cycles (BufferLevel::ComputePerformance, Topology): the compute cycles are the MACs per used
 * instance; a level whose reads, or fills + updates, per cycle exceed its read / write (or their sum
 * its shared) bandwidth slows down by the ratio, and the run takes the slowest level's cycles. A
 * mapping whose tiles overflow a level (without allow_overbooking) is refused, as Timeloop does.
 */
import { ConfigError, type Problem } from '../../errors/index.js';
import type { TimeloopSpec } from '../../arch/timeloop.js';
import { analyzeNest, type LoopTile } from './nest-analysis.js';

export interface TimeloopDataSpaceStats {
  readonly reads: number;
  readonly fills: number;
  readonly updates: number;
  readonly temporalReductions: number;
  readonly utilizedCapacity: number;
  readonly partitionSize: number;
  readonly utilizedInstances: number;
  /** per instance */
  readonly energyPj: number;
  /** over the utilized instances */
  readonly totalEnergyPj: number;
}

export interface TimeloopLevelStats {
  readonly name: string;
  readonly instances: number;
  readonly blockSize: number;
  /** compute cycles ÷ slowdown */
  readonly cycles: number;
  /** 1, or below when the level's read / write / shared bandwidth cannot keep up */
  readonly slowdown: number;
  /** only the data spaces the level keeps */
  readonly dataSpaces: Readonly<Record<string, TimeloopDataSpaceStats>>;
  readonly leakPj: number;
  /** data spaces over all utilized instances + leakage */
  readonly energyPj: number;
}

export interface TimeloopResult {
  readonly problem: string;
  /** the slowest level's cycles (Timeloop adds no network latency here) */
  readonly cycles: number;
  /** MACs per used compute instance */
  readonly computeCycles: number;
  readonly computes: number;
  readonly computeInstances: number;
  readonly computeEnergyPj: number;
  readonly energyPj: number;
  /** storage levels innermost first, dummy levels included */
  readonly levels: readonly TimeloopLevelStats[];
}

interface Tile {
  size: number;
  partition: number;
  denominator: number;
  access: Map<number, number>;
  content: number;
  link: number;
  replication: number;
  fanout: number;
  parentShare: number;
  peerAccesses: number;
  peerFills: number;
  reads: number;
  fills: number;
  updates: number;
  reductions: number;
}

const total = (m: ReadonlyMap<number, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
const weighted = (m: ReadonlyMap<number, number>): number => [...m].reduce((a, [mc, acc]) => a + mc * acc, 0);

function collapse(spec: TimeloopSpec, tiles: readonly LoopTile[], pv: number): Tile[] {
  const out: Tile[] = [];
  for (let s = 0; s < spec.storage.length; s++) {
    const own = tiles.filter((t) => t.storage === s);
    const inner = own[0];
    const outer = own[own.length - 1];
    if (out.length > 0) out[out.length - 1].denominator = inner.masterSpatial ? inner.size[pv] : out[out.length - 1].size;
    const access = new Map(inner.accesses[pv]);
    out.push({
      size: outer.size[pv], partition: 0, denominator: 0, access, content: total(access), link: inner.linkTransfers[pv],
      replication: outer.replication, fanout: inner.fanout, parentShare: 0, peerAccesses: 0, peerFills: 0,
      reads: 0, fills: 0, updates: 0, reductions: 0,
    });
  }
  return out;
}

function nextHolding(t: readonly Tile[], cur: number): number {
  let o = cur + 1;
  while (o < t.length && t[o].size === 0) o++;
  return o;
}

function account(spec: TimeloopSpec, t: Tile[], pv: number): void {
  const keep = spec.storage.map((l) => l.keep[pv]);
  // partition sizes, outermost in
  let partition = t[t.length - 1].size;
  t[t.length - 1].partition = partition;
  for (let c = t.length - 2; c >= 0; c--) {
    if (t[c].denominator !== 0) partition = Math.floor((partition * t[c].size) / t[c].denominator);
    t[c].partition = partition;
  }
  // parent access share
  for (let c = 0; c < t.length; c++) {
    if (t[c].size === 0) continue;
    const o = nextHolding(t, c);
    t[c].parentShare = o === t.length ? 0 : weighted(t[o].access) / t[o].fanout;
  }
  // bypass
  for (let c = 0; c < t.length; c++) {
    if (t[c].size === 0 || keep[c]) continue;
    const o = nextHolding(t, c);
    if (o === t.length) {
      Object.assign(t[c], { size: 0, partition: 0, content: 0, parentShare: 0 });
      break;
    }
    const factor = (t[c].content * t[o].fanout) / weighted(t[o].access);
    for (const [mc, acc] of t[o].access) {
      if (acc === 0) continue;
      t[o].access.set(mc, acc * factor);
      t[o].link = 0;
    }
    t[o].content = total(t[o].access);
    Object.assign(t[c], { size: 0, partition: 0, content: 0, parentShare: 0 });
  }
  // bypassed levels above the outermost keeper hold nothing; the keeper has no parent
  for (let c = t.length - 1; c >= 0; c--) {
    if (!keep[c]) {
      Object.assign(t[c], { size: 0, partition: 0, content: 0, parentShare: 0, access: new Map(), link: 0 });
    } else {
      t[c].parentShare = 0;
      break;
    }
  }
  for (let c = t.length - 1; c > 0; c--) {
    if (t[c].link !== 0) {
      t[c - 1].peerAccesses += t[c].link / t[c - 1].replication;
      t[c - 1].peerFills += t[c].link / t[c - 1].replication;
    }
  }
  const readWrite = spec.problem.dataSpaces[pv].readWrite;
  for (let c = 0; c < t.length; c++) {
    const x = t[c];
    if (x.size === 0) continue;
    if (readWrite) {
      x.updates = Math.round(x.content);
      x.reads = Math.round(x.content + x.peerAccesses - x.partition);
      x.reductions = x.reads;
      const outermost = nextHolding(t, c) === t.length;
      x.fills = Math.round(x.parentShare + x.peerFills - (outermost ? 0 : x.partition));
    } else {
      x.reads = Math.round(x.content + x.peerAccesses);
      x.fills = x.parentShare + x.peerFills;
    }
  }
}

/** Evaluates a Timeloop run: counts per instance, energy (pJ) and cycles, as timeloop-model reports them. */
export function evaluateTimeloop(spec: TimeloopSpec, opts: { linkTransfers?: boolean } = {}): TimeloopResult {
  const nest = analyzeNest(spec, opts);
  const dsNames = spec.problem.dataSpaces.map((d) => d.name);
  const perDs = dsNames.map((_, pv) => {
    const t = collapse(spec, nest.tiles, pv);
    account(spec, t, pv);
    return t;
  });
  const computeCycles = nest.computesPerInstance;
  const computes = nest.computesPerInstance * nest.computeInstances;
  const overbooked: Problem[] = [];
  const levels = spec.storage.map((level, s) => {
    const dataSpaces: Record<string, Omit<TimeloopDataSpaceStats, 'energyPj' | 'totalEnergyPj'>> = {};
    let used = 0;
    let reads = 0;
    let writes = 0;
    dsNames.forEach((name, pv) => {
      const x = perDs[pv][s];
      if (x.size === 0) return;
      used += x.size;
      reads += x.reads;
      writes += x.fills + x.updates;
      dataSpaces[name] = {
        reads: x.reads, fills: x.fills, updates: x.updates, temporalReductions: x.reductions, utilizedCapacity: x.size,
        partitionSize: x.partition, utilizedInstances: x.replication,
      };
    });
    if (level.capacityWords !== null && used > level.capacityWords && !level.allowOverbooking) {
      overbooked.push({ path: `mapping (target ${level.name})`, message: `the tiles need ${used} words, ${level.name} holds ${level.capacityWords} (Timeloop refuses this mapping)` });
    }
    // BufferLevel::ComputePerformance: the level slows down when it needs more words per cycle than it has
    const readBw = reads / computeCycles;
    const writeBw = writes / computeCycles;
    let slowdown = 1;
    if (level.readBandwidth !== null && level.readBandwidth < readBw) slowdown = Math.min(slowdown, level.readBandwidth / readBw);
    if (level.writeBandwidth !== null && level.writeBandwidth < writeBw) slowdown = Math.min(slowdown, level.writeBandwidth / writeBw);
    if (level.sharedBandwidth !== null && level.sharedBandwidth < readBw + writeBw) slowdown = Math.min(slowdown, level.sharedBandwidth / (readBw + writeBw));
    return { level, dataSpaces, slowdown, cycles: Math.ceil(computeCycles / slowdown) };
  });
  if (overbooked.length > 0) throw new ConfigError(overbooked, spec.source);
  const cycles = Math.max(computeCycles, ...levels.map((l) => l.cycles));
  const computeEnergyPj = computes * spec.compute.computePj;
  const stats = levels.map(({ level, dataSpaces, slowdown, cycles: levelCycles }, s): TimeloopLevelStats => {
    const B = level.blockSize;
    const e = level.energy;
    // ComputeLeaksPerCycle: every data space of a level shares its loops, so its replication
    const maxInstances = Math.max(1, ...perDs.map((t) => t[s].replication));
    let energyPj = 0;
    const priced: Record<string, TimeloopDataSpaceStats> = {};
    for (const [name, x] of Object.entries(dataSpaces)) {
      // FinalizeBufferEnergy: a cluster's access energy is shared by the used instances of its cluster
      const clusters = Math.min(x.utilizedInstances, Math.floor(level.instances / level.clusterSize));
      const cluster = Math.ceil(x.reads / B) * e.readPj + Math.ceil(x.fills / B) * e.writePj + Math.ceil(x.updates / B) * e.updatePj;
      const perInstance = clusters === x.utilizedInstances ? cluster : (cluster * clusters) / x.utilizedInstances;
      energyPj += perInstance * x.utilizedInstances;
      priced[name] = { ...x, energyPj: perInstance, totalEnergyPj: perInstance * x.utilizedInstances };
    }
    const leakPj = e.leakPj * cycles * maxInstances;
    return { name: level.name, instances: level.instances, blockSize: B, cycles: levelCycles, slowdown, dataSpaces: priced, leakPj, energyPj: energyPj + leakPj };
  });
  const energyPj = computeEnergyPj + stats.reduce((a, l) => a + l.energyPj, 0);
  return { problem: spec.problem.name, cycles, computeCycles, computes, computeInstances: nest.computeInstances, computeEnergyPj, energyPj, levels: stats };
}
