/**
 * Start-up of the `qloom` command as a user gets it: the package packed and installed into a
 * scratch folder (test/helpers/package.ts — a real `npm install` of the tarball), then each command
 * timed as a fresh process, median of 5, interleaved round by round with `node -e 0` (the peer: a
 * bare Node start on the same machine in the same run). Targets (issue 9, idle 2-core machine):
 * `qloom --help` and `qloom <command> --help` under 0.3 s, `qloom inspect fmnist-cnn` under 1.5 s.
 * The checkout's own CLI (TypeScript through tsx) is timed beside them for comparison.
 *
 *   npm run bench -- startup        (or: npx tsx bench/startup.ts)
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packAndInstall } from '../test/helpers/package.js';
import { median, writeBenchResult } from './common.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROUNDS = 5;

interface Case {
  readonly name: string;
  readonly cmd: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** seconds, issue 9's target for the installed command */
  readonly target?: number;
}

function timeOnce(c: Case): number {
  const t0 = performance.now();
  const r = spawnSync(c.cmd, c.args, { cwd: c.cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${c.name} exited ${r.status}: ${r.stderr.toString()}`);
  return s;
}

export async function main(): Promise<unknown> {
  const pkg = await packAndInstall();
  const root = join(here, '..');
  const cases: Case[] = [
    { name: 'node -e 0', cmd: process.execPath, args: ['-e', '0'], cwd: pkg.dir },
    { name: 'qloom --help', cmd: pkg.bin, args: ['--help'], cwd: pkg.dir, target: 0.3 },
    { name: 'qloom run --help', cmd: pkg.bin, args: ['run', '--help'], cwd: pkg.dir, target: 0.3 },
    { name: 'qloom quantize --help', cmd: pkg.bin, args: ['quantize', '--help'], cwd: pkg.dir, target: 0.3 },
    { name: 'qloom inspect fmnist-cnn', cmd: pkg.bin, args: ['inspect', 'fmnist-cnn'], cwd: pkg.dir, target: 1.5 },
    { name: 'checkout: node cli/qloom.js --help (tsx)', cmd: process.execPath, args: [join(root, 'cli', 'qloom.js'), '--help'], cwd: root },
  ];
  const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const load = loadavg()[0];
  for (const c of cases) timeOnce(c); // warm the file cache once
  for (let i = 0; i < ROUNDS; i++) for (const c of cases) times.get(c.name)!.push(timeOnce(c));
  const base = median(times.get('node -e 0')!);
  const rows = cases.map((c) => {
    const m = median(times.get(c.name)!);
    return { command: c.name, medianS: Number(m.toFixed(3)), vsNode: Number((m / base).toFixed(2)), ...(c.target !== undefined ? { targetS: c.target, met: m < c.target } : {}) };
  });
  const result = {
    what: `fresh process per run, median of ${ROUNDS}, rounds interleaved; installed from the packed tarball (compiled JavaScript, no tsx)`,
    rows,
    install: { packS: Number(pkg.packSeconds.toFixed(1)), installS: Number(pkg.installSeconds.toFixed(1)) },
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, loadAvg1mAtStart: Number(load.toFixed(2)) },
  };
  process.stdout.write(`qloom start-up (median of ${ROUNDS}; node -e 0 = ${base.toFixed(3)} s; 1-min load ${load.toFixed(2)}):\n`);
  for (const r of rows) process.stdout.write(`  ${r.command.padEnd(42)} ${r.medianS.toFixed(3)} s  ×${r.vsNode.toFixed(2)}${r.targetS !== undefined ? `  (target < ${r.targetS} s: ${r.met ? 'met' : 'NOT met'})` : ''}\n`);
  writeBenchResult(join(here, 'results', 'startup.json'), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
