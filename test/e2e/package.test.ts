/**
 * The package as another project uses it: `npm pack`, a real `npm install` of the tarball into a
 * scratch folder, then the README's library example verbatim (`import { simulateTopology } from
 * 'qloom'` on its tiny SCALE-Sim topology) — the same cycles as `qloom run --json` from this checkout
 * and from the installed command, which runs compiled JavaScript (no tsx is installed), including a
 * scenario sweep on worker threads.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { qloom, ROOT } from '../helpers/cli.js';
import { packAndInstall, type InstalledPackage } from '../helpers/package.js';

const exec = promisify(execFile);

/** The fenced block of `lang` in the README's "## Library" section. */
function readmeBlock(lang: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Library\n'));
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(section.slice(0, section.indexOf('\n## ', 1)));
  if (!m) throw new Error(`README.md "## Library" has no \`\`\`${lang} block`);
  return m[1];
}

interface Summary {
  layers: { name: string; cycles: number }[];
  totals: { cycles: number };
}

describe('the packed package', () => {
  let pkg: InstalledPackage;
  beforeAll(async () => {
    pkg = await packAndInstall();
    process.stdout.write(`npm pack ${pkg.packSeconds.toFixed(1)} s, npm install of the tarball ${pkg.installSeconds.toFixed(1)} s\n`);
    writeFileSync(join(pkg.dir, 'layers.csv'), readmeBlock('csv'));
    writeFileSync(join(pkg.dir, 'example.mjs'), readmeBlock('js'));
  }, 240_000);

  it('holds the compiled library, its run-time files and the bin, not the TypeScript sources', () => {
    for (const f of ['cli/qloom.js', 'dist/scenarios/index.js', 'dist/scenarios/index.d.ts', 'dist/cli/main.js', 'dist/scenarios/worker.mjs', 'dist/nets/zoo/manifest.json', 'dist/scenarios/builtin/pc-vs-pt.yaml']) {
      expect(pkg.files).toContain(f);
    }
    expect(pkg.files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    // installed without the development tools: what runs is the compiled JavaScript
    expect(existsSync(join(pkg.dir, 'node_modules', 'qloom', 'package.json'))).toBe(true);
    expect(existsSync(join(pkg.dir, 'node_modules', 'tsx'))).toBe(false);
    expect(existsSync(join(pkg.dir, 'node_modules', 'onnxruntime-node'))).toBe(false);
    expect(pkg.installStderr).not.toMatch(/EBADENGINE|Unknown (project|user) config|deprecated/);
    // pack + install took 35–45 s on a busy 2-core machine with a warm npm cache
    expect(pkg.packSeconds + pkg.installSeconds).toBeLessThan(150);
  });

  it("the README's example imports the API and times the topology: the cycles of `qloom run --json`, checkout and installed", async () => {
    const { stdout } = await exec('node', ['example.mjs'], { cwd: pkg.dir });
    const api = JSON.parse(stdout) as { cycles: number; layers: number[] };
    const topology = join(pkg.dir, 'layers.csv');
    const checkout = await qloom('run', '--arch', 'scalesim-default', '--topology', topology, '--json');
    expect(checkout.code, checkout.stderr).toBe(0);
    const fromCheckout = JSON.parse(checkout.stdout) as Summary;
    const installed = await exec(pkg.bin, ['run', '--arch', 'scalesim-default', '--topology', 'layers.csv', '--json'], { cwd: pkg.dir });
    const fromInstalled = JSON.parse(installed.stdout) as Summary;
    expect(fromCheckout.layers.map((l) => l.name)).toEqual(['conv1', 'conv2']);
    expect(api.layers).toEqual(fromCheckout.layers.map((l) => l.cycles));
    expect(api.cycles).toBe(fromCheckout.totals.cycles);
    expect(fromInstalled).toEqual(fromCheckout);
    expect(api.cycles).toBeGreaterThan(0);
  }, 120_000);

  it('exports the documented names; errors come with their kind', async () => {
    const script = `
import * as q from 'qloom';
const names = ['listModels', 'loadModel', 'inspectModel', 'evaluateModel', 'quantize', 'writeQuantizedOnnx', 'loadArch', 'simulateTopology', 'simulateModel', 'runSummary', 'execQuantized', 'runScenario', 'loadScenario'];
const missing = names.filter((n) => typeof q[n] !== 'function');
let kind = null;
try { q.simulateTopology({ arch: 'no-such-arch', topology: 'layers.csv' }); } catch (e) { kind = e instanceof q.QloomError ? e.kind : String(e); }
console.log(JSON.stringify({ missing, kind, archPresets: q.ARCH_PRESET_NAMES.includes('scalesim-default'), models: q.listModels().map((m) => m.name) }));
`;
    writeFileSync(join(pkg.dir, 'names.mjs'), script);
    const { stdout } = await exec('node', ['names.mjs'], { cwd: pkg.dir });
    const r = JSON.parse(stdout) as { missing: string[]; kind: string; archPresets: boolean; models: string[] };
    expect(r.missing).toEqual([]);
    expect(r.kind).toBe('config');
    expect(r.archPresets).toBe(true);
    expect(r.models).toContain('fmnist-cnn');
  }, 60_000);

  it('the installed command: --help, and a scenario sweep on two worker threads (compiled runner, no tsx)', async () => {
    const help = await exec(pkg.bin, ['--help'], { cwd: pkg.dir });
    expect(help.stdout).toContain('usage: qloom <command>');
    writeFileSync(
      join(pkg.dir, 'tiny.yaml'),
      'name: tiny\nseed: 1\nrunner: synthetic\nnetworks: [fmnist-cnn]\narchs: [edge-npu, mcu-npu]\naxes: { accumulator.bits: [16, 32] }\nmetrics: [cycles, energyPj]\n',
    );
    const r = await exec(pkg.bin, ['scenario', 'tiny.yaml', '--workers', '2', '--out', 'out'], { cwd: pkg.dir });
    expect(r.stdout).toContain('4 points (4 run, 0 from out/points), seed 1, runner synthetic');
    expect(existsSync(join(pkg.dir, 'out', 'report.html'))).toBe(true);
  }, 120_000);
});
