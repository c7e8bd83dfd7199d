/**
 * Outputs that cannot be written, as a user meets them: a folder where a file goes, a file where a
 * folder goes, a folder under /proc (which refuses new entries — and made Node 20's recursive mkdir
 * loop forever) or /sys. Each is one line naming the path, exit 1, refused before the work that
 * would produce it, never a stack trace or a hang; a missing folder is created. A --samples above
 * the data set's size is a usage error (exit 2) before any PTQ run.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qloomWithin, type CliResult } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'qloom-out-'));
const topology = join(dir, 'small.csv');
writeFileSync(topology, 'Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\nc1, 8, 8, 3, 3, 4, 8, 1,\n');
const HAS_PROC = existsSync('/proc/self');

/** a hang is killed after this long and fails the test */
const LIMIT = 30_000;

/** exit `code` and exactly one line on stderr, `qloom <command>: …`, matching `message` */
function refused(r: CliResult, code: number, message: RegExp): void {
  expect(r.code).toBe(code);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^qloom [a-z]+: /);
  expect(lines[0]).toMatch(message);
}

/** the files under `d`, recursively, relative */
function tree(d: string): string[] {
  return readdirSync(d, { recursive: true, encoding: 'utf8' }).sort();
}

describe('outputs that cannot be written', () => {
  it('run --out: a folder, a file in the path, /proc and /sys are refused in one line; a missing folder is created', async () => {
    refused(await qloomWithin(LIMIT, 'run', '--arch', 'edge-npu', '--topology', topology, '--out', dir), 1, /cannot write .*: it is a folder$/);
    refused(await qloomWithin(LIMIT, 'run', '--arch', 'edge-npu', '--topology', topology, '--out', join(topology, 'r.json')), 1, /small\.csv is a file, not a folder$/);
    if (HAS_PROC) {
      refused(await qloomWithin(LIMIT, 'run', '--arch', 'edge-npu', '--topology', topology, '--out', '/proc/x/y/r.json'), 1, /cannot write \/proc\/x\/y\/r\.json: cannot create files in \/proc: .*\(ENOENT\)$/);
      refused(await qloomWithin(LIMIT, 'run', '--arch', 'edge-npu', '--topology', topology, '--out', '/sys/qloom-r.json'), 1, /cannot write \/sys\/qloom-r\.json: cannot create files in \/sys: .*\(E[A-Z]+\)$/);
    }
    const nested = join(dir, 'a', 'b', 'r.json');
    const ok = await qloomWithin(LIMIT, 'run', '--arch', 'edge-npu', '--topology', topology, '--out', nested, '--json');
    expect(ok.code).toBe(0);
    expect(existsSync(nested)).toBe(true);
    // nothing else left behind: no probe, no temp file
    expect(tree(join(dir, 'a'))).toEqual(['b', join('b', 'r.json')]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 4 * LIMIT);

  it('run --scalesim-trace: a file, or a folder under /proc, refused before the run; nothing written', async () => {
    const args = ['run', '--arch', 'scalesim-default', '--topology', topology, '--scalesim-trace'];
    refused(await qloomWithin(LIMIT, ...args, topology), 1, /cannot write into .*small\.csv: it is a file, not a folder$/);
    if (HAS_PROC) refused(await qloomWithin(LIMIT, ...args, '/proc/x/y'), 1, /cannot write into \/proc\/x\/y: cannot create files in \/proc/);
    const traces = join(dir, 'traces', 'deep');
    expect((await qloomWithin(LIMIT, ...args, traces)).code).toBe(0);
    expect(tree(traces)).toContain(join('layer0', 'IFMAP_SRAM_TRACE.csv'));
  }, 3 * LIMIT);

  it('quantize --out under /proc is refused before the PTQ run (no stage progress), nothing written', async () => {
    if (!HAS_PROC) return;
    const r = await qloomWithin(LIMIT, 'quantize', 'mnist-mlp', '--preset', 'w8a8-pt', '--calib', 'mnist', '--out', '/proc/x/m.onnx');
    // a PTQ run would have printed its stages on stderr first
    refused(r, 1, /^qloom quantize: cannot write \/proc\/x\/m\.onnx: cannot create files in \/proc/);
  }, LIMIT);

  it('scenario --out naming a file, report --out under /proc: one line, exit 1', async () => {
    const file = join(dir, 'tiny.yaml');
    writeFileSync(file, 'name: tiny\nseed: 1\nrunner: synthetic\nnetworks: [fmnist-cnn]\narchs: [edge-npu]\nmetrics: [latencyS]\n');
    refused(await qloomWithin(LIMIT, 'scenario', file, '--out', topology, '--workers', '0'), 1, /cannot write into .*small\.csv: it is a file, not a folder$/);
    const out = join(dir, 'scen');
    expect((await qloomWithin(LIMIT, 'scenario', file, '--out', out, '--workers', '0')).code).toBe(0);
    if (HAS_PROC) refused(await qloomWithin(LIMIT, 'report', join(out, 'results.json'), '--out', '/proc/x/r'), 1, /cannot write into \/proc\/x\/r: cannot create files in \/proc/);
  }, 3 * LIMIT);

  it('a scenario sweep removes the temp files of a killed run from points/, not those of a live one', async () => {
    const file = join(dir, 'tiny2.yaml');
    writeFileSync(file, 'name: tiny2\nseed: 1\nrunner: synthetic\nnetworks: [fmnist-cnn]\narchs: [edge-npu]\nmetrics: [latencyS]\n');
    const points = join(dir, 'scen2', 'points');
    mkdirSync(points, { recursive: true });
    // pid 2^22 + 1 is above Linux's pid_max: no process has it
    const dead = `${'ab'.repeat(32)}.json.${2 ** 22 + 1}.3.tmp`;
    const live = `${'cd'.repeat(32)}.json.${process.pid}.1.tmp`;
    writeFileSync(join(points, dead), '{"half":');
    writeFileSync(join(points, live), '{"half":');
    expect((await qloomWithin(LIMIT, 'scenario', file, '--out', join(dir, 'scen2'), '--workers', '0')).code).toBe(0);
    const left = readdirSync(points);
    expect(left).not.toContain(dead);
    expect(left).toContain(live);
  }, LIMIT);
});

describe('--samples above the data set size', () => {
  it('eval: exit 2, the size named, no stack trace', async () => {
    refused(await qloomWithin(LIMIT, 'eval', 'mnist-mlp', '--samples', '99999999'), 2, /^qloom eval: mnist\/test has \d+ images: samples must be an integer in 1…\d+, got 99999999$/);
  }, LIMIT);

  it('eval --quant: refused before the PTQ run (no stage progress on stderr)', async () => {
    refused(await qloomWithin(LIMIT, 'eval', 'mnist-mlp', '--quant', 'w8a8-pt', '--data', 'mnist', '--samples', '99999999'), 2, /^qloom eval: mnist\/test has \d+ images/);
  }, LIMIT);
});
