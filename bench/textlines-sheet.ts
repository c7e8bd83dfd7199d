/**
 * Writes a contact sheet of `textlines` test lines with their text, for a person to look at:
 *   npx tsx bench/textlines-sheet.ts [out.png] [count]   (default docs/textlines-samples.png, 20)
 */
import { writeFileSync } from 'node:fs';
import { contactSheet, FONT_FACES } from '../nets/data/textlines.js';
import { textlineImage, textlineSample } from '../nets/data/textlines-set.js';

const out = process.argv[2] ?? 'docs/textlines-samples.png';
const count = Number(process.argv[3] ?? 20);
const samples = Array.from({ length: count }, (_, i) => textlineSample('test', i));
const png = contactSheet(
  samples.map(textlineImage),
  samples.map((s) => `#${s.index} ${JSON.stringify(s.text)} ${FONT_FACES[s.face].id.replace(/^qloom-/, '')} ${s.fontPx}px${s.blurPx ? ` blur ${s.blurPx.toFixed(1)}` : ''}`),
  2,
);
writeFileSync(out, png);
process.stdout.write(`${out}: ${count} lines\n`);
