/**
 * A Timeloop mapping YAML applied to an existing hierarchy (arch/timeloop.ts applyTimeloopMapping):
 * each reference run's own mapping re-applied gives the spec Timeloop's input does, one run's
 * mapping applied to its sibling's hierarchy evaluates as the sibling's own run, and a mapping that
 * does not fit is refused with every problem named.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../arch/errors.js';
import { applyTimeloopMapping } from '../../../arch/timeloop.js';
import { runTimeloop } from '../../../scenarios/timeloop.js';
import { evaluateTimeloop } from '../../../sim/mapping/timeloop-model.js';

const GOLDEN = join(import.meta.dirname, '..', '..', '..', '..', 'shared', 'golden', 'timeloop');
const runs: string[] = [];
const walk = (d: string): void => {
  for (const e of readdirSync(d)) {
    const p = join(d, e);
    if (statSync(p).isDirectory()) walk(p);
    else if (e === 'parsed-processed-input.yaml') runs.push(d);
  }
};
walk(GOLDEN);
const input = (dir: string) => ({ file: join(dir, 'parsed-processed-input.yaml'), text: readFileSync(join(dir, 'parsed-processed-input.yaml'), 'utf8') });

describe('a Timeloop mapping applied to a hierarchy', () => {
  it('every reference run\'s own mapping, re-applied, is the mapping its input gives', () => {
    expect(runs.length).toBeGreaterThanOrEqual(10);
    for (const dir of runs) {
      const { spec, files } = runTimeloop(dir);
      // a mapper run keeps its mapping in a *.map.yaml beside the input
      const mapping = files.map ? { file: files.map, text: readFileSync(files.map, 'utf8') } : input(dir);
      const again = applyTimeloopMapping(spec, mapping);
      expect(again.storage).toEqual(spec.storage);
    }
  });

  it('ex04\'s output-channel-parallel mapping on the channel-parallel run\'s hierarchy evaluates as its own run', () => {
    const cp = runs.find((d) => d.endsWith(join('ex04_conv1d_oc_ic_3levelspatial', 'ref-output', 'cp')))!;
    const kp = runs.find((d) => d.endsWith(join('ex04_conv1d_oc_ic_3levelspatial', 'ref-output', 'kp')))!;
    const moved = applyTimeloopMapping(runTimeloop(cp).spec, input(kp));
    const own = runTimeloop(kp).result;
    const r = evaluateTimeloop(moved);
    expect([r.cycles, r.energyPj]).toEqual([own.cycles, own.energyPj]);
    expect(r.levels.map((l) => l.dataSpaces)).toEqual(own.levels.map((l) => l.dataSpaces));
  });

  it('refuses, all at once: an unknown level, factors that do not multiply to a bound, a data space no level keeps', () => {
    const dir = runs.find((d) => d.includes('ex01_conv1d_2level'))!;
    const { spec } = runTimeloop(dir);
    const text = `mapping:
  - { target: Nowhere, type: temporal, factors: R=1 P=1 }
  - { target: MainMemory, type: temporal, factors: R=3 P=4, permutation: RP }
  - { target: MainMemory, type: bypass, keep: [], bypass: [Weights] }
  - { target: Buffer, type: bypass, keep: [Inputs, Outputs], bypass: [Weights] }
`;
    let err: unknown;
    try {
      applyTimeloopMapping(spec, { file: 'm.yaml', text });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/m\.yaml/);
    expect(msg).toMatch(/no storage level "Nowhere"/);
    expect(msg).toMatch(/the factors of P multiply to 4, the problem's P is 16/);
    expect(msg).toMatch(/no level keeps Weights/);
  });
});
