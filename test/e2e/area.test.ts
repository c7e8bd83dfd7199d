/** `qloom area` as a user runs it. */
import { describe, expect, it } from 'vitest';
import { qloom } from '../helpers/cli.js';

describe('qloom area', () => {
  it('--json: totalMm2 is the sum of one entry per component', async () => {
    const r = await qloom('area', 'edge-npu', '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { totalMm2: number; components: { component: string; mm2: number }[] };
    expect(doc.components.map((c) => c.component)).toEqual(['pe-array', 'glb', 'requant', 'sfu']);
    expect(doc.totalMm2).toBeCloseTo(doc.components.reduce((s, c) => s + c.mm2, 0), 12);
  });

  it('prints a table, and an unknown arch exits non-zero with one message', async () => {
    const ok = await qloom('area', 'mcu-npu');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^mcu-npu: \d+\.\d{4} mm² at 45 nm/);
    const bad = await qloom('area', 'edge-npx');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('did you mean "edge-npu"');
    expect(bad.stderr).not.toContain('    at ');
  });
});
