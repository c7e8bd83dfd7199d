/**
 * Silicon area of an arch spec at 45 nm, component by component, so results can put mm² beside
 * energy per inference. One table of quoted areas (`AREA_45NM`), scaled to other widths by the
 * energy tables' rule (energy.ts `quotedAt`: nearest quote on a log scale, `product` ∝ a·b for
 * multipliers, `width` ∝ width for adders), and one model of what each part of a spec is built of.
 *
 * Sources (45 nm, the node of the default energy table):
 * - adders and multipliers, integer and IEEE float: M. Horowitz, "Computing's energy problem (and
 *   what we can do about it)", ISSCC 2014 — the area column of his operation table (8/16/32-bit
 *   add 36/67/137 µm², 8×8 / 32×32 multiply 282 / 3495 µm², FP16/FP32 add 1360/4184 µm², FP16/FP32
 *   multiply 1640/7700 µm²), as tabulated in MIT 6.5940's efficient-ML lectures;
 * - SRAM: Intel's 45 nm 6T bit cell, 0.346 µm² (Mistry et al., "A 45nm logic technology with
 *   high-k + metal gate transistors…", IEDM 2007), over an array efficiency of 70 % (our
 *   assumption: decoders, sense amplifiers and I/O around the cells) = 0.494 µm² per bit;
 * - flip-flops: NanGate FreePDK45 Open Cell Library, DFF_X1 = 4.522 µm² per bit.
 *
 * What a spec is built of (assumptions named):
 * - a PE: one multiplier at the PE's operand widths, one adder at `psumBits`, its register files —
 *   flip-flops up to 16 B, SRAM above (TPU-style accumulator memories pooled behind the array);
 * - each buffer: its capacity in SRAM (banking and ports not priced);
 * - the requant unit: per lane a multiplier [accumulator bits × multiplierBits], an adder at the
 *   accumulator width and one at the output width (clamp); a LUT of `lutEntries` × 8-bit flip-flops
 *   when it fuses LUT activations;
 * - the SFU: per lane the functional units its algorithms need (arch/sfu.ts; sim/engine/sfu-cost.ts
 *   lists the operations), each unit type at the most any one algorithm uses at a time (the ops run
 *   one after another, so they share), one iterative 32-bit divider (an adder and 64 flip-flops)
 *   and its exp tables in flip-flops (`tableEntries` in 32-bit words: the `lut` softmax's 16-bit
 *   entries count half);
 * - DMA engines, control, interconnect and DRAM: not priced (reported as not included).
 */
import { quotedAt, type Quote, type ScalingRule } from './energy.js';
import { formatMacUnits } from './format-units.js';
import type { ArchSpec, SfuSpec } from './spec.js';

/** quoted areas, µm² per instance at 45 nm */
export const AREA_45NM: Readonly<Record<'adder' | 'multiplier' | 'fp-adder' | 'fp-multiplier', { readonly scaling: ScalingRule; readonly quotes: readonly Quote[] }>> = Object.freeze({
  adder: { scaling: 'width', quotes: [{ bits: [8], value: 36 }, { bits: [16], value: 67 }, { bits: [32], value: 137 }] },
  multiplier: { scaling: 'product', quotes: [{ bits: [8, 8], value: 282 }, { bits: [32, 32], value: 3495 }] },
  'fp-adder': { scaling: 'width', quotes: [{ bits: [16], value: 1360 }, { bits: [32], value: 4184 }] },
  'fp-multiplier': { scaling: 'product', quotes: [{ bits: [16, 16], value: 1640 }, { bits: [32, 32], value: 7700 }] },
});
/** SRAM, µm² per bit: 0.346 µm² cell / 0.70 array efficiency */
export const SRAM_UM2_PER_BIT = 0.346 / 0.7;
/** flip-flop, µm² per bit (NanGate 45 nm DFF_X1) */
export const FLIPFLOP_UM2_PER_BIT = 4.522;
/** register files up to this size are flip-flops; larger ones SRAM */
export const FLIPFLOP_MAX_BYTES = 16;

export const AREA_SOURCE =
  '45 nm: Horowitz ISSCC 2014 (adders, multipliers, FP16/FP32 units); SRAM 0.346 µm² 6T cell (Intel 45 nm, IEDM 2007) at 70 % array efficiency (assumption); flip-flops 4.522 µm²/bit (NanGate FreePDK45 DFF_X1)';

export interface AreaComponent {
  readonly component: string;
  readonly mm2: number;
  /** how it was computed */
  readonly detail: string;
}

export interface AreaReport {
  readonly arch: string;
  readonly technology: '45 nm';
  readonly totalMm2: number;
  readonly components: readonly AreaComponent[];
  readonly notIncluded: readonly string[];
  readonly source: string;
}

const UM2_PER_MM2 = 1e6;

/** area of one unit, µm² */
export function unitAreaUm2(unit: keyof typeof AREA_45NM, bits: number | readonly number[]): number {
  const t = AREA_45NM[unit];
  return quotedAt(t.quotes, t.scaling, bits);
}

/** a register file of `bytes`: flip-flops when small, SRAM otherwise, µm² */
export function registerAreaUm2(bytes: number): number {
  return bytes * 8 * (bytes <= FLIPFLOP_MAX_BYTES ? FLIPFLOP_UM2_PER_BIT : SRAM_UM2_PER_BIT);
}

/** functional units one SFU lane needs, per unit type the most one algorithm uses */
export function sfuLaneUnits(sfu: SfuSpec): { ints: number; adds: number; fpAdds: number; fpMults: number; tableEntries: number } {
  const need = [
    sfu.softmax === 'ort' ? { ints: 0, adds: 1, fpAdds: 1, fpMults: 1, tableEntries: 256 } : sfu.softmax === 'ibert' ? { ints: 2, adds: 3, fpAdds: 0, fpMults: 0, tableEntries: 0 } : { ints: 2, adds: 1, fpAdds: 0, fpMults: 0, tableEntries: sfu.expLutEntries / 2 },
    sfu.layerNorm === 'float' ? { ints: 0, adds: 1, fpAdds: 1, fpMults: 1, tableEntries: 0 } : { ints: 1, adds: 2, fpAdds: 0, fpMults: 0, tableEntries: 0 },
    sfu.gelu === 'igelu' ? { ints: 3, adds: 5, fpAdds: 0, fpMults: 0, tableEntries: 0 } : { ints: 0, adds: 0, fpAdds: 0, fpMults: 0, tableEntries: 0 },
  ];
  const max = (k: 'ints' | 'adds' | 'fpAdds' | 'fpMults') => Math.max(...need.map((n) => n[k]));
  return { ints: max('ints'), adds: max('adds'), fpAdds: max('fpAdds'), fpMults: max('fpMults'), tableEntries: need.reduce((s, n) => s + n.tableEntries, 0) };
}

/** The area of `spec`'s PE array, buffers, requant unit and SFU, at 45 nm. */
export function archArea(spec: ArchSpec): AreaReport {
  const components: AreaComponent[] = [];
  const add = (component: string, um2: number, detail: string) => components.push({ component, mm2: um2 / UM2_PER_MM2, detail });

  const wOp = spec.pe.weightOperandBits;
  const aOp = spec.pe.activationOperandBits;
  const regs = spec.pe.registers;
  const mult = unitAreaUm2('multiplier', [wOp, aOp]);
  const adder = unitAreaUm2('adder', spec.accumulator.psumBits);
  const regArea = registerAreaUm2(regs.weightBytes) + registerAreaUm2(regs.inputBytes) + registerAreaUm2(regs.psumBytes);
  // shift mode: a barrel shifter per PE, sized as an adder of the partial-sum width (an assumption,
  // as its energy in sim/engine/plan.ts: no shifter in the 45 nm quotes)
  const shifter = spec.pe.shiftMode ? adder : 0;
  const shiftNote = spec.pe.shiftMode ? ` + shift-mode barrel shifter ${shifter.toFixed(0)} µm² (assumed one ${spec.accumulator.psumBits}-bit adder)` : '';
  add('pe-array', spec.array.pes * (mult + adder + shifter + regArea), `${spec.array.pes} PEs × (${wOp}×${aOp}-bit multiplier ${mult.toFixed(0)} µm² + ${spec.accumulator.psumBits}-bit adder ${adder.toFixed(0)} µm² + registers ${regArea.toFixed(0)} µm²${shiftNote})`);

  // a PE on a number format: its MAC units (format-units.ts) instead of the integer multiplier and adder
  const fmtUnits = formatMacUnits(spec);
  if (fmtUnits) {
    const int8Mac = unitAreaUm2('multiplier', [8, 8]) + unitAreaUm2('adder', 32);
    const parts = fmtUnits.map((u) => ({ u, um2: u.perMac * (u.component === 'mac' ? (u.int8MacRatio ?? 1) * int8Mac : unitAreaUm2(u.component, u.bits)) }));
    const mac = parts.reduce((t, p) => t + p.um2, 0);
    const what = parts.map((p) => `${p.u.component}${p.u.component === 'mac' ? ` ${p.u.action} (${p.u.int8MacRatio}× an INT8/INT32 MAC)` : ` ${Array.isArray(p.u.bits) ? p.u.bits.join('×') : p.u.bits}-bit`}${p.u.perMac < 1 ? ` /${Math.round(1 / p.u.perMac)}` : ''} ${p.um2.toFixed(0)} µm²`).join(' + ');
    // operands.alsoInt: the integer multiplier and adder sit beside the format's MAC in every PE
    const intPath = spec.operands.alsoInt ? mult + adder : 0;
    const intNote = spec.operands.alsoInt ? ` + integer datapath ${wOp}×${aOp}-bit multiplier ${mult.toFixed(0)} µm² and ${spec.accumulator.psumBits}-bit adder ${adder.toFixed(0)} µm²` : '';
    components[components.length - 1] = { component: 'pe-array', mm2: (spec.array.pes * (mac + intPath + regArea)) / UM2_PER_MM2, detail: `${spec.array.pes} PEs × (${spec.operands.format} MAC: ${what}${intNote} + registers ${regArea.toFixed(0)} µm²)` };
  }

  const bufs = spec.memories.layout === 'unified' ? (['glb'] as const) : (['ifmap', 'filter', 'ofmap'] as const);
  for (const b of bufs) {
    const cap = spec.memories[b]!.capacityBytes;
    add(b, cap * 8 * SRAM_UM2_PER_BIT, `${cap} B of SRAM at ${SRAM_UM2_PER_BIT.toFixed(3)} µm²/bit`);
  }

  const rq = spec.requant;
  const lutFused = rq.fused.some((f) => !['relu', 'relu6', 'clip'].includes(f));
  const rqLane = unitAreaUm2('multiplier', [spec.accumulator.bits, rq.multiplierBits]) + unitAreaUm2('adder', spec.accumulator.bits) + unitAreaUm2('adder', spec.operands.activationBits);
  const lut = lutFused ? rq.lutEntries * 8 * FLIPFLOP_UM2_PER_BIT : 0;
  add('requant', rq.lanesPerCycle * rqLane + lut, `${rq.lanesPerCycle} lanes × ${rqLane.toFixed(0)} µm² (${spec.accumulator.bits}×${rq.multiplierBits} multiplier, two adders)${lutFused ? ` + a ${rq.lutEntries}-entry LUT` : ''}`);

  if (spec.sfu) {
    const u = sfuLaneUnits(spec.sfu);
    const divider = unitAreaUm2('adder', 32) + 64 * FLIPFLOP_UM2_PER_BIT;
    const lane =
      u.ints * unitAreaUm2('multiplier', [32, 32]) + u.adds * unitAreaUm2('adder', 32) + u.fpAdds * unitAreaUm2('fp-adder', 32) + u.fpMults * unitAreaUm2('fp-multiplier', [32, 32]) + divider + u.tableEntries * 32 * FLIPFLOP_UM2_PER_BIT;
    add(
      'sfu',
      spec.sfu.lanes * lane,
      `${spec.sfu.lanes} lanes × ${lane.toFixed(0)} µm² (${u.ints} int32 multipliers, ${u.adds} adders, ${u.fpAdds} fp32 adders, ${u.fpMults} fp32 multipliers, a divider${u.tableEntries ? `, ${u.tableEntries} table entries` : ''}; softmax ${spec.sfu.softmax}, layerNorm ${spec.sfu.layerNorm}, gelu ${spec.sfu.gelu})`,
    );
  }
  const totalMm2 = components.reduce((s, c) => s + c.mm2, 0);
  return { arch: spec.name, technology: '45 nm', totalMm2, components, notIncluded: ['DMA engines', 'control', 'interconnect', 'DRAM and its PHY'], source: AREA_SOURCE };
}
