/** `qloom timeloop` as a user runs it, on a Timeloop reference run folder. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qloom, ROOT } from '../helpers/cli.js';

const RUN = resolve(ROOT, '../shared/golden/timeloop/ex03_conv1d_oc_3level/ref-output/bypass');

interface Report {
  cycles: number;
  computes: number;
  energyPj: number;
  levels: { name: string; dataSpaces: Record<string, { reads: number; fills: number; updates: number }> }[];
}

describe('qloom timeloop', () => {
  it.skipIf(!existsSync(RUN))('--json on a run folder prints Timeloop\'s counts per level and data space', async () => {
    const r = await qloom('timeloop', RUN, '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as Report;
    expect(doc.cycles).toBe(1536);
    expect(doc.computes).toBe(1536);
    expect(doc.energyPj).toBeCloseTo(60471.873, 3);
    const level = (name: string) => doc.levels.find((l) => l.name === name)!;
    // RegisterFile keeps only Outputs; GlobalBuffer bypasses Outputs and serves every MAC
    expect(Object.keys(level('RegisterFile').dataSpaces)).toEqual(['Outputs']);
    expect(level('GlobalBuffer').dataSpaces.Weights).toEqual(expect.objectContaining({ reads: 1536, fills: 96, updates: 0 }));
    expect(level('MainMemory').dataSpaces.Outputs).toEqual(expect.objectContaining({ reads: 0, fills: 0, updates: 512 }));
  });

  it.skipIf(!existsSync(RUN))('--arith runs the mapping\'s arithmetic: partial sums sent up = Timeloop\'s updates; narrow registers change outputs; its flags need --arith', async () => {
    const wide = JSON.parse((await qloom('timeloop', RUN, '--arith', '--psum-bits', '40', '--acc-bits', '48', '--json')).stdout) as Report & { arithmetic: { updates: number; wrongOutputs: number; outputs: number; macs: number } };
    // the register file keeps Outputs, the global buffer bypasses them: every partial sum goes to main memory
    expect(wide.arithmetic.updates).toBe(wide.levels.find((l) => l.name === 'MainMemory')!.dataSpaces.Outputs.updates);
    expect([wide.arithmetic.wrongOutputs, wide.arithmetic.outputs, wide.arithmetic.macs]).toEqual([0, 512, 1536]);
    const narrow = await qloom('timeloop', RUN, '--arith', '--psum-bits', '12', '--overflow', 'wrap');
    expect(narrow.code).toBe(0);
    expect(narrow.stdout).toMatch(/arithmetic in the mapping's order: [\d,]+ of 512 outputs differ from the exact sums; [\d,]+ partial-sum overflows \(12-bit wrap\)/);
    expect(Number(/: ([\d,]+) of 512 outputs differ/.exec(narrow.stdout)![1].replace(/,/g, ''))).toBeGreaterThan(0);
    const bad = await qloom('timeloop', RUN, '--psum-bits', '12');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--psum-bits/);
  });

  it.skipIf(!existsSync(RUN))('without --json prints a table per level', async () => {
    const r = await qloom('timeloop', resolve(RUN, 'parsed-processed-input.yaml'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/1,536 computes on 1 of 1 MACC, 1,536 cycles/);
    expect(r.stdout).toMatch(/GlobalBuffer\s+Weights\s+1\/1\s+1,536\s+96\s+0/);
  });

  it('a path that is not a Timeloop run exits non-zero with one message, no stack', async () => {
    const missing = await qloom('timeloop', resolve(ROOT, 'no-such-run'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read .*no-such-run: no such file/);
    expect(missing.stderr).not.toContain('    at ');
    const notRun = await qloom('timeloop', resolve(ROOT, 'arch'));
    expect(notRun.code).toBe(1);
    expect(notRun.stderr).toContain('no parsed-processed-input.yaml in this folder');
    expect(notRun.stderr).not.toContain('    at ');
  });

  it('a malformed input lists its problems with their paths', async () => {
    const r = await qloom('timeloop', resolve(ROOT, 'package.json'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/package\.json: \d+ problems:/);
    expect(r.stderr).toContain('problem: is required');
    expect(r.stderr).not.toContain('    at ');
  });
});
