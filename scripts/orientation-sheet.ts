/**
 * Writes a contact sheet of orientation test samples (both labels) for a person to look at:
 *   npx tsx scripts/orientation-sheet.ts [out.png] [count]   (default docs/orientation-samples.png, 16)
 */
import { writeFileSync } from 'node:fs';
import { orientationImage, orientationSample, ORIENTATION_CLASSES } from '../nets/data/orientation.js';
import { contactSheet } from '../nets/data/textlines.js';

const out = process.argv[2] ?? 'docs/orientation-samples.png';
const count = Number(process.argv[3] ?? 16);
const samples = Array.from({ length: count }, (_, i) => orientationSample('test', i));
const png = contactSheet(
  samples.map(orientationImage),
  samples.map((s) => `#${s.index} label ${s.label} ('${ORIENTATION_CLASSES[s.label]}')`),
  2,
);
writeFileSync(out, png);
process.stdout.write(`${out}: ${count} samples\n`);
