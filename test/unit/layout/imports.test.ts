/**
 * DESIGN.md's dependency direction, read off the import statements of every source file:
 *   cli → scenarios → {sim, quant, traces} → qnet → {nets, arch} → errors;  arch and nets import no
 *   project folder but errors/ (the error hierarchy, which imports none); sim and quant are siblings
 *   that never import each other, not even types.
 * Also: library folders never print or exit (only cli/ does).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const FOLDERS = ['errors', 'arch', 'nets', 'qnet', 'sim', 'quant', 'traces', 'scenarios', 'cli', 'bench'] as const;
type Folder = (typeof FOLDERS)[number];

const ALLOWED: Record<Folder, readonly Folder[]> = {
  errors: [],
  arch: ['errors'],
  nets: ['errors'],
  qnet: ['nets', 'arch', 'errors'],
  sim: ['qnet', 'nets', 'arch', 'errors'],
  quant: ['qnet', 'nets', 'arch', 'errors'],
  traces: ['qnet', 'nets', 'arch', 'errors'],
  scenarios: ['sim', 'quant', 'traces', 'qnet', 'nets', 'arch', 'errors'],
  cli: ['scenarios', 'sim', 'quant', 'traces', 'qnet', 'nets', 'arch', 'errors'],
  bench: ['scenarios', 'sim', 'quant', 'traces', 'qnet', 'nets', 'arch', 'errors', 'cli'],
};
/** type-only imports allowed against the direction: a trace writer reads the run result's types */
const TYPE_ONLY: Partial<Record<Folder, readonly Folder[]>> = { traces: ['sim'] };

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    if (e === 'node_modules' || e.startsWith('.')) continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.(ts|mts|js|mjs)$/.test(e)) out.push(p);
  }
  return out;
}

interface Import {
  file: string;
  spec: string;
  typeOnly: boolean;
}

export function importsOf(file: string, text: string): Import[] {
  const res: Import[] = [];
  const re = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'"`;]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const spec = m[3] ?? m[4];
    res.push({ file, spec, typeOnly: !!m[2] });
  }
  return res;
}

function folderOf(abs: string): Folder | undefined {
  const top = relative(ROOT, abs).split(/[\\/]/)[0];
  return (FOLDERS as readonly string[]).includes(top) ? (top as Folder) : undefined;
}

/** The imports of `file` (absolute) that go against the direction, one line each. */
function violationsOf(file: string, text: string): string[] {
  const from = folderOf(file)!;
  const out: string[] = [];
  for (const imp of importsOf(file, text)) {
    if (!imp.spec.startsWith('.')) continue;
    const to = folderOf(resolve(dirname(file), imp.spec));
    if (!to || to === from || ALLOWED[from].includes(to)) continue;
    if (imp.typeOnly && TYPE_ONLY[from]?.includes(to)) continue;
    out.push(`${relative(ROOT, file)} (${from}) imports ${imp.spec} (${to})`);
  }
  return out;
}

describe('dependency direction (DESIGN.md)', () => {
  const files = FOLDERS.flatMap((f) => {
    try {
      return sources(join(ROOT, f));
    } catch {
      return [];
    }
  });

  it('finds the source folders', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  it('the parser sees value, type-only and dynamic imports', () => {
    const text = "import { a } from '../sim/x.js';\nimport type { Q } from '../quant/q.js';\nconst m = await import('../cli/main.js');";
    expect(importsOf('f', text)).toEqual([
      { file: 'f', spec: '../sim/x.js', typeOnly: false },
      { file: 'f', spec: '../quant/q.js', typeOnly: true },
      { file: 'f', spec: '../cli/main.js', typeOnly: false },
    ]);
  });

  it('no folder imports against the direction', () => {
    const violations = files.flatMap((file) => violationsOf(file, readFileSync(file, 'utf8')));
    expect(violations).toEqual([]);
  });

  it('a planted import against the direction is caught, type-only included', () => {
    const at = (f: string) => join(ROOT, f);
    expect(violationsOf(at('quant/x.ts'), "import type { Run } from '../sim/result.js';")).toHaveLength(1);
    expect(violationsOf(at('sim/x.ts'), "import { buildQuantizedNetwork } from '../quant/build.js';")).toHaveLength(1);
    expect(violationsOf(at('qnet/x.ts'), "import { runQuantized } from '../sim/qexec.js';")).toHaveLength(1);
    expect(violationsOf(at('nets/x.ts'), "import type { QParams } from '../qnet/network.js';")).toHaveLength(1);
    expect(violationsOf(at('sim/x.ts'), "import type { QParams } from '../qnet/network.js';")).toEqual([]);
    expect(violationsOf(at('errors/x.ts'), "import type { ArchSpec } from '../arch/spec.js';")).toHaveLength(1);
    expect(violationsOf(at('arch/x.ts'), "import { ConfigError } from '../errors/index.js';")).toEqual([]);
  });

  it('library code never prints or exits', () => {
    const offenders = files
      .filter((f) => !['cli', 'bench'].includes(folderOf(f)!) && !/nets\/zoo\/train(-ddpm)?\.ts$/.test(f))
      .filter((f) => /\bconsole\.(log|warn|error|info)\(|process\.exit\(|process\.(stdout|stderr)\.write\(/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(ROOT, f));
    expect(offenders).toEqual([]);
  });
});
