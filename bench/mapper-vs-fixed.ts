/**
 * Issue 16 item 3: how much energy a searched mapping saves against today's fixed SCALE-Sim-style
 * schedule, per layer and per network, both priced by qloom's Timeloop model
 * (sim/mapping/timeloop-model.ts `evaluateTimeloop`) on the preset written as a hierarchy
 * (arch/preset-hierarchy.ts: DRAM → glb → per-column accumulator → per-PE weight / input
 * registers → MACs, ERT from the preset's energy table):
 * - fixed: sim/mapping/fixed-schedule.ts (WS: C·R·S across rows, M across columns, pixels
 *   streaming, K folds then M folds; OS (mcu-npu, `--arch mcu-npu`): pixels across rows, M across
 *   columns, K streaming into each PE's accumulator, pixel folds then M folds; the problem padded
 *   where the array needs it — the same padded problem is searched);
 * - searched: `searchMappings` (objective energy, seeded random sampling + hill climbing) under the
 *   hierarchy's capacities and fanouts, registers holding only their own data space
 *   (`presetConstraints`).
 * Networks: fmnist-cnn (Fashion-MNIST) and MobileNetV2 (nsfwjs, 224², photos) from the zoo, PTQ'd
 * w8a8-pc, their conv and dense layers (a dense layer as a 1×1 conv); ResNet-18 from SCALE-Sim's
 * topology (bench/topologies/Resnet18.csv, its 21 rows incl. the FC). Energy is MACs and data
 * movement only (no requant, bias, activation): see arch/preset-hierarchy.ts for what differs from
 * qloom's engine.
 *
 *   npx tsx bench/mapper-vs-fixed.ts [--budget 1000] [--seed 1] [--arch edge-npu,eyeriss-like] [--net fmnist-cnn,mobilenetv2,resnet18] [--cold]
 *   (each search starts from the fixed schedule, so it is never worse; --cold: from random points only)
 *   (the defaults shown; 564 s measured, one core of a loaded 2-core machine)
 *
 * Results: bench/results/mapper-vs-fixed.json (per arch and network: totals and per-layer rows,
 * with the searched mapping; `markdown`). A run keeps the file's results for other arches when its
 * budget and seed are the same, so `--arch eyeriss-like` after the default run adds to it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convMacs } from '../arch/preset-hierarchy.js';
import { presetSpec } from '../arch/spec.js';
import { resolvePtqConfig } from '../quant/config.js';
import { evaluationSet, type EvalDatasetName } from '../scenarios/datasets.js';
import { inputShapeFor } from '../scenarios/evaluate.js';
import { quantizeModel } from '../scenarios/quantize.js';
import { workloadFromQuantizedNetwork } from '../sim/engine/index.js';
import { convDimsOfView, fixedScheduleSpec, presetConstraints } from '../sim/mapping/fixed-schedule.js';
import { searchMappings, type MappingEntry } from '../sim/mapping/mapper.js';
import { evaluateTimeloop, type TimeloopResult } from '../sim/mapping/timeloop-model.js';
import type { GemmView } from '../sim/timing/gemm-view.js';
import { parseTopologyCsv } from '../sim/timing/topology.js';
import { writeBenchResult } from './common.js';

const say = (s: string): void => void process.stdout.write(`${s}\n`);
const here = dirname(fileURLToPath(import.meta.url));

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

async function zooViews(model: string, dataset: EvalDatasetName): Promise<GemmView[]> {
  const spec = presetSpec('edge-npu');
  const { net } = await quantizeModel(model, dataset, resolvePtqConfig('w8a8-pc'));
  const w = workloadFromQuantizedNetwork(net, [1, ...inputShapeFor(net, evaluationSet(dataset, model, 1, 0).shape)], spec);
  return w.layers.flatMap((l) => (l.view ? [l.view] : []));
}

const NETS: Readonly<Record<string, () => Promise<GemmView[]>>> = {
  'fmnist-cnn': () => zooViews('fmnist-cnn', 'fmnist'),
  mobilenetv2: () => zooViews('mobilenetv2', 'photos'),
  resnet18: async () => {
    const file = join(here, 'topologies', 'Resnet18.csv');
    return parseTopologyCsv(readFileSync(file, 'utf8'), file, 'conv');
  },
};

/** per-level energy (pJ), compute as `MAC` */
function byLevel(r: TimeloopResult): Record<string, number> {
  const out: Record<string, number> = { MAC: r.computeEnergyPj };
  for (const l of r.levels) out[l.name] = l.energyPj;
  return out;
}

const addInto = (a: Record<string, number>, b: Record<string, number>): void => {
  for (const [k, v] of Object.entries(b)) a[k] = (a[k] ?? 0) + v;
};
const uj = (pj: number): string => (pj / 1e6).toFixed(2);
const fmtMapping = (m: readonly MappingEntry[]): string[] =>
  m.map((e) => (e.type === 'bypass' ? `${e.target} keep [${(e.keep ?? []).join(' ')}]` : `${e.target} ${e.type} ${e.factors} perm ${e.permutation}${e.split !== undefined ? ` split ${e.split}` : ''}`));

interface Row {
  readonly arch: string;
  readonly network: string;
  readonly totals: unknown;
  readonly elapsedS: number;
  readonly summaryMd: string;
  readonly detailMd: string;
  readonly layers: readonly unknown[];
}

const SUMMARY_HEAD = [
  '| arch | network | layers (distinct shapes) | MACs (padded: +%) | fixed µJ | searched µJ | searched ÷ fixed | fixed cycles | searched cycles | search s (mappings/s) | layers searched > fixed |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
];

export async function main(): Promise<unknown> {
  const budget = Number(arg('budget', '1000'));
  const seed = Number(arg('seed', '1'));
  const arches = arg('arch', 'edge-npu,eyeriss-like').split(',');
  const nets = arg('net', 'fmnist-cnn,mobilenetv2,resnet18').split(',');
  // the search starts from the fixed schedule (never worse than it) unless --cold
  const cold = process.argv.includes('--cold');
  const t0 = performance.now();
  const results: Row[] = [];
  const summary: string[] = [...SUMMARY_HEAD];
  const file = join(here, 'results', 'mapper-vs-fixed.json');
  // results of other arches from an earlier run with the same budget and seed are kept (one file
  // for `--arch edge-npu` and a later `--arch eyeriss-like`)
  let earlier: Row[] = [];
  if (existsSync(file)) {
    const old = JSON.parse(readFileSync(file, 'utf8')) as { budget?: number; seed?: number; results?: Row[] };
    if (old.budget === budget && old.seed === seed && (old as { cold?: boolean }).cold === cold) earlier = (old.results ?? []).filter((r) => !arches.includes(r.arch));
  }
  const write = (): void => {
    const all = [...earlier, ...results];
    const report = {
      bench: 'mapper-vs-fixed',
      date: new Date().toISOString(),
      node: process.version,
      budget,
      seed,
      cold,
      objective: 'energy',
      elapsedS: (performance.now() - t0) / 1000,
      results: all,
      markdown: [`Budget ${budget} evaluations per layer, seed ${seed}, objective energy, ${cold ? 'searches from random points (--cold)' : 'each search starting from the fixed schedule'}. Energy: MACs and data movement under qloom's Timeloop model (arch/preset-hierarchy.ts); search time counts each distinct layer shape once (a repeated shape reuses its deterministic result).`, '', ...SUMMARY_HEAD, ...all.map((r) => r.summaryMd), '', ...all.map((r) => r.detailMd)].join('\n'),
    };
    writeBenchResult(file, JSON.stringify(report, null, 2) + '\n');
  };
  const views = new Map<string, GemmView[]>();
  for (const n of nets) {
    if (!(n in NETS)) throw new Error(`unknown network ${n} (known: ${Object.keys(NETS).join(', ')})`);
    views.set(n, await NETS[n]());
  }
  for (const archName of arches) {
    const arch = presetSpec(archName);
    const cache = new Map<string, { fixed: ReturnType<typeof fixedScheduleSpec>; fr: TimeloopResult; s: ReturnType<typeof searchMappings> }>();
    for (const n of nets) {
      const tn = performance.now();
      const layers: unknown[] = [];
      // search time and evaluations count each distinct shape once
      const tot = { macs: 0, paddedMacs: 0, fixedPj: 0, searchedPj: 0, fixedCycles: 0, searchedCycles: 0, searchS: 0, evaluated: 0, worse: 0, distinct: 0 };
      const fixedLevels: Record<string, number> = {};
      const searchedLevels: Record<string, number> = {};
      const rowsMd: string[] = [
        `### ${n} on ${archName}`,
        '',
        '| layer | R S P Q C M G (padded) | folds fixed / SCALE-Sim | fixed µJ | searched µJ | ratio | fixed cycles | searched cycles | evals (refused) | s |',
        '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ];
      for (const view of views.get(n)!) {
        const dims = convDimsOfView(view);
        // a shape seen before (ResNet's repeated blocks) gets the same (deterministic) answer: reused
        const key = JSON.stringify({ ...dims, name: '' });
        let hit = cache.get(key);
        const reused = hit !== undefined;
        if (hit === undefined) {
          const schedule = fixedScheduleSpec(arch, dims);
          hit = { fixed: schedule, fr: evaluateTimeloop(schedule.spec), s: searchMappings(schedule.spec, presetConstraints(schedule.spec), { objective: 'energy', budget, seed, ...(!cold && { start: schedule.spec }) }) };
          cache.set(key, hit);
        }
        const { fixed, fr, s } = hit;
        const p = fixed.padding.padded;
        const ratio = s.result.energyPj / fr.energyPj;
        tot.macs += convMacs(dims);
        tot.paddedMacs += convMacs(p);
        tot.fixedPj += fr.energyPj;
        tot.searchedPj += s.result.energyPj;
        tot.fixedCycles += fr.cycles;
        tot.searchedCycles += s.result.cycles;
        if (!reused) {
          tot.distinct++;
          tot.searchS += s.elapsedMs / 1000;
          tot.evaluated += s.evaluated;
        }
        if (ratio > 1) tot.worse++;
        addInto(fixedLevels, byLevel(fr));
        addInto(searchedLevels, byLevel(s.result));
        const shape = `${p.R} ${p.S} ${p.P} ${p.Q} ${p.C}${p.C !== dims.C ? ` (${dims.C})` : ''} ${p.M}${p.M !== dims.M ? ` (${dims.M})` : ''} ${p.G}`;
        rowsMd.push(
          `| ${view.name} | ${shape} | ${fixed.padding.folds} / ${fixed.padding.scaleSimFolds} | ${uj(fr.energyPj)} | ${uj(s.result.energyPj)} | ${ratio.toFixed(3)} | ${fr.cycles} | ${s.result.cycles} | ${s.evaluated} (${s.invalid}) | ${reused ? 'same shape as above' : (s.elapsedMs / 1000).toFixed(1)} |`,
        );
        layers.push({
          layer: view.name,
          dims,
          padded: p,
          extraMacs: fixed.padding.extraMacs,
          rowFactors: fixed.padding.rowFactors,
          colFactor: fixed.padding.colFactor,
          folds: fixed.padding.folds,
          scaleSimFolds: fixed.padding.scaleSimFolds,
          fixed: { energyPj: fr.energyPj, cycles: fr.cycles, computes: fr.computes, kFoldsAt: fixed.kFoldsAt, atDram: fixed.atDram, levels: byLevel(fr) },
          searched: {
            energyPj: s.result.energyPj,
            cycles: s.result.cycles,
            mode: s.mode,
            evaluated: s.evaluated,
            invalid: s.invalid,
            bestAt: s.bestAt,
            elapsedMs: s.elapsedMs,
            mappingsPerSecond: s.mappingsPerSecond,
            levels: byLevel(s.result),
            mapping: fmtMapping(s.mapping),
          },
          ratio,
          reused,
        });
        say(
          `${archName} ${n} ${view.name}: fixed ${uj(fr.energyPj)} µJ ${fr.cycles} cyc | searched ${uj(s.result.energyPj)} µJ ${s.result.cycles} cyc | ×${ratio.toFixed(3)} | ${s.evaluated} evals ${s.invalid} refused, ${reused ? 'same shape as an earlier layer' : `${(s.elapsedMs / 1000).toFixed(1)} s`}`,
        );
      }
      const ratio = tot.searchedPj / tot.fixedPj;
      summary.push(
        `| ${archName} | ${n} | ${layers.length} (${tot.distinct}) | ${(tot.macs / 1e6).toFixed(1)} M (+${((tot.paddedMacs / tot.macs - 1) * 100).toFixed(2)} %) | ${uj(tot.fixedPj)} | ${uj(tot.searchedPj)} | ${ratio.toFixed(3)} | ${tot.fixedCycles.toLocaleString('en-US')} | ${tot.searchedCycles.toLocaleString('en-US')} | ${tot.searchS.toFixed(0)} (${(tot.evaluated / tot.searchS).toFixed(0)}) | ${tot.worse} |`,
      );
      const lv = (m: Record<string, number>): string => Object.entries(m).map(([k, v]) => `${k} ${uj(v)}`).join(', ');
      rowsMd.push('', `Energy by level (µJ) — fixed: ${lv(fixedLevels)}; searched: ${lv(searchedLevels)}.`, '');
      results.push({
        arch: archName,
        network: n,
        totals: { ...tot, ratio, fixedLevels, searchedLevels },
        elapsedS: (performance.now() - tn) / 1000,
        summaryMd: summary[summary.length - 1],
        detailMd: rowsMd.join('\n'),
        layers,
      });
      say(summary[summary.length - 1]);
      write();
    }
  }
  write();
  say([`Budget ${budget} evaluations per layer, seed ${seed}, objective energy; ${((performance.now() - t0) / 1000).toFixed(0)} s in all.`, ...summary].join('\n'));
  return results;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
