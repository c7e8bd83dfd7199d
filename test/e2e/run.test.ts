/**
 * `qloom run` (timing only) and `qloom energy` as a user runs them (`node cli/qloom.js …`), against
 * SCALE-Sim's own reports in ../shared/golden/scalesim (CALC mode: per-layer Total Cycles).
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOROWITZ_45NM } from '../../arch/energy.js';
import { qloom, ROOT } from '../helpers/cli.js';

const GOLDEN = resolve(ROOT, '../shared/golden/scalesim');

/** "Total Cycles" column of a SCALE-Sim COMPUTE_REPORT.csv */
function scaleSimCycles(dir: string): number[] {
  return readFileSync(join(GOLDEN, dir, 'COMPUTE_REPORT.csv'), 'utf8')
    .trim()
    .split(/\r?\n/)
    .slice(1)
    .map((l) => Number(l.split(',')[1]));
}

interface Summary {
  layers: { name: string; cycles: number; stallCycles: number; utilization: number; macs: number; energyPj: number; overflows: number; bits: Record<string, unknown> }[];
  totals: { cycles: number; stallCycles: number; macs: number; energyPj: number; overflows: number; bits: Record<string, unknown> };
}

const tmp = () => mkdtempSync(join(tmpdir(), 'qloom-run-'));

describe.skipIf(!existsSync(GOLDEN))('qloom run --topology', () => {
  it('scalesim-default on a golden topology: per-layer cycles equal SCALE-Sim\'s (CALC), --json as documented', async () => {
    const r = await qloom('run', '--arch', 'scalesim-default', '--topology', join(GOLDEN, 'alexnet_os_32x32/topology.csv'), '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as Summary;
    expect(Object.keys(doc)).toEqual(['layers', 'totals']);
    expect(Object.keys(doc.layers[0])).toEqual(['name', 'cycles', 'stallCycles', 'utilization', 'macs', 'energyPj', 'overflows', 'overflowsPerSample', 'overflowsBy', 'bitsMoved', 'bits', 'dramBytes']);
    expect(Object.keys(doc.totals)).toEqual(['cycles', 'stallCycles', 'macs', 'energyPj', 'overflows', 'overflowsPerSample', 'overflowsBy', 'bitsMoved', 'bits']);
    expect(doc.layers.map((l) => l.name)).toEqual(['Conv1', 'Conv2', 'Conv3', 'Conv4', 'Conv5']);
    expect(doc.layers.map((l) => l.cycles)).toEqual(scaleSimCycles('alexnet_os_32x32'));
    // Conv1: 55·55 output pixels × 11·11·3 window × 96 filters
    expect(doc.layers[0].macs).toEqual(55 * 55 * 11 * 11 * 3 * 96);
    expect(doc.totals.cycles).toEqual(doc.layers.reduce((s, l) => s + l.cycles, 0));
  });

  it('--memory native in CALC mode: SCALE-Sim\'s cycles + 1 (it reports the last cycle\'s index) + the requant latency (3)', async () => {
    // no DRAM time in CALC mode: each layer ends when the last fold's outputs leave the requant
    // unit, its pipeline latency (the default 3 cycles, which a .cfg does not change) after the fold
    for (const dir of ['mobilenet_is_64x32']) {
      const r = await qloom('run', '--scalesim-config', join(GOLDEN, dir, 'config.cfg'), '--memory', 'native', '--topology', join(GOLDEN, dir, 'topology.csv'), '--json');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect((JSON.parse(r.stdout) as Summary).layers.map((l) => l.cycles)).toEqual(scaleSimCycles(dir).map((c) => c + 1 + 3));
    }
  });

  it('--gemm topology with --scalesim-config: GEMM rows M, N, K', async () => {
    const r = await qloom('run', '--scalesim-config', join(GOLDEN, 'gemm_is_16x16/config.cfg'), '--gemm', '--topology', join(GOLDEN, 'gemm_is_16x16/topology.csv'), '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as Summary;
    expect(doc.layers.map((l) => l.cycles)).toEqual(scaleSimCycles('gemm_is_16x16'));
    expect(doc.layers[0].macs).toEqual(128 * 64 * 256);
  });

  it('human output, --out, then qloom energy --table reprices without re-running', async () => {
    const dir = tmp();
    const out = join(dir, 'result.json');
    const r = await qloom('run', '--arch', 'edge-npu', '--topology', join(GOLDEN, 'alexnet_os_32x32/topology.csv'), '--out', out);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/layer\s+cycles\s+compute\s+stall/);
    expect(r.stdout).toMatch(/^Conv5\s/m);
    expect(r.stdout).toMatch(/^total\s/m);
    const before = JSON.parse(readFileSync(out, 'utf8')) as { totals: { energyPj: number; cycles: number } };
    expect(before.totals.cycles).toBeGreaterThan(0);
    const table = join(dir, 'dram-x2.json');
    writeFileSync(table, JSON.stringify({ ...HOROWITZ_45NM, name: 'dram-x2', entries: HOROWITZ_45NM.entries.map((e) => (e.component === 'dram' ? { ...e, energy: '2.6 nJ' } : e)) }));
    const e = await qloom('energy', out, '--table', table, '--json');
    expect(e.stderr).toBe('');
    expect(e.code).toBe(0);
    const doc = JSON.parse(e.stdout) as { table: string; totals: { energyPj: number }; byComponent: Record<string, Record<string, number>> };
    expect(doc.table).toBe('dram-x2');
    // every DRAM action costs twice as much; nothing else changes
    const dram = doc.byComponent.dram.read + doc.byComponent.dram.write;
    expect(dram).toBeGreaterThan(0);
    expect(doc.totals.energyPj).toBeCloseTo(before.totals.energyPj + dram / 2, 3);
  });

  it('a bad arch file: exit 1 and every problem listed', async () => {
    const dir = tmp();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ name: 'bad', array: { rows: 0, cols: 16, dataflow: 'rs' }, memories: { glb: { capacity: '256 KB of love' } } }));
    const r = await qloom('run', '--arch', bad, '--topology', join(GOLDEN, 'alexnet_os_32x32/topology.csv'));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('array.rows');
    expect(r.stderr).toContain('array.dataflow');
    expect(r.stderr).toContain('memories.glb.capacity');
  });

  it('--scalesim-trace writes SCALE-Sim SRAM and DRAM trace CSVs per layer (USER cfg); refused with the native model', async () => {
    const dir = tmp();
    const topo = join(dir, 'tiny.csv');
    writeFileSync(topo, 'Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\nc1, 8, 8, 3, 3, 4, 8, 1,\nc2, 6, 6, 1, 1, 8, 40, 1,\n');
    const out = join(dir, 'trace');
    const cfg = join(GOLDEN, 'test_is_32x32_user10/config.cfg');
    const r = await qloom('run', '--scalesim-config', cfg, '--topology', topo, '--scalesim-trace', out, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const layer of ['layer0', 'layer1']) {
      for (const op of ['IFMAP', 'FILTER', 'OFMAP']) {
        for (const mem of ['SRAM', 'DRAM']) {
          const lines = readFileSync(join(out, layer, `${op}_${mem}_TRACE.csv`), 'utf8').trim().split('\n');
          expect(lines.length).toBeGreaterThan(0);
          // cycle, then the lanes: integers, −1 for an idle lane; DRAM rows are 10 (Bandwidth) lanes
          for (const l of lines) expect(l).toMatch(/^-?\d+(,-?\d+)+$/);
          if (mem === 'DRAM') expect(lines[0].split(',').length).toBe(11);
        }
      }
    }
    const n = await qloom('run', '--scalesim-config', cfg, '--memory', 'native', '--topology', topo, '--scalesim-trace', join(dir, 'no'));
    expect(n.code).toBe(2);
    expect(n.stderr).toContain('--scalesim-trace');
    expect(existsSync(join(dir, 'no'))).toBe(false);
  });

  it('--arch takes a SCALE-Sim .cfg: the same run as --scalesim-config; both at once is a usage error', async () => {
    const cfg = join(GOLDEN, 'gemm_is_16x16/config.cfg');
    const topo = join(GOLDEN, 'gemm_is_16x16/topology.csv');
    const viaArch = await qloom('run', '--arch', cfg, '--gemm', '--topology', topo, '--json');
    expect(viaArch.code, viaArch.stderr).toBe(0);
    const viaCfg = await qloom('run', '--scalesim-config', cfg, '--gemm', '--topology', topo, '--json');
    expect(JSON.parse(viaArch.stdout)).toEqual(JSON.parse(viaCfg.stdout));
    expect((JSON.parse(viaArch.stdout) as Summary).layers.map((l) => l.cycles)).toEqual(scaleSimCycles('gemm_is_16x16'));
    const both = await qloom('run', '--arch', cfg, '--scalesim-config', cfg, '--gemm', '--topology', topo);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--arch or --scalesim-config');
  });

  it('usage errors exit 2', async () => {
    const r = await qloom('run', '--arch', 'edge-npu', '--memory', 'native');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--topology');
  });
});
