/** Runs the CLI as a user does (`node cli/qloom.js …`, what `npx qloom` runs) and never throws. */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

export const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

export interface CliResult {
  readonly code: number | 'timeout';
  readonly stdout: string;
  readonly stderr: string;
}

export async function qloom(...args: string[]): Promise<CliResult> {
  return qloomWithin(0, ...args);
}

/**
 * `qloom(...args)` killed after `ms` milliseconds (0: never), so a hang fails the test instead of
 * outliving it; the killed run's code is 'timeout'.
 */
export async function qloomWithin(ms: number, ...args: string[]): Promise<CliResult> {
  return qloomWith({ timeoutMs: ms }, ...args);
}

export interface CliOptions {
  /** kill it after this many milliseconds (0 or absent: never); its code is then 'timeout' */
  readonly timeoutMs?: number;
  /** working directory (default: the repository root) */
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** options for node itself, before the script (`--import` a probe) */
  readonly nodeArgs?: readonly string[];
}

/** `qloom(...args)` with a working directory, environment, node options and a time limit. */
export async function qloomWith(opts: CliOptions, ...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run('node', [...(opts.nodeArgs ?? []), join(ROOT, 'cli/qloom.js'), ...args], {
      cwd: opts.cwd ?? ROOT,
      env: opts.env ?? process.env,
      maxBuffer: 64 << 20,
      timeout: opts.timeoutMs ?? 0,
      killSignal: 'SIGKILL',
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number | null; killed?: boolean; stdout: string; stderr: string };
    return { code: err.killed ? 'timeout' : (err.code as number), stdout: err.stdout, stderr: err.stderr };
  }
}
