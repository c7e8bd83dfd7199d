/**
 * The package as a user gets it: `npm pack` in this checkout (its `prepare` compiles dist/), then a
 * real `npm install` of the tarball into a scratch project — its dependencies from the npm cache
 * when they are there (`--prefer-offline`), nothing linked or copied from this checkout.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

/** npm's own settings from an enclosing `npm test` / `npm run` must not steer the nested npm calls */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

export interface InstalledPackage {
  /** the scratch project: package.json, node_modules/qloom, node_modules/.bin/qloom */
  readonly dir: string;
  readonly tarball: string;
  /** `npm pack --json`'s file list (paths inside the package) */
  readonly files: readonly string[];
  readonly packSeconds: number;
  readonly installSeconds: number;
  /** what `npm install` printed on stderr (warnings) */
  readonly installStderr: string;
  /** the installed bin */
  readonly bin: string;
}

export async function packAndInstall(): Promise<InstalledPackage> {
  const dir = mkdtempSync(join(tmpdir(), 'qloom-pkg-'));
  const env = cleanEnv();
  let t0 = performance.now();
  const packed = await run('npm', ['pack', '--pack-destination', dir, '--json'], { cwd: ROOT, env, maxBuffer: 64 << 20 });
  const packSeconds = (performance.now() - t0) / 1000;
  const info = (JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[])[0];
  const tarball = join(dir, info.filename);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'qloom-consumer', private: true, type: 'module' }, null, 2) + '\n');
  t0 = performance.now();
  const installed = await run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'], { cwd: dir, env, maxBuffer: 64 << 20 });
  const installSeconds = (performance.now() - t0) / 1000;
  return {
    dir,
    tarball,
    files: info.files.map((f) => f.path),
    packSeconds,
    installSeconds,
    installStderr: installed.stderr,
    bin: join(dir, 'node_modules', '.bin', 'qloom'),
  };
}
