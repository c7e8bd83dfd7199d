#!/usr/bin/env node
// Compiles the library and the CLI to JavaScript in dist/ (what an installed package runs: no tsx at
// start-up), with the files they read at run time beside them: the bundled models and manifest,
// the built-in scenarios, the sweep's worker entry. `npm run build`; also `prepare`, so `npm install`,
// `npm ci` and `npm pack` build it. Built under a temp name, then swapped in: a concurrent build or
// a failed one never leaves a half-built dist/. Fails (exit 1) on any type error. Shipped in the
// package too, where it does nothing (dist/ is prebuilt).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dist = join(root, 'dist');
const tmp = join(root, `dist.${process.pid}.tmp`);

/** source folders compiled (tsconfig.build.json) and searched for run-time assets */
const FOLDERS = ['errors', 'arch', 'nets', 'qnet', 'sim', 'quant', 'traces', 'scenarios', 'cli'];
/** files a module reads or starts at run time, copied beside its compiled JavaScript */
const ASSET = /\.(onnx|json|yaml|mjs)$/;

function assets(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...assets(p));
    else if (ASSET.test(e.name)) out.push(p);
  }
  return out;
}

// a packed package (installed from a tarball) ships dist/ prebuilt and no sources: nothing to do
if (!existsSync(join(root, 'tsconfig.build.json')) && existsSync(join(dist, 'cli', 'main.js'))) {
  process.stderr.write('build: dist/ is prebuilt in a packed package; nothing to compile\n');
  process.exit(0);
}
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
rmSync(tmp, { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', tmp], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  rmSync(tmp, { recursive: true, force: true });
  process.stderr.write(`build: tsc failed (exit ${r.status ?? r.signal}); dist/ left as it was\n`);
  process.exit(1);
}
let copied = 0;
for (const folder of FOLDERS) {
  for (const file of assets(join(root, folder))) {
    cpSync(file, join(tmp, relative(root, file)));
    copied++;
  }
}
const old = join(root, `dist.${process.pid}.old`);
if (existsSync(dist)) renameSync(dist, old);
renameSync(tmp, dist);
rmSync(old, { recursive: true, force: true });
process.stderr.write(`build: dist/ (compiled ${FOLDERS.join(', ')}; ${copied} run-time files copied)\n`);
