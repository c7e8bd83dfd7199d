#!/usr/bin/env node
// The bin entry. An installed package runs the compiled JavaScript in dist/ (built by `prepare`);
// a source checkout — where main.ts sits beside this file — runs the TypeScript as it is, through
// tsx, so an edit needs no build step (and can never meet a stale dist/).
import { existsSync } from 'node:fs';

const sources = new URL('./main.ts', import.meta.url);
let main;
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(sources.href));
} else {
  ({ main } = await import(new URL('../dist/cli/main.js', import.meta.url).href));
}
process.exitCode = await main(process.argv.slice(2));
