/**
 * Files qloom writes — sweep points, reports, run results, traces, exported models:
 *
 *  - `checkOutputPath(file)` / `checkOutputDir(dir)`: refuse an output that cannot be written
 *    BEFORE the work that produces it (a folder where a file goes, a file where a folder goes, a
 *    folder that refuses new entries — /proc, read-only, no permission), with the path named;
 *  - `ensureDir(dir)`: creates the missing folders one level at a time, bounded by the path's depth
 *    (never `mkdirSync(…, { recursive: true })`, which loops forever on /proc in Node 20);
 *  - `writeFileAtomic` / `writeFilesAtomic`: temp name, then rename — all or none;
 *  - the registry of temp files in flight (`trackTempFile`, `removeTempFiles`, `onTempFiles`), so
 *    the CLI removes them when interrupted, and `removeStaleTempFiles(dir)` for the ones a killed
 *    process left behind.
 * Every failure is a one-line `ResourceError` naming the path (errors/index.ts `systemError`).
 */
import { closeSync, constants, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ResourceError, systemError, type QloomError } from '../errors/index.js';

let tmpCounter = 0;

/** `<file>.<pid>.<n>.tmp`: the pid says whose it is (removeStaleTempFiles), `.tmp` that readers skip it */
function tmpName(file: string): string {
  return `${file}.${process.pid}.${++tmpCounter}.tmp`;
}

const TEMP_NAME = /\.(\d+)(?:\.\d+)?\.tmp$/;

function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // never created, or already renamed
  }
}

function fail(e: unknown, path: string, verb: string): QloomError | unknown {
  return systemError(e, path, verb) ?? e;
}

// ---- the temp files in flight ----------------------------------------------------------------

const inFlight = new Set<string>();
let listener: ((count: number) => void) | undefined;

/**
 * Registers a temp file being written (created by this process, renamed or removed when done);
 * returns its release. `removeTempFiles` removes the ones still registered.
 */
export function trackTempFile(path: string): () => void {
  inFlight.add(path);
  listener?.(inFlight.size);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    inFlight.delete(path);
    listener?.(inFlight.size);
  };
}

/** The temp files in flight now. */
export function tempFilesInFlight(): readonly string[] {
  return [...inFlight];
}

/** Removes every temp file in flight (an interrupt: nothing half-written stays behind); returns them. */
export function removeTempFiles(): readonly string[] {
  const files = [...inFlight];
  inFlight.clear();
  files.forEach(removeQuietly);
  listener?.(0);
  return files;
}

/** The one listener told how many temp files are in flight whenever that changes (the CLI's interrupt handler). */
export function onTempFiles(fn: ((count: number) => void) | undefined): void {
  listener = fn;
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, as another user's process
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temp files (`*.<pid>[.<n>].tmp`) in `dir` whose writer is gone — its process no longer
 * runs — left by a run that was killed; `prefix` limits it to the temp files of one file. Files of
 * a live process (another run writing into the same folder) stay. Returns the removed names.
 */
export function removeStaleTempFiles(dir: string, prefix = ''): readonly string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return []; // no folder yet: nothing stale
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = TEMP_NAME.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    const file = join(dir, name);
    if (inFlight.has(file)) continue;
    removeQuietly(file);
    removed.push(file);
  }
  return removed;
}

// ---- folders ---------------------------------------------------------------------------------

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // missing, or under a file (ENOTDIR): look further up
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw e;
  }
}

/** The nearest existing ancestor of `path` (the path itself when it exists) and the levels missing below it, top first. */
function existingAncestor(path: string, verb: string): { at: string; stats: Stats; missing: string[] } {
  const missing: string[] = [];
  let cur = path;
  for (;;) {
    let st: Stats | null;
    try {
      st = statOrNull(cur);
    } catch (e) {
      throw fail(e, path, verb);
    }
    if (st) return { at: cur, stats: st, missing: missing.reverse() };
    const up = dirname(cur);
    if (up === cur) throw new ResourceError(`${verb} ${path}: no folder of the path exists`);
    missing.push(cur);
    cur = up;
  }
}

/**
 * Creates a file in `dir` and removes it at once: the one check that what the system allows is
 * what qloom will do there (`access()` says yes to root on /proc, which refuses every new entry).
 */
function probe(dir: string, path: string, verb: string): void {
  const file = tmpName(join(dir, `.${basename(path) || 'qloom'}`));
  const release = trackTempFile(file);
  try {
    closeSync(openSync(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY));
    unlinkSync(file);
  } catch (e) {
    removeQuietly(file);
    const why = systemError(e, dir, 'cannot create files in');
    throw why ? new ResourceError(`${verb} ${path}: ${why.message}`) : e;
  } finally {
    release();
  }
}

/**
 * Creates `dir` and its missing parents one level at a time: the walk up stops at the first
 * existing ancestor, which must be a folder; each level is one plain `mkdirSync`, so a file system
 * that refuses (/proc, read-only, no permission) fails with the path named instead of looping.
 */
export function ensureDir(dir: string): void {
  const verb = 'cannot create the folder';
  const { at, stats, missing } = existingAncestor(dir, verb);
  if (!stats.isDirectory()) throw new ResourceError(`${verb} ${dir}: ${at} is a file, not a folder`);
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (e) {
      // made meanwhile by another process: fine when it is a folder
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && statOrNull(d)?.isDirectory()) continue;
      throw fail(e, dir, verb);
    }
  }
}

/**
 * Refuses, before any work, a file that cannot be written: `file` is a folder, a part of its path
 * is a file, or the nearest existing folder refuses new entries. Creates nothing (missing folders
 * are made when the file is written); leaves nothing behind.
 */
export function checkOutputPath(file: string): void {
  const verb = 'cannot write';
  if (file === '') throw new ResourceError(`${verb}: the file name is empty`);
  const { at, stats, missing } = existingAncestor(file, verb);
  if (missing.length === 0) {
    if (stats.isDirectory()) throw new ResourceError(`${verb} ${file}: it is a folder`);
    probe(dirname(file), file, verb);
    return;
  }
  if (!stats.isDirectory()) throw new ResourceError(`${verb} ${file}: ${at} is a file, not a folder`);
  probe(at, file, verb);
}

/** The same for a folder qloom writes files into (created when missing, later). */
export function checkOutputDir(dir: string): void {
  const verb = 'cannot write into';
  if (dir === '') throw new ResourceError(`${verb}: the folder name is empty`);
  const { at, stats, missing } = existingAncestor(dir, verb);
  if (!stats.isDirectory()) throw new ResourceError(missing.length === 0 ? `${verb} ${dir}: it is a file, not a folder` : `${verb} ${dir}: ${at} is a file, not a folder`);
  probe(at, dir, verb);
}

// ---- atomic writes ---------------------------------------------------------------------------

/**
 * Writes under a temp name in the same folder, then renames into place: rename within a folder is
 * atomic on POSIX, so a reader (or a resumed sweep) sees the old file or the whole new one, never a
 * half-written one. Temp names end in `.tmp`, which readers ignore; a failed write removes its own,
 * and an interrupted one is removed by the CLI (the registry above). Missing folders are created.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  writeFilesAtomic([{ path: file, data }]);
}

/** Several files, all or none: every temp file is written before the first rename. */
export function writeFilesAtomic(files: readonly { readonly path: string; readonly data: string | Uint8Array }[]): void {
  const tmps: string[] = [];
  const releases: (() => void)[] = [];
  let current = '';
  try {
    for (const f of files) {
      current = f.path;
      ensureDir(dirname(f.path));
      if (statOrNull(f.path)?.isDirectory()) throw new ResourceError(`cannot write ${f.path}: it is a folder`);
      const tmp = tmpName(f.path);
      tmps.push(tmp);
      releases.push(trackTempFile(tmp));
      writeFileSync(tmp, f.data);
    }
    files.forEach((f, i) => {
      current = f.path;
      renameSync(tmps[i], f.path);
    });
  } catch (e) {
    tmps.forEach(removeQuietly);
    throw fail(e, current, 'cannot write');
  } finally {
    releases.forEach((r) => r());
  }
}

