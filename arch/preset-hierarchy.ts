/**
 * A qloom preset (unified buffer, `ArchSpec`) written as a Timeloop-style linear storage hierarchy
 * (`TimeloopSpec`, arch/timeloop.ts), so that qloom's Timeloop model (sim/mapping/timeloop-model.ts)
 * can price today's fixed schedule and a searched mapping of one convolution on the same hardware
 * (issue 16 item 3; bench/mapper-vs-fixed.ts).
 *
 * ## Problem
 * Timeloop's CNN layer with a group dimension G added (dimensions R S P Q C M N G):
 * Weights[G][M][C][R][S], Inputs[N][G][C][R·dilationH + P·strideH][S·dilationW + Q·strideW],
 * Outputs[N][G][M][P][Q] (read-write). R/P run along the height, S/Q along the width; C and M are
 * per group. A plain conv has G = 1; a depthwise conv (group = channels) has C = M = 1 and G =
 * channels, so every channel keeps its own weights and inputs (a batch dimension N could not do
 * that: weights do not project on N). A dense layer is a 1×1 conv on a 1×1 image.
 * Conv padding is not a separate notion in Timeloop: the Inputs data space is the window-covered
 * extent, (P−1)·stride + (R−1)·dilation + 1 per axis, halo of zero padding included (qloom's
 * engine moves only the real ifmap).
 *
 * ## Hierarchy (innermost first; a register of 0 bytes is left out, i.e. bypassed by everything)
 * - `InputReg`  per PE (rows × cols instances, mesh cols × rows): keeps Inputs only,
 *   capacity pe.registers.inputBytes ÷ activation bytes words;
 * - `WeightReg` per PE: keeps Weights only, capacity pe.registers.weightBytes ÷ weight bytes;
 * - `Accumulator` per column (cols instances, fanout 1 × rows below it): keeps Outputs only,
 *   capacity rows · pe.registers.psumBytes ÷ (psumBits ÷ 8) partial sums — qloom's engine pools
 *   the PEs' psum registers the same way (arch/presets.ts: "the engine pools pes · psum bytes";
 *   n per column); partial sums of one column's rows are reduced in the adder chain on their way
 *   in (Timeloop's spatial reduction);
 * - `GlobalBuffer` (the glb; 1 instance, fanout cols × 1 below it, or cols × rows when there is no
 *   accumulator): keeps everything, capacity glb bytes ÷ word bytes, block = glb.wordBits ÷ word
 *   bits, read / write bandwidth = glb bytes per cycle in words;
 * - `DRAM`: keeps everything, unbounded, block = 64 bits ÷ word bits, shared (read + write)
 *   bandwidth = dram bytes per cycle in words;
 * - compute `MAC` (rows × cols).
 * The word of the glb and DRAM is the wider operand (8 bits on edge-npu, 16 on eyeriss-like).
 *
 * ## ERT (pJ per action, from `energyTableForSpec(spec)`, arch/energy.ts)
 * - DRAM read = `energyOf(dram, read, 64)`, write = update = `energyOf(dram, write, 64)`: one 64-bit
 *   DRAM access per block of 64 ÷ word bits words — qloom's engine counts ⌈bytes ÷ 8⌉ such accesses;
 * - GlobalBuffer read / write (= update) = `energyOf(sram, read|write, glb.wordBits, capacity ÷
 *   banks)`, one per block of glb.wordBits — as sim/engine/accounting.ts `push` prices a glb word;
 * - WeightReg / InputReg read / write (= update) = `energyOf(regfile, read|write, operand bits)`
 *   (the multiplier's operand width, as plan.ts prices `pe-weight` / `pe-input`);
 * - Accumulator read / write (= update) = `energyOf(regfile, read|write, psumBits)`;
 * - MAC compute = `energyOf(multiplier, mult, [weight, activation operand bits])` +
 *   `energyOf(adder, add, psumBits)`, qloom's `array` mult + add per MAC; no leakage anywhere.
 *
 * ## What differs from qloom's own engine model (sim/engine/plan.ts, accounting.ts)
 * - Timeloop counts register fills and accumulator reads/updates from the loop nest; qloom charges
 *   per MAC one weight-register read, one input-register read and one psum-register write (the
 *   systolic pipeline register) and no register fills. Here there is no per-PE psum level: the
 *   per-MAC psum write qloom charges (0.92 pJ at 32 bits) is not in these numbers;
 * - one word width per level (Timeloop's datawidth): partial sums at the glb and DRAM are counted
 *   as operand-width words (qloom moves spilled psums at the accumulator width);
 * - no bias / requant parameters, requant unit, activation or LUT: MACs and data movement only;
 * - DRAM/glb/array cycles are Timeloop's (compute cycles per PE with a bandwidth slowdown), not
 *   qloom's fold timing with fill/drain skew, DMA latency and double buffering.
 */
import { type EnergyTable, energyOf, energyTableForSpec } from './energy.js';
import { ConfigError } from './errors.js';
import { DATA_SPACE_NAMES, type DataSpaceName, type LevelPer, TIMELOOP_SPACE, meshOf } from './hierarchy.js';
import type { ArchSpec, BufferSpec } from './spec.js';
import type { TimeloopActionEnergy, TimeloopDataSpace, TimeloopLoops, TimeloopProblem, TimeloopSpec, TimeloopStorageLevel, TimeloopTerm } from './timeloop.js';
import { deepFreeze } from './validate.js';

/** One convolution (per group: C and M are a group's input and output channels). */
export interface ConvDims {
  readonly name: string;
  /** filter height and width */
  readonly R: number;
  readonly S: number;
  /** output height and width */
  readonly P: number;
  readonly Q: number;
  /** input and output channels per group */
  readonly C: number;
  readonly M: number;
  /** batch */
  readonly N: number;
  /** groups (1: a plain conv; channels: depthwise) */
  readonly G: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly dilationH: number;
  readonly dilationW: number;
}

/** the problem's dimensions, in this order */
export const CONV_DIMS = ['R', 'S', 'P', 'Q', 'C', 'M', 'N', 'G'] as const;
export type ConvDim = (typeof CONV_DIMS)[number];
export const DATA_SPACES = ['Weights', 'Inputs', 'Outputs'] as const;

export const LEVEL = { inputReg: 'InputReg', weightReg: 'WeightReg', accumulator: 'Accumulator', glb: 'GlobalBuffer', dram: 'DRAM' } as const;

/** MACs of the layer: G·M·C·R·S·P·Q·N */
export function convMacs(l: ConvDims): number {
  return CONV_DIMS.reduce((a, d) => a * l[d], 1);
}

/** Timeloop's CNN layer with groups: dimensions R S P Q C M N G, three data spaces. */
export function convProblem(l: ConvDims): TimeloopProblem {
  const problems = CONV_DIMS.filter((d) => !(Number.isSafeInteger(l[d]) && l[d] >= 1)).map((d) => ({ path: `${l.name}.${d}`, message: `${String(l[d])} is not an integer ≥ 1` }));
  for (const k of ['strideH', 'strideW', 'dilationH', 'dilationW'] as const) {
    if (!(Number.isSafeInteger(l[k]) && l[k] >= 1)) problems.push({ path: `${l.name}.${k}`, message: `${String(l[k])} is not an integer ≥ 1` });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const t = (d: ConvDim, coefficient = 1): TimeloopTerm => ({ dimension: CONV_DIMS.indexOf(d), coefficient });
  const dataSpaces: TimeloopDataSpace[] = [
    { name: 'Weights', readWrite: false, projection: [[t('G')], [t('M')], [t('C')], [t('R')], [t('S')]] },
    { name: 'Inputs', readWrite: false, projection: [[t('N')], [t('G')], [t('C')], [t('R', l.dilationH), t('P', l.strideH)], [t('S', l.dilationW), t('Q', l.strideW)]] },
    { name: 'Outputs', readWrite: true, projection: [[t('N')], [t('G')], [t('M')], [t('P')], [t('Q')]] },
  ];
  return { name: l.name, dimensions: [...CONV_DIMS], bounds: CONV_DIMS.map((d) => l[d]), dataSpaces };
}

/** The per-action energies (pJ) the hierarchy's levels and MAC get from the preset's energy table. */
export interface PresetErt {
  readonly dram: TimeloopActionEnergy;
  readonly glb?: TimeloopActionEnergy;
  readonly weightReg: TimeloopActionEnergy;
  readonly inputReg: TimeloopActionEnergy;
  readonly accumulator: TimeloopActionEnergy;
  readonly macPj: number;
}

const rw = (read: number, write: number): TimeloopActionEnergy => ({ readPj: read, writePj: write, updatePj: write, leakPj: 0 });

/** An on-chip buffer's access energies: sram by bank size, regfile by width only. */
function bufferErt(t: EnergyTable, cls: 'sram' | 'regfile', b: BufferSpec): TimeloopActionEnergy {
  return cls === 'sram'
    ? rw(energyOf(t, 'sram', 'read', b.wordBits, b.capacityBytes / b.banks), energyOf(t, 'sram', 'write', b.wordBits, b.capacityBytes / b.banks))
    : rw(energyOf(t, 'regfile', 'read', b.wordBits), energyOf(t, 'regfile', 'write', b.wordBits));
}

/** The per-action energies of a unified-buffer preset's levels and MAC (split buffers: `glb` absent). */
export function presetErt(spec: ArchSpec): PresetErt {
  const t = energyTableForSpec(spec);
  const glb = spec.memories.glb;
  const reg = (bits: number) => rw(energyOf(t, 'regfile', 'read', bits), energyOf(t, 'regfile', 'write', bits));
  return {
    dram: rw(energyOf(t, 'dram', 'read', 64), energyOf(t, 'dram', 'write', 64)),
    ...(glb && { glb: bufferErt(t, 'sram', glb) }),
    weightReg: reg(spec.pe.weightOperandBits),
    inputReg: reg(spec.pe.activationOperandBits),
    accumulator: reg(spec.accumulator.psumBits),
    macPj: energyOf(t, 'multiplier', 'mult', [spec.pe.weightOperandBits, spec.pe.activationOperandBits]) + energyOf(t, 'adder', 'add', spec.accumulator.psumBits),
  };
}

/** the trivial mapping: every dimension's whole bound at DRAM */
function loops(nDims: number, factors?: readonly number[]): TimeloopLoops {
  return { factors: factors ?? new Array(nDims).fill(1), permutation: [...Array(nDims).keys()] };
}

/**
 * The arch as a linear Timeloop hierarchy for one conv (see the file header), with a placeholder
 * mapping: every loop at DRAM, every level keeping what it is for. `fixedScheduleSpec`
 * (sim/mapping/fixed-schedule.ts) and the mapper replace the mapping. Split buffers become three
 * levels keeping one data space each (IfmapBuffer above FilterBuffer above OfmapBuffer), and a
 * hierarchy's inner levels (arch/hierarchy.ts) sit between the buffers and the accumulator, each
 * with its instances; a level's fanout is its child's mesh over its own, so the instances must
 * form a tree (a per-row level cannot feed a per-column one).
 */
export function timeloopSpecOfPreset(spec: ArchSpec, layer: ConvDims): TimeloopSpec {
  const problem = convProblem(layer);
  const t = energyTableForSpec(spec);
  const e = presetErt(spec);
  const { rows, cols } = spec.array;
  const wBits = spec.operands.weightBits;
  const aBits = spec.operands.activationBits;
  const psumBits = spec.accumulator.psumBits;
  const word = Math.max(wBits, aBits);
  const regs = spec.pe.registers;
  const n = CONV_DIMS.length;
  const keepOf = (ds: readonly DataSpaceName[]): boolean[] => DATA_SPACES.map((d) => ds.some((x) => TIMELOOP_SPACE[x] === d));
  interface Lv {
    name: string;
    meshX: number;
    meshY: number;
    wordBits: number;
    widthBits: number;
    energy: TimeloopActionEnergy;
    capacityWords: number | null;
    keep: boolean[];
    readBandwidth?: number | null;
    writeBandwidth?: number | null;
  }
  const pe = meshOf('pe', rows, cols);
  const buffer = (name: string, cls: 'sram' | 'regfile', per: LevelPer, b: BufferSpec, keeps: readonly DataSpaceName[]): Lv => ({
    name,
    ...meshOf(per, rows, cols),
    wordBits: word,
    widthBits: b.wordBits,
    energy: bufferErt(t, cls, b),
    capacityWords: Math.floor((b.capacityBytes * 8) / word),
    keep: keepOf(keeps),
    readBandwidth: (b.readBytesPerCycle * 8) / word,
    writeBandwidth: (b.writeBytesPerCycle * 8) / word,
  });
  // innermost first
  const lv: Lv[] = [];
  const inputWords = Math.floor((regs.inputBytes * 8) / aBits);
  const weightWords = Math.floor((regs.weightBytes * 8) / wBits);
  const accWords = Math.floor((rows * regs.psumBytes * 8) / psumBits);
  if (inputWords > 0) lv.push({ name: LEVEL.inputReg, ...pe, wordBits: aBits, widthBits: aBits, energy: e.inputReg, capacityWords: inputWords, keep: keepOf(['inputs']) });
  if (weightWords > 0) lv.push({ name: LEVEL.weightReg, ...pe, wordBits: wBits, widthBits: wBits, energy: e.weightReg, capacityWords: weightWords, keep: keepOf(['weights']) });
  if (accWords > 0) lv.push({ name: LEVEL.accumulator, ...meshOf('column', rows, cols), wordBits: psumBits, widthBits: psumBits, energy: e.accumulator, capacityWords: accWords, keep: keepOf(['outputs']) });
  for (const l of [...(spec.memories.innerLevels ?? [])].reverse()) lv.push(buffer(l.name, l.class, l.per, l, l.keeps));
  if (spec.memories.layout === 'unified') lv.push(buffer(LEVEL.glb, 'sram', 'array', spec.memories.glb!, DATA_SPACE_NAMES));
  else for (const [name, b, d] of SPLIT_LEVELS) lv.push(buffer(name, 'sram', 'array', spec.memories[b]!, [d]));
  lv.push({ name: LEVEL.dram, meshX: 1, meshY: 1, wordBits: word, widthBits: 64, energy: e.dram, capacityWords: null, keep: keepOf(DATA_SPACE_NAMES), readBandwidth: null, writeBandwidth: null });
  const storage: TimeloopStorageLevel[] = lv.map((o, i) => {
    const child = i === 0 ? { name: 'MAC', ...pe } : lv[i - 1];
    if (child.meshX % o.meshX !== 0 || child.meshY % o.meshY !== 0) {
      throw new ConfigError(`arch "${spec.name}": level "${o.name}" (${o.meshX}×${o.meshY} instances) cannot feed "${child.name}" (${child.meshX}×${child.meshY}): each level's instances must divide those below it`);
    }
    const fanoutX = child.meshX / o.meshX;
    const fanoutY = child.meshY / o.meshY;
    return {
      name: o.name,
      className: o.name === LEVEL.dram ? 'DRAM' : 'SRAM',
      dummy: false,
      instances: o.meshX * o.meshY,
      meshX: o.meshX,
      meshY: o.meshY,
      wordBits: o.wordBits,
      widthBits: o.widthBits,
      blockSize: Math.max(1, Math.floor(o.widthBits / o.wordBits)),
      clusterSize: 1,
      fanoutX,
      fanoutY,
      energy: o.energy,
      capacityWords: o.capacityWords,
      allowOverbooking: false,
      readBandwidth: o.readBandwidth ?? null,
      writeBandwidth: o.writeBandwidth ?? null,
      sharedBandwidth: null,
      temporal: loops(n),
      spatial: fanoutX * fanoutY > 1 ? { ...loops(n), split: n } : null,
      keep: o.keep,
    };
  });
  // DRAM bandwidth as one shared limit (reads + writes), as qloom's DMA shares one link
  const dramBw = (spec.memories.dram.bytesPerCycle * 8) / word;
  const d = storage.length - 1;
  storage[d] = { ...storage[d], sharedBandwidth: dramBw, temporal: loops(n, problem.bounds) };
  return deepFreeze({
    source: `preset ${spec.name}: ${layer.name}`,
    problem,
    storage,
    compute: { name: 'MAC', className: 'intmac', instances: rows * cols, meshX: cols, meshY: rows, computePj: e.macPj },
  });
}

/** split buffers as levels, innermost first */
const SPLIT_LEVELS: readonly (readonly [string, 'ofmap' | 'filter' | 'ifmap', DataSpaceName])[] = [
  ['OfmapBuffer', 'ofmap', 'outputs'],
  ['FilterBuffer', 'filter', 'weights'],
  ['IfmapBuffer', 'ifmap', 'inputs'],
];
