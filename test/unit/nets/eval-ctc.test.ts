/**
 * CTC scoring (nets/eval-ctc.ts): the dictionary's classes, greedy decoding, Levenshtein distance
 * and the line / character accuracies, against hand-worked cases.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelError } from '../../../nets/errors.js';
import { codePoints, ctcDecodeBatch, ctcGreedyDecode, editDistance, evaluateCtcWith, loadCtcCharset, scoreCtcOutputs, scoreTexts, spellable, trimSpaces } from '../../../nets/eval-ctc.js';

const dir = mkdtempSync(join(tmpdir(), 'qloom-ctc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** a dictionary file with these lines (PaddleOCR's format: one character a line) */
function dict(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

const ed = (a: string, b: string): number => editDistance(codePoints(a), codePoints(b));

describe('editDistance (Levenshtein, unit costs)', () => {
  it('hand cases: kitten→sitting 3, flaw→lawn 2, empty strings, identical strings', () => {
    expect(ed('kitten', 'sitting')).toBe(3); // k→s, e→i, +g
    expect(ed('flaw', 'lawn')).toBe(2); // −f, +n
    expect(ed('', 'abc')).toBe(3);
    expect(ed('abc', '')).toBe(3);
    expect(ed('', '')).toBe(0);
    expect(ed('same', 'same')).toBe(0);
    expect(ed('ab', 'ba')).toBe(2); // no transposition move
    expect(ed('intention', 'execution')).toBe(5);
  });

  it('is symmetric and counts an astral character as one', () => {
    expect(ed('Saturday', 'Sunday')).toBe(3);
    expect(ed('Sunday', 'Saturday')).toBe(3);
    expect(codePoints('a𣇉b').length).toBe(3);
    expect(ed('a𣇉b', 'ab')).toBe(1);
  });

  it('handles a string longer than its row buffers', () => {
    const a = 'x'.repeat(300);
    expect(ed(a, a + 'y')).toBe(1);
    expect(ed(a, 'y' + a.slice(1))).toBe(1);
  });
});

describe('loadCtcCharset', () => {
  it("PP-OCR's dictionary: blank + 6,623 lines + space = 6,625 classes, the recognizer's output width", () => {
    const cs = loadCtcCharset();
    expect(cs.chars.length).toBe(6625);
    expect(cs.chars[0]).toBe('');
    expect(cs.chars[6624]).toBe(' ');
    expect(cs.chars[1]).toBe("'"); // the file's first line
    expect(cs.classOf.get(' '.codePointAt(0)!)).toBe(6624);
    expect(spellable(cs, "café, 12.5% [v2.1] #3 & you're")).toBe(true);
    expect(spellable(cs, 'Ångström')).toBe(false); // Å and ö are not classes
  });

  it('without use_space_char there is no space class; CRLF line ends are stripped', () => {
    const cs = loadCtcCharset(dict('crlf.txt', 'a\r\nb\r\nc\r\n'), false);
    expect(cs.chars).toEqual(['', 'a', 'b', 'c']);
  });

  it('a line that is not one character or a repeated character is a ModelError naming every line', () => {
    const f = dict('bad.txt', 'a\nbc\na\n\nd');
    expect(() => loadCtcCharset(f)).toThrow(ModelError);
    expect(() => loadCtcCharset(f)).toThrow(/line 2: "bc" is not one character[\s\S]*line 3: "a" is listed before, on line 1[\s\S]*line 4: "" is not one character/);
  });
});

describe('ctcGreedyDecode', () => {
  // classes: 0 blank, 1 'a', 2 'b', 3 ' '
  const cs = loadCtcCharset(dict('ab.txt', 'a\nb\n'));
  /** one-hot rows of the given class indices (the argmax is what counts) */
  const rows = (...ks: number[]): Float32Array => {
    const out = new Float32Array(ks.length * 4);
    ks.forEach((k, t) => {
      out.fill(0.1, t * 4, t * 4 + 4);
      out[t * 4 + k] = 0.7;
    });
    return out;
  };

  it('collapses repeats, drops blanks, keeps a repeat separated by a blank', () => {
    expect(ctcGreedyDecode(rows(1, 1, 0, 1, 2, 2, 0, 0), 0, 8, 4, cs)).toBe('aab');
    expect(ctcGreedyDecode(rows(0, 0, 0), 0, 3, 4, cs)).toBe('');
    expect(ctcGreedyDecode(rows(2, 3, 3, 1, 0, 3), 0, 6, 4, cs)).toBe('b a ');
  });

  it('takes the first class on a tie (numpy argmax) and reads from an offset', () => {
    const tie = new Float32Array([0, 0.5, 0.5, 0, /* second sequence */ 0.4, 0.4, 0.2, 0]);
    expect(ctcGreedyDecode(tie, 0, 1, 4, cs)).toBe('a');
    expect(ctcGreedyDecode(tie, 4, 1, 4, cs)).toBe('');
  });

  it('decodes an [N, T, C] block; a class count other than the dictionary’s is a ModelError', () => {
    const block = { shape: [2, 3, 4], data: new Float32Array([...rows(1, 0, 2), ...rows(2, 2, 3)]) };
    expect(ctcDecodeBatch(block, cs)).toEqual(['ab', 'b ']);
    expect(() => ctcGreedyDecode(new Float32Array(5), 0, 1, 5, cs)).toThrow(/5 output classes, its dictionary .* gives 4/);
    expect(() => ctcDecodeBatch({ shape: [2, 12], data: new Float32Array(24) }, cs)).toThrow(ModelError);
  });
});

describe('scoreTexts', () => {
  it('hand case: 3 lines, 1 exact; 1 − CER and the per-line normalized distance', () => {
    // 'hello' → 'hallo': 1 edit of 5; 'ab' → 'abc': 1 edit, max length 3; 'xyz' exact
    const s = scoreTexts(['hallo', 'abc', 'xyz'], ['hello', 'ab', 'xyz']);
    expect(s.lines).toBe(3);
    expect(s.exact).toBe(1);
    expect(s.lineAccuracy).toBeCloseTo(1 / 3, 12);
    expect(s.edits).toBe(2);
    expect(s.chars).toBe(10);
    expect(s.charAccuracy).toBeCloseTo(1 - 2 / 10, 12);
    expect(s.normEditAccuracy).toBeCloseTo(1 - (1 / 5 + 1 / 3 + 0) / 3, 12);
  });

  it('spaces at the ends of a prediction are dropped, inner ones count', () => {
    expect(trimSpaces('  a b ')).toBe('a b');
    const s = scoreTexts([' two words ', 'twowords'], ['two words', 'two words']);
    expect(s.exact).toBe(1);
    expect(s.edits).toBe(1);
  });

  it('insertions can take charAccuracy below 0; mismatched lengths are refused', () => {
    expect(scoreTexts(['abcdef'], ['a']).charAccuracy).toBe(-4);
    expect(() => scoreTexts(['a'], ['a', 'b'])).toThrow(RangeError);
  });
});

describe('evaluateCtcWith', () => {
  it('decodes every batch from a runner, in order, and scores it', () => {
    const cs = loadCtcCharset(dict('ab2.txt', 'a\nb\n'));
    // line i reads 'a' when i is even, 'b' when odd: one step per line, 4 classes
    const runner = (start: number, n: number) => {
      const data = new Float32Array(n * 4);
      for (let i = 0; i < n; i++) data[i * 4 + ((start + i) % 2 === 0 ? 1 : 2)] = 1;
      return { shape: [n, 1, 4], data };
    };
    const set = { images: new Float32Array(5), count: 5, shape: [1, 1, 1] as const, texts: ['a', 'b', 'a', 'a', 'b'] };
    const done: number[] = [];
    const r = evaluateCtcWith(set, runner, { batch: 2, charset: cs, onProgress: (d) => done.push(d) });
    expect(r.predictions).toEqual(['a', 'b', 'a', 'b', 'a']);
    expect(r.exact).toBe(3);
    expect(done).toEqual([2, 4, 5]);
  });
});

describe('scoreCtcOutputs', () => {
  it('reads lines back to back with T from the length; a length that is no whole [T, classes] is a ModelError', () => {
    const cs = loadCtcCharset(dict('ab3.txt', 'a\nb\n'));
    // 2 lines × 2 steps × 4 classes: 'ab' and 'a'
    const out = new Float32Array([0, 1, 0, 0, 0, 0, 1, 0, /* line 2 */ 0, 1, 0, 0, 1, 0, 0, 0]);
    const s = scoreCtcOutputs(out, 2, ['ab', 'b'], cs);
    expect(s.exact).toBe(1);
    expect(s.edits).toBe(1);
    expect(() => scoreCtcOutputs(new Float32Array(10), 2, ['a', 'b'], cs)).toThrow(/5 values a line, not \[T, 4\]/);
  });
});
