/** Crash-safe file writes for sweep points, reports, run results and exported models. */
import { mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

let tmpCounter = 0;

function tmpName(file: string): string {
  return `${file}.${process.pid}.${++tmpCounter}.tmp`;
}

function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // never created, or already renamed
  }
}

/**
 * Writes under a temp name in the same folder, then renames into place: rename within a folder is
 * atomic on POSIX, so a reader (or a resumed sweep) sees the old file or the whole new one, never a
 * half-written one. Temp names end in `.tmp`, which readers ignore; a failed write removes its own.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  writeFilesAtomic([{ path: file, data }]);
}

/** Several files, all or none: every temp file is written before the first rename. */
export function writeFilesAtomic(files: readonly { readonly path: string; readonly data: string | Uint8Array }[]): void {
  const tmps: string[] = [];
  try {
    for (const f of files) {
      mkdirSync(dirname(f.path), { recursive: true });
      const tmp = tmpName(f.path);
      tmps.push(tmp);
      writeFileSync(tmp, f.data);
    }
    files.forEach((f, i) => renameSync(tmps[i], f.path));
  } catch (e) {
    tmps.forEach(removeQuietly);
    throw e;
  }
}
