/**
 * `qloom map`: a quantized network's conv / dense layers on a unified-buffer preset written as a
 * Timeloop-style hierarchy (arch/preset-hierarchy.ts) — today's fixed weight-stationary schedule
 * (sim/mapping/fixed-schedule.ts), the mapper's best mapping (`search`), or a mapping given in
 * Timeloop's mapping YAML for one layer (`mapping`) — each priced by the nest analysis (energy,
 * cycles, per-level accesses) and run on the layer's real integer operands in the mapping's own
 * order (sim/mapping/mapped-kernel.ts) with the arch's partial-sum register and accumulator: which
 * outputs the registers change, and how many adds overflowed where.
 */
import { readFileSync } from 'node:fs';
import type { ArchSpec } from '../arch/spec.js';
import { timeloopSpecOfPreset } from '../arch/preset-hierarchy.js';
import { applyTimeloopMapping, type TimeloopSpec } from '../arch/timeloop.js';
import { parse as parseYaml } from 'yaml';
import { isPlainObject } from '../arch/validate.js';
import { ConfigError, UsageError, systemError } from '../errors/index.js';
import type { Tensor } from '../nets/graph.js';
import type { QLinearLayer, QuantizedNetwork } from '../qnet/network.js';
import { resolvePtqConfig } from '../quant/config.js';
import { workloadFromQuantizedNetwork } from '../sim/engine/index.js';
import { convDimsOfView, fixedScheduleSpec, noFixedSchedule, presetConstraints } from '../sim/mapping/fixed-schedule.js';
import { rankSizes, runMapped, type MappedAccumulators } from '../sim/mapping/mapped-kernel.js';
import { searchMappings, type MapperObjective } from '../sim/mapping/mapper.js';
import { evaluateTimeloop } from '../sim/mapping/timeloop-model.js';
import { QuantizedExecutor } from '../sim/qexec.js';
import { evaluationSet, type EvalDatasetName } from './datasets.js';
import { inputShapeFor } from './evaluate.js';
import { loadQuantizedOnnx } from '../quant/onnx/qimport.js';
import { quantizeModel } from './quantize.js';
import { loadArch } from './simulate.js';

export interface MapModelOptions {
  readonly arch: string | ArchSpec;
  /** a quantized .onnx, or a float model with `preset` */
  readonly model: string;
  readonly preset?: string;
  readonly data: EvalDatasetName;
  /** test images whose operands are run (the problem's batch N); default 1 */
  readonly images?: number;
  /** the layers to map (default: every conv / dense layer) */
  readonly layers?: readonly string[];
  /**
   * a Timeloop mapping YAML on the hierarchy's level names: `mapping:` entries for the one layer in
   * `layers`, or `layers: { <layer>: [entries] }` for several (then the layers default to those)
   */
  readonly mapping?: string;
  readonly search?: { readonly budget?: number; readonly seed?: number; readonly objective?: MapperObjective };
  /** the registers of the arithmetic; default the arch's psumBits, accumulator bits and overflow policy */
  readonly registers?: Partial<MappedAccumulators>;
  readonly onLayer?: (done: number, total: number) => void;
}

export interface MappedRun {
  readonly energyPj: number;
  readonly cycles: number;
  /** outputs whose accumulator differs from the exact sum; overflows at the register / accumulator */
  readonly wrongOutputs: number;
  readonly outputs: number;
  readonly psumEvents: number;
  readonly accEvents: number;
  /** the mapping as Timeloop mapping entries, innermost level first: level → temporal / spatial factors and keep */
  readonly levels: readonly { readonly name: string; readonly temporal: readonly number[]; readonly spatial: readonly number[] | null; readonly keep: readonly boolean[] }[];
}

export interface MappedLayer {
  readonly layer: string;
  /** the problem both mappings run (R S P Q C M N G, padded to the array as the fixed schedule needs) */
  readonly dims: Record<'R' | 'S' | 'P' | 'Q' | 'C' | 'M' | 'N' | 'G', number>;
  readonly macs: number;
  /** absent where the arch has no fixed schedule (split buffers, inner levels: `noFixedSchedule`) */
  readonly fixed?: MappedRun;
  readonly searched?: MappedRun & { readonly evaluated: number; readonly mappingsPerSecond: number };
  readonly given?: MappedRun;
}

export interface MapModelResult {
  readonly arch: string;
  readonly model: string;
  readonly images: number;
  readonly registers: MappedAccumulators;
  readonly layers: readonly MappedLayer[];
}

/**
 * A layer's operands in the CNN problem's data-space layouts (arch/preset-hierarchy.ts convProblem:
 * Weights [G][M][C][R][S], Inputs [N][G][C][H][W] over the window-covered extent, padding 0),
 * codes minus zero points; channels the array padding adds are 0.
 */
export function convOperands(spec: TimeloopSpec, l: QLinearLayer, x: Int32Array, xShape: readonly number[], zx: number, images: number): Record<string, Int32Array> {
  const ws = rankSizes(spec, 0);
  const is = rankSizes(spec, 1);
  const [G, Mp, Cp, R, S] = ws;
  const [, , , H, W] = is;
  const w = l.weight;
  const conv = l.kind === 'conv';
  const C = w.shape[1];
  const M = w.shape[0] / G;
  const Weights = new Int32Array(ws.reduce((a, b) => a * b, 1));
  for (let g = 0; g < G; g++)
    for (let m = 0; m < M; m++)
      for (let c = 0; c < C; c++)
        for (let r = 0; r < R; r++)
          for (let s = 0; s < S; s++) {
            const o = g * M + m;
            const zw = w.q.zeroPoint.length > 1 ? w.q.zeroPoint[o] : w.q.zeroPoint[0];
            Weights[(((g * Mp + m) * Cp + c) * R + r) * S + s] = w.data[conv ? ((o * C + c) * R + r) * S + s : o * C + c] - zw;
          }
  const Inputs = new Int32Array(is.reduce((a, b) => a * b, 1));
  const padTop = conv ? l.pads[0] : 0;
  const padLeft = conv ? l.pads[1] : 0;
  const ih = conv ? xShape[2] : 1;
  const iw = conv ? xShape[3] : 1;
  for (let n = 0; n < images; n++)
    for (let g = 0; g < G; g++)
      for (let c = 0; c < C; c++)
        for (let y = 0; y < H; y++)
          for (let xx = 0; xx < W; xx++) {
            const sy = y - padTop;
            const sx = xx - padLeft;
            if (sy < 0 || sy >= ih || sx < 0 || sx >= iw) continue;
            Inputs[(((n * G + g) * Cp + c) * H + y) * W + xx] = x[conv ? ((n * G * C + g * C + c) * ih + sy) * iw + sx : n * C + c] - zx;
          }
  return { Weights, Inputs };
}

function runOf(spec: TimeloopSpec, ops: Record<string, Int32Array>, exact: Float64Array, regs: MappedAccumulators): MappedRun {
  const t = evaluateTimeloop(spec);
  const r = runMapped(spec, ops, regs);
  let wrong = 0;
  for (let i = 0; i < r.outputs.length; i++) if (r.outputs[i] !== exact[i]) wrong++;
  return {
    energyPj: t.energyPj,
    cycles: t.cycles,
    wrongOutputs: wrong,
    outputs: r.outputs.length,
    psumEvents: r.psumEvents,
    accEvents: r.accEvents,
    levels: spec.storage.filter((l) => !l.dummy).map((l) => ({ name: l.name, temporal: l.temporal.factors, spatial: l.spatial?.factors ?? null, keep: l.keep })),
  };
}

export async function mapModel(opts: MapModelOptions): Promise<MapModelResult> {
  const spec = loadArch(opts.arch);
  const noFixed = noFixedSchedule(spec);
  if (noFixed && !opts.search && opts.mapping === undefined) throw new UsageError(`${noFixed} (--search, or --mapping <file.yaml>)`);
  const images = opts.images ?? 1;
  if (!Number.isInteger(images) || images < 1) throw new UsageError(`images must be an integer ≥ 1, got ${String(opts.images)}`);
  const set = evaluationSet(opts.data, opts.model, images, 0);
  const net: QuantizedNetwork = opts.preset === undefined ? loadQuantizedOnnx(opts.model) : (await quantizeModel(opts.model, opts.data, resolvePtqConfig(opts.preset))).net;
  if (net.inputs.length !== 1) throw new UsageError(`the model has ${net.inputs.length} inputs; qloom map takes single-input models`);
  const shape = inputShapeFor(net, set.shape);
  const views = new Map(workloadFromQuantizedNetwork(net, [1, ...shape], spec).layers.filter((l) => l.view).map((l) => [l.name, l.view!]));
  const linear = net.layers.filter((l): l is QLinearLayer => (l.kind === 'conv' || l.kind === 'gemm') && views.has(l.name) && !l.format);
  let mappingText: string | undefined;
  /** the layers a multi-layer mapping file (`layers:`) names; null: a one-layer file (`mapping:`) */
  let fileLayers: string[] | null = null;
  if (opts.mapping !== undefined) {
    try {
      mappingText = readFileSync(opts.mapping, 'utf8');
    } catch (e) {
      throw systemError(e, opts.mapping, 'cannot read') ?? e;
    }
    let doc: unknown;
    try {
      doc = parseYaml(mappingText);
    } catch (e) {
      throw new ConfigError(`not valid YAML: ${(e as Error).message.split('\n')[0]}`, opts.mapping);
    }
    if (isPlainObject(doc) && isPlainObject(doc.layers)) {
      fileLayers = Object.keys(doc.layers);
      const stray = fileLayers.filter((n) => !linear.some((l) => l.name === n));
      if (stray.length > 0) throw new ConfigError(stray.map((n) => ({ path: `layers.${n}`, message: `no conv / dense layer "${n}" in ${opts.model} (layers: ${linear.map((l) => l.name).join(', ')})` })), opts.mapping);
    } else if (opts.layers?.length !== 1) {
      throw new UsageError('a mapping file with one `mapping:` maps one layer: name it (--layer), or give `layers: { <layer>: [entries] }`');
    }
  }
  const chosen = opts.layers ?? fileLayers ?? linear.map((l) => l.name);
  const unknown = chosen.filter((n) => !linear.some((l) => l.name === n));
  if (unknown.length > 0) throw new UsageError(`no conv / dense layer ${unknown.map((n) => `"${n}"`).join(', ')} in ${opts.model} (layers: ${linear.map((l) => l.name).join(', ')})`);
  const regs: MappedAccumulators = {
    psumBits: opts.registers?.psumBits ?? spec.accumulator.psumBits,
    accBits: opts.registers?.accBits ?? spec.accumulator.bits,
    policy: opts.registers?.policy ?? (spec.accumulator.overflow === 'saturate' ? 'saturate' : spec.accumulator.overflow === 'ideal' ? 'ideal' : 'wrap'),
  };
  // the operands each layer really receives: the network run exactly on the images
  const codes = new Map<string, Tensor>();
  const ex = new QuantizedExecutor(net, { requant: { mode: 'float' }, acc: { bits: 32, policy: 'wrap' }, onLayer: (layer, out) => void codes.set(layer.output, out) });
  const per = shape.reduce((a, b) => a * b, 1);
  ex.run({ [net.inputs[0].name]: { dtype: 'float32', shape: [images, ...shape], data: set.images.subarray(0, images * per) } as Tensor });
  const layers: MappedLayer[] = [];
  for (const name of chosen) {
    const l = linear.find((x) => x.name === name)!;
    const dims = { ...convDimsOfView(views.get(name)!), N: images };
    const fixed = noFixed ? null : fixedScheduleSpec(spec, dims);
    // without a fixed schedule: the hierarchy with every loop at DRAM, which the search and a
    // given mapping replace
    const base = fixed?.spec ?? timeloopSpecOfPreset(spec, dims);
    const xt = codes.get(l.inputs[0]);
    if (!xt) throw new ConfigError(`layer "${name}": its input '${l.inputs[0]}' is not an integer tensor the network computes`);
    const zx = net.tensors.get(l.inputs[0])!.q.zeroPoint[0];
    const ops = convOperands(base, l, Int32Array.from(xt.data as ArrayLike<number>), xt.shape, zx, images);
    const exact = runMapped(base, ops, { psumBits: 53, accBits: 53, policy: 'ideal' }).outputs;
    const d = fixed?.padding.padded ?? dims;
    let searched: MappedLayer['searched'];
    if (opts.search) {
      // from the fixed schedule where there is one: the search returns it when it finds nothing better
      const s = searchMappings(base, presetConstraints(base, spec), { objective: opts.search.objective ?? 'energy', budget: opts.search.budget ?? 1000, seed: opts.search.seed ?? 1, ...(fixed && { start: fixed.spec }) });
      searched = { ...runOf(s.spec, ops, exact, regs), evaluated: s.evaluated, mappingsPerSecond: s.mappingsPerSecond };
    }
    const mapped = mappingText !== undefined && (fileLayers === null || fileLayers.includes(name));
    const given = mapped ? runOf(applyTimeloopMapping(base, { file: opts.mapping!, text: mappingText! }, fileLayers === null ? undefined : name), ops, exact, regs) : undefined;
    layers.push({
      layer: name,
      dims: { R: d.R, S: d.S, P: d.P, Q: d.Q, C: d.C, M: d.M, N: d.N, G: d.G },
      macs: d.R * d.S * d.P * d.Q * d.C * d.M * d.N * d.G,
      ...(fixed && { fixed: runOf(fixed.spec, ops, exact, regs) }),
      ...(searched && { searched }),
      ...(given && { given }),
    });
    opts.onLayer?.(layers.length, chosen.length);
  }
  return { arch: spec.name, model: opts.model, images, registers: regs, layers };
}
