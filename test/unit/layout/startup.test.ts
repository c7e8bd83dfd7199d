/**
 * `qloom --help` and `qloom <command> --help` start at once: what cli/main.ts loads before it knows
 * the command — its static imports, followed through every project file — reaches none of the heavy
 * libraries (tfjs, onnx's protobufs, vega, mathjs, …) and no command module; those are imported only
 * for the command being run. (The times themselves are measured in bench/startup.ts.)
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');

/** static value imports of a module (not `import type`, not `import()`) */
function staticImports(text: string): string[] {
  const out: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\s+(?!type\s)(?:[^'"`;]*?\sfrom\s+)?['"]([^'"]+)['"]/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1]);
  return out;
}

/** project files and bare packages reached from `entry` through static imports */
function closure(entry: string): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of staticImports(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec).replace(/\.js$/, '.ts'));
      else if (!spec.startsWith('node:')) packages.add(spec);
    }
  };
  visit(entry);
  return { files: [...files].map((f) => relative(ROOT, f)).sort(), packages: [...packages].sort() };
}

describe('CLI start-up', () => {
  const main = closure(join(ROOT, 'cli/main.ts'));

  it('the parser sees static imports only', () => {
    expect(staticImports("import { a } from './a.js';\nimport type { B } from './b.js';\nconst c = await import('./c.js');\nexport { d } from './d.js';")).toEqual(['./a.js', './d.js']);
  });

  it('cli/main.ts loads no package and no command module before the command is known', () => {
    // what it does load: the command table, the PTQ flag list for the usage lines, the zoo catalog
    expect(main.files).toEqual(expect.arrayContaining(['cli/commands.ts', 'cli/ptq-flags.ts', 'quant/config.ts', 'nets/zoo/catalog.ts', 'errors/index.ts']));
    expect(main.packages).toEqual([]);
    const commands = ['inspect', 'models', 'eval', 'quantize', 'debug', 'exec', 'run', 'energy', 'scenario', 'report'].map((c) => `cli/${c}.ts`);
    expect(main.files.filter((f) => commands.includes(f))).toEqual([]);
    // the importers, the simulator and the PTQ toolkit stay out
    expect(main.files.filter((f) => /^(sim|traces|scenarios)\/|^nets\/(onnx|tfjs)\/|^quant\/(pipeline|build|onnx)/.test(f))).toEqual([]);
  });

  it('a planted heavy import would be caught', () => {
    const heavy = closure(join(ROOT, 'nets/zoo/index.ts'));
    expect(heavy.packages.length).toBeGreaterThan(0);
  });
});
