/**
 * `qloom run` on absurd input, as a user runs it (issue 17 items 2, 3 and 6's 1-byte buffer): the
 * 100000×100000×64 topology row that used to grow to 23.6 GB until the OOM killer ended it now
 * finishes in seconds with bounded memory (SCALE-Sim's closed form, or the native engine's
 * fast-forward), or is refused with one line naming the row and the limit; arches whose rates,
 * latencies, clocks or buffers are physically meaningless are refused, every problem listed, and
 * never report null or astronomic cycles. Peak memory is the child's own `maxRSS`; a watchdog
 * kills it past 2 GiB so a regression cannot take the machine down.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

/** runs cli/main.ts in a child that reports its peak RSS (KiB) on its last stderr line */
const WRAPPER = [
  "import { register } from 'tsx/esm/api';",
  'register();',
  "const { main } = await import(new URL('./cli/main.ts', 'file://' + process.cwd() + '/').href);",
  'const code = await main(process.argv.slice(1));',
  "process.stderr.write('\\n@@maxrss ' + process.resourceUsage().maxRSS + '\\n');",
  'process.exitCode = code;',
].join('\n');

const KILL_MIB = 2048;

interface Measured {
  code: number | null;
  stdout: string;
  stderr: string;
  maxRssMiB: number;
  seconds: number;
  killed: string | null;
}

function qloomMeasured(args: string[], timeoutMs: number): Promise<Measured> {
  return new Promise((done) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', WRAPPER, ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    let killed: string | null = null;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const watch = setInterval(() => {
      if (Date.now() - t0 > timeoutMs) killed = `still running after ${timeoutMs} ms`;
      const status = `/proc/${child.pid}/status`;
      if (!killed && existsSync(status)) {
        const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(status, 'utf8'))?.[1] ?? 0);
        if (kb / 1024 > KILL_MIB) killed = `RSS ${Math.round(kb / 1024)} MiB`;
      }
      if (killed) child.kill('SIGKILL');
    }, 100);
    child.on('close', (code) => {
      clearInterval(watch);
      const m = /\n@@maxrss (\d+)\n$/.exec(stderr);
      done({ code, stdout, stderr: m ? stderr.slice(0, m.index) : stderr, maxRssMiB: m ? Number(m[1]) / 1024 : NaN, seconds: (Date.now() - t0) / 1000, killed });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'qloom-absurd-'));
const HEADER = 'Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n';
const huge = join(dir, 'huge.csv');
writeFileSync(huge, `${HEADER}huge, 100000, 100000, 3, 3, 64, 64, 1,\n`);

interface Summary {
  layers: { name: string; cycles: number; macs: number }[];
  totals: { cycles: number; macs: number };
}

/** a one-line error: `qloom run: …`, no stack trace */
function expectOneLine(stderr: string): void {
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).toMatch(/^qloom run: /);
  expect(stderr).not.toMatch(/\n\s+at /);
}

// output 99998 × 99998 pixels, K = 3·3·64 = 576, N = 64
const MACS = 99998 * 99998 * 576 * 64;

describe('qloom run on the 100000×100000×64 row', () => {
  it('scalesim-default (SCALE-Sim, CALC): finishes in seconds, bounded memory, SCALE-Sim\'s closed-form cycles', async () => {
    const r = await qloomMeasured(['run', '--arch', 'scalesim-default', '--topology', huge, '--json'], 90_000);
    expect(r.killed).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.maxRssMiB).toBeLessThan(1024);
    const doc = JSON.parse(r.stdout) as Summary;
    // 32×32 OS: ⌈9,999,600,004 / 32⌉ = 312,487,501 row folds × 2 column folds of
    // 576 + 32 + 32 − 2 = 638 cycles, minus one (SCALE-Sim reports the last cycle's index)
    expect(doc.totals.cycles).toBe(638 * 312_487_501 * 2 - 1);
    expect(doc.totals.macs).toBe(MACS);
  });

  it('mcu-npu (native engine, 8×8 OS): finishes via fast-forward, bounded memory, at least the compute cycles', async () => {
    const r = await qloomMeasured(['run', '--arch', 'mcu-npu', '--topology', huge, '--json'], 90_000);
    expect(r.killed).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.maxRssMiB).toBeLessThan(1024);
    const doc = JSON.parse(r.stdout) as Summary;
    // folds of 576 + 8 + 8 − 2 = 590 cycles: ⌈9,999,600,004 / 8⌉ = 1,249,950,001 × 8 of them
    expect(Number.isSafeInteger(doc.totals.cycles)).toBe(true);
    expect(doc.totals.cycles).toBeGreaterThanOrEqual(590 * 1_249_950_001 * 8);
    expect(doc.totals.macs).toBe(MACS);
  });

  it('eyeriss-like (108 KiB for 12×14 WS): refused before running, one line naming the row and the limit, exit 1', async () => {
    const r = await qloomMeasured(['run', '--arch', 'eyeriss-like', '--topology', huge], 90_000);
    expect(r.killed).toBeNull();
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expectOneLine(r.stderr);
    expect(r.stderr).toContain(`${huge}:2 (layer huge): `);
    expect(r.stderr).toContain('(2^25)');
    expect(r.maxRssMiB).toBeLessThan(1024);
  });

  it('a GEMM row of 10^9 × 10^9 × 10^9: refused at its row (counts would pass 2^53), exit 1', async () => {
    const g = join(dir, 'giga.csv');
    writeFileSync(g, 'Layer, M, N, K,\ng, 1000000000, 1000000000, 1000000000,\n');
    const r = await qloomMeasured(['run', '--arch', 'edge-npu', '--gemm', '--topology', g], 90_000);
    expect(r.code).toBe(1);
    expectOneLine(r.stderr);
    expect(r.stderr).toContain(`${g}:2: `);
    expect(r.stderr).toContain('2^53');
  });
});

describe('qloom run on meaningless arches', () => {
  it('1e-300 B/s, 1e300 s, 1e308 Hz and a 1-byte buffer: exit 1, every problem with its range, no null cycles', async () => {
    const arch = join(dir, 'absurd.json');
    writeFileSync(arch, JSON.stringify({ name: 'absurd', clock: '1e308 Hz', array: { rows: 16, cols: 16 }, memories: { glb: { capacity: '1 B' }, dram: { bandwidth: '1e-300 B/s', latency: '1e300 s' } } }));
    const small = join(dir, 'small.csv');
    writeFileSync(small, `${HEADER}c1, 16, 16, 3, 3, 8, 8, 1,\n`);
    const r = await qloomMeasured(['run', '--arch', arch, '--topology', small, '--json'], 60_000);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).toContain('4 problems');
    expect(r.stderr).toContain('clock: "1e308 Hz" (= 1e+308 Hz) is out of range: a clock must be 1 kHz … 100 GHz');
    expect(r.stderr).toContain('memories.dram.bandwidth: "1e-300 B/s"');
    expect(r.stderr).toContain('memories.dram.latency: "1e300 s"');
    expect(r.stderr).toContain('memories.glb.capacity: "1 B" (= 1 byte) is too small: a buffer holds at least 16 bytes');
  });
});
