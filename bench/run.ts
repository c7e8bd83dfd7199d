/**
 * `npm run bench [-- name …]`: runs the benchmarks in bench/ one after another (all of them, or
 * those named). Each is a module exporting `main()`; add new ones to BENCHES.
 */
const BENCHES: Record<string, () => Promise<{ main: () => Promise<unknown> }>> = {
  'cle-relu6': () => import('./cle-relu6.js'),
  fp32: () => import('./fp32.js'),
  growth: () => import('./growth.js'),
  kernels: () => import('./kernels.js'),
  ptq: () => import('./ptq.js'),
  qnet: () => import('./qnet.js'),
  search: () => import('./search.js'),
  queue: () => import('./queue.js'),
  'ptq-ladder': () => import('./ptq-ladder.js'),
  'qat-vs-ptq': () => import('./qat-vs-ptq.js'),
  scalesim: () => import('./scalesim.js'),
  sim: () => import('./sim.js'),
  transformers: () => import('./transformers.js'),
  startup: () => import('./startup.js'),
  'textlines-ort': () => import('./textlines-ort.js'),
  'zero-gating': () => import('./zero-gating.js'),
  'on-chip': () => import('./on-chip.js'),
  'mapper-vs-fixed': () => import('./mapper-vs-fixed.js'),
  'mapping-numbers': () => import('./mapping-numbers.js'),
  mapper: () => import('./mapper.js'),
  'diffusion-ptq': () => import('./diffusion-ptq.js'),
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = wanted.filter((n) => !(n in BENCHES));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; available: ${Object.keys(BENCHES).join(', ')}\n`);
  process.exit(2);
}
for (const name of wanted.length > 0 ? wanted : Object.keys(BENCHES)) {
  const t0 = performance.now();
  await (await BENCHES[name]()).main();
  process.stdout.write(`bench ${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}
