/** Crash-safe file writes for sweep points and reports. */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

let tmpCounter = 0;

/**
 * Writes under a temp name in the same folder, then renames into place: rename within a folder is
 * atomic on POSIX, so a reader (or a resumed sweep) sees the old file or the whole new one, never a
 * half-written one. Temp names end in `.tmp`, which readers ignore.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${++tmpCounter}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}
