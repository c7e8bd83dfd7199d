/**
 * scenarios/files.ts: outputs checked before the work, folders made one level at a time, atomic
 * writes that leave no temp file, the registry of temp files in flight, and stale temp files of
 * dead processes removed — every failure a one-line ResourceError naming the path.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ResourceError } from '../../../errors/index.js';
import {
  checkOutputDir,
  checkOutputPath,
  ensureDir,
  onTempFiles,
  removeStaleTempFiles,
  removeTempFiles,
  tempFilesInFlight,
  trackTempFile,
  writeFileAtomic,
  writeFilesAtomic,
} from '../../../scenarios/files.js';
import { thrown } from '../../helpers/errors.js';

const FILES = resolve(import.meta.dirname, '../../../scenarios/files.ts');
const tmp = () => mkdtempSync(join(tmpdir(), 'qloom-files-'));
/** no process has a pid above Linux's pid_max (2^22) */
const DEAD_PID = 2 ** 22 + 1;
const HAS_PROC = (() => {
  try {
    return readdirSync('/proc/self').length > 0;
  } catch {
    return false;
  }
})();

describe('ensureDir', () => {
  it('creates the missing levels, accepts an existing folder, refuses a file in the path naming it', () => {
    const d = tmp();
    ensureDir(join(d, 'a', 'b', 'c'));
    expect(readdirSync(join(d, 'a', 'b'))).toEqual(['c']);
    ensureDir(join(d, 'a', 'b', 'c'));
    writeFileSync(join(d, 'f'), 'x');
    expect(thrown(ResourceError, () => ensureDir(join(d, 'f', 'g'))).message).toBe(`cannot create the folder ${join(d, 'f', 'g')}: ${join(d, 'f')} is a file, not a folder`);
    expect(thrown(ResourceError, () => ensureDir(join(d, 'f'))).message).toBe(`cannot create the folder ${join(d, 'f')}: ${join(d, 'f')} is a file, not a folder`);
  });

  it.skipIf(!HAS_PROC)('fails on /proc with the path named instead of looping (in a child, killed if it hangs)', () => {
    const code = `import { ensureDir } from ${JSON.stringify(FILES)}; try { ensureDir('/proc/qloom-x/y'); } catch (e) { console.log(e.name + ': ' + e.message); }`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { timeout: 30_000, encoding: 'utf8' });
    expect(r.signal, 'ensureDir hung on /proc').toBeNull();
    expect(r.stdout).toBe('ResourceError: cannot create the folder /proc/qloom-x/y: no such file or folder (ENOENT)\n');
  }, 40_000);
});

describe('checkOutputPath / checkOutputDir', () => {
  it('accept a new file in a missing folder and an existing file, create nothing, leave nothing', () => {
    const d = tmp();
    checkOutputPath(join(d, 'x', 'y', 'r.json'));
    writeFileSync(join(d, 'r.json'), 'old');
    checkOutputPath(join(d, 'r.json'));
    checkOutputDir(join(d, 'out', 'deep'));
    checkOutputDir(d);
    expect(readdirSync(d)).toEqual(['r.json']);
    expect(tempFilesInFlight()).toEqual([]);
  });

  it('refuse a folder where a file goes, a file where a folder goes, a file in the path', () => {
    const d = tmp();
    const f = join(d, 'f');
    writeFileSync(f, 'x');
    expect(thrown(ResourceError, () => checkOutputPath(d)).message).toBe(`cannot write ${d}: it is a folder`);
    expect(thrown(ResourceError, () => checkOutputPath(join(f, 'r.json'))).message).toBe(`cannot write ${join(f, 'r.json')}: ${f} is a file, not a folder`);
    expect(thrown(ResourceError, () => checkOutputDir(f)).message).toBe(`cannot write into ${f}: it is a file, not a folder`);
    expect(thrown(ResourceError, () => checkOutputDir(join(f, 'sub'))).message).toBe(`cannot write into ${join(f, 'sub')}: ${f} is a file, not a folder`);
    expect(readdirSync(d)).toEqual(['f']);
  });

  it.skipIf(!HAS_PROC)('refuse a folder that takes no new entries (/proc) though access() allows it', () => {
    expect(thrown(ResourceError, () => checkOutputPath('/proc/x/r.json')).message).toBe('cannot write /proc/x/r.json: cannot create files in /proc: no such file or folder (ENOENT)');
    expect(thrown(ResourceError, () => checkOutputDir('/proc/x')).message).toBe('cannot write into /proc/x: cannot create files in /proc: no such file or folder (ENOENT)');
  });
});

describe('atomic writes and the temp-file registry', () => {
  it('writeFileAtomic makes the folders, leaves no temp file and nothing registered', () => {
    const d = tmp();
    writeFileAtomic(join(d, 'a', 'b', 'r.json'), '{}');
    expect(readdirSync(join(d, 'a', 'b'))).toEqual(['r.json']);
    expect(tempFilesInFlight()).toEqual([]);
  });

  it('a write onto a folder fails naming the file, all or none, no temp file left', () => {
    const d = tmp();
    mkdirSync(join(d, 'taken'));
    const files = [
      { path: join(d, 'ok.pb'), data: 'a' },
      { path: join(d, 'taken'), data: 'b' },
    ];
    expect(thrown(ResourceError, () => writeFilesAtomic(files)).message).toBe(`cannot write ${join(d, 'taken')}: it is a folder`);
    expect(readdirSync(d)).toEqual(['taken']);
    expect(tempFilesInFlight()).toEqual([]);
  });

  it('the registry: tracked files are reported to the listener, removeTempFiles deletes them', () => {
    const d = tmp();
    const counts: number[] = [];
    onTempFiles((n) => counts.push(n));
    try {
      const a = join(d, 'a.json.1.tmp');
      const b = join(d, 'b.json.1.tmp');
      writeFileSync(a, '{');
      writeFileSync(b, '{');
      const releaseA = trackTempFile(a);
      trackTempFile(b);
      releaseA();
      releaseA();
      expect(tempFilesInFlight()).toEqual([b]);
      expect(removeTempFiles()).toEqual([b]);
      expect(readdirSync(d)).toEqual(['a.json.1.tmp']);
      expect(counts).toEqual([1, 2, 1, 0]);
    } finally {
      onTempFiles(undefined);
    }
  });

  it('removeStaleTempFiles removes the temp files of dead processes only (and only with the prefix)', () => {
    const d = tmp();
    const names = [`p.json.${DEAD_PID}.1.tmp`, `t.json.${DEAD_PID}.tmp`, `p.json.${process.pid}.2.tmp`, 'p.json', 'notes.tmp'];
    for (const n of names) writeFileSync(join(d, n), 'x');
    expect(removeStaleTempFiles(d, 'p.json.')).toEqual([join(d, `p.json.${DEAD_PID}.1.tmp`)]);
    expect(removeStaleTempFiles(d)).toEqual([join(d, `t.json.${DEAD_PID}.tmp`)]);
    expect(readdirSync(d).sort()).toEqual(['notes.tmp', 'p.json', `p.json.${process.pid}.2.tmp`]);
    expect(removeStaleTempFiles(join(d, 'missing'))).toEqual([]);
  });
});
