/**
 * Planning a layer that runs on the special-function unit (Softmax, LayerNorm, i-GELU): its
 * sub-tiles (whole rows each, so a row's passes never wait on another sub-tile) and its counts.
 * The cost of each algorithm is sfu-cost.ts's; this file turns it into a LayerPlan the engine runs
 * like any vector layer (compute on the unit's track, loads before, writes after).
 *
 * Without an SFU (`sfu: "none"`) the workload already made the layer host work: bytes only
 * (workload.ts), planned by planVectorLayer with no element work.
 */
import type { ActionCount } from '../../arch/energy.js';
import type { ArchSpec } from '../../arch/spec.js';
import { pipelineSubTiles, reservedBytes, sharesFor } from './fold-model.js';
import { doubleBufferedCuts, elementDramBytes, elementLayerPlan, type LayerPlan } from './plan.js';
import { sfuCost, sfuStreamCycles, type SfuCost, type SfuWork } from './sfu-cost.js';
import { VectorTiles } from './tiles.js';
import type { WorkloadLayer } from './workload.js';

/** share i of `total` cut into `parts` integer pieces (remainder on the last) */
function share(total: number, parts: number, i: number): number {
  const base = Math.floor(total / parts);
  return i === parts - 1 ? total - base * (parts - 1) : base;
}

/**
 * The sub-tiles of an SFU layer: S cuts of its rows (remainder on the last), each streamed through
 * the unit's passes; the chain latency is paid on the first (the unit keeps rows in flight after).
 * Bytes as a vector layer's; runs: [0], [1, S−1) alike, [S−1].
 */
export class SfuTiles extends VectorTiles {
  /** Σ cycles(t) */
  readonly totalCycles: number;
  constructor(
    count: number,
    private readonly work: SfuWork,
    private readonly cost: SfuCost,
    private readonly sfuLanes: number,
    ifmapBytes: number,
    ofmapBytes: number,
    /** parameters loaded with the first sub-tile (LayerNorm's γ, β) */
    private readonly paramBytes: number,
  ) {
    super(count, work.rows * work.rowLength, sfuLanes, cost.passes, ifmapBytes, ofmapBytes);
    const base = Math.floor(work.rows / count);
    const last = work.rows - base * (count - 1);
    this.totalCycles = (count - 1) * sfuStreamCycles(cost, work, base, sfuLanes) + sfuStreamCycles(cost, work, last, sfuLanes) + cost.chainLatencyCycles;
  }
  override cycles(t: number): number {
    return sfuStreamCycles(this.cost, this.work, share(this.work.rows, this.count, t), this.sfuLanes) + (t === 0 ? this.cost.chainLatencyCycles : 0);
  }
  override loadBytes(t: number): number {
    return super.loadBytes(t) + (t === 0 ? this.paramBytes : 0);
  }
  override runStart(t: number): number {
    return t === 0 || t === this.count - 1 ? t : 1;
  }
  override runEnd(t: number): number {
    return t === 0 || t === this.count - 1 ? t + 1 : this.count - 1;
  }
}

/** sub-tiles of an SFU layer: whole rows, enough for input and output to fit double-buffered and for loads, work and stores to overlap */
export function sfuSubTiles(spec: ArchSpec, layer: WorkloadLayer): number {
  const work = layer.sfu!;
  const lanes = spec.sfu!.lanes;
  const cost = sfuCost(work, spec.sfu!);
  const shares = sharesFor(spec, layer.ifmapBytes + layer.ofmapBytes, reservedBytes(layer));
  const cycles = sfuStreamCycles(cost, work, work.rows, lanes);
  const io = elementDramBytes(layer);
  const S = Math.max(pipelineSubTiles(spec, cycles), doubleBufferedCuts(io.read, shares.ifmap), doubleBufferedCuts(io.write, shares.ofmap));
  return Math.max(1, Math.min(S, work.rows));
}

/** Plans a layer on the SFU (`layer.sfu` set, `spec.sfu` present). */
export function planSfuLayer(spec: ArchSpec, layer: WorkloadLayer): LayerPlan {
  const work = layer.sfu!;
  const sfu = spec.sfu!;
  const cost = sfuCost(work, sfu);
  const S = sfuSubTiles(spec, layer);
  const io = elementDramBytes(layer);
  const tiles = new SfuTiles(S, work, cost, sfu.lanes, io.read, io.write, layer.requantParamBytes);
  const counts: ActionCount[] = [...cost.counts];
  return elementLayerPlan(spec, layer, tiles, S, counts);
}
