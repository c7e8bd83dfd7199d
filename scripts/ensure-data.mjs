#!/usr/bin/env node
// Installs the Debian data packages qloom reads when they are missing (root + apt-get), or says
// which package to install. Usage: node scripts/ensure-data.mjs [fmnist] [photos] [onnx-testdata] [chromium] [orientation] [textlines]
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const NEEDS = {
  fmnist: { pkg: 'dataset-fashion-mnist', probe: '/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz' },
  photos: { pkg: 'darknet', probe: '/usr/share/darknet/data/dog.jpg' },
  'onnx-testdata': { pkg: 'libonnx-testdata', probe: '/usr/share/libonnx-testdata/data/node/test_qlinearconv/model.onnx' },
  // headless browser the report test opens report.html in (playwright-core drives it)
  chromium: { pkg: 'chromium', probe: '/usr/bin/chromium' },
  // rendered text lines (nets/data/orientation.ts): the word list and one face of each font package
  orientation: [
    { pkg: 'wamerican', probe: '/usr/share/dict/american-english' },
    { pkg: 'fonts-dejavu-core', probe: '/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf' },
    { pkg: 'fonts-liberation2', probe: '/usr/share/fonts/truetype/liberation2/LiberationSerif-Italic.ttf' },
    { pkg: 'fonts-noto-core', probe: '/usr/share/fonts/truetype/noto/NotoSerif-BoldItalic.ttf' },
  ],
};
// the text-recognition lines (nets/data/textlines-set.ts) come from the same renderer, words and fonts
NEEDS.textlines = NEEDS.orientation;

const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(NEEDS);
for (const k of wanted) {
  if (!NEEDS[k]) {
    console.error(`ensure-data: unknown data set '${k}' (known: ${Object.keys(NEEDS).join(', ')})`);
    process.exit(2);
  }
}
// one { pkg, probe } per Debian package a data set needs
const missing = wanted.flatMap((k) => [NEEDS[k]].flat()).filter((n) => !existsSync(n.probe));
if (missing.length === 0) process.exit(0);

const pkgs = [...new Set(missing.map((n) => n.pkg))];
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = existsSync('/usr/bin/apt-get');
if (!isRoot || !hasApt) {
  console.error(`qloom needs the Debian package(s) ${pkgs.join(' ')}; install them with:\n  sudo apt-get update && sudo apt-get install -y ${pkgs.join(' ')}`);
  process.exit(1);
}
console.error(`ensure-data: installing ${pkgs.join(' ')} (apt-get)…`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { stdio: ['ignore', 'ignore', 'inherit'], env });
const still = missing.filter((n) => !existsSync(n.probe));
if (still.length) {
  console.error(`ensure-data: still missing after install: ${still.map((n) => n.probe).join(', ')}`);
  process.exit(1);
}
