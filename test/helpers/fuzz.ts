/**
 * Fuzzing hostile input (issue 17): byte mutations of a real file, and the check every loader must
 * pass — it loads, or refuses with a qloom error of an input kind whose message is one line or a
 * list, never another exception type, never an InvariantError (a bug), within a time budget.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { QloomError } from '../../errors/index.js';

export type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; bits: { at: number; bit: number }[] }
  | { kind: 'overwrite'; at: number; bytes: number[] }
  | { kind: 'splice'; at: number; bytes: number[] };

/** One damage to a file of `len` bytes: cut, flipped bits, overwritten or inserted bytes. */
export function mutation(len: number): fc.Arbitrary<Mutation> {
  const pos = fc.integer({ min: 0, max: Math.max(0, len - 1) });
  return fc.oneof(
    fc.record({ kind: fc.constant('truncate' as const), at: pos }),
    fc.record({ kind: fc.constant('flip' as const), bits: fc.array(fc.record({ at: pos, bit: fc.integer({ min: 0, max: 7 }) }), { minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('overwrite' as const), at: pos, bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 12 }) }),
    fc.record({ kind: fc.constant('splice' as const), at: pos, bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 12 }) }),
  );
}

export function applyMutation(src: Uint8Array, m: Mutation): Uint8Array<ArrayBuffer> {
  switch (m.kind) {
    case 'truncate':
      return src.slice(0, m.at);
    case 'flip': {
      const out = src.slice();
      for (const { at, bit } of m.bits) if (at < out.length) out[at] ^= 1 << bit;
      return out;
    }
    case 'overwrite': {
      const out = src.slice();
      m.bytes.forEach((b, i) => {
        if (m.at + i < out.length) out[m.at + i] = b;
      });
      return out;
    }
    case 'splice': {
      const at = Math.min(m.at, src.length);
      const out = new Uint8Array(src.length + m.bytes.length);
      out.set(src.subarray(0, at), 0);
      out.set(m.bytes, at);
      out.set(src.subarray(at), at + m.bytes.length);
      return out;
    }
  }
}

/** A text damaged as bytes (so also into invalid UTF-8, which a reader decodes as U+FFFD). */
export function mutateText(text: string, ms: readonly Mutation[]): string {
  let bytes: Uint8Array = new Uint8Array(Buffer.from(text, 'utf8'));
  for (const m of ms) bytes = applyMutation(bytes, m);
  return Buffer.from(bytes).toString('utf8');
}

/**
 * A refusal's message is one line, or a first line and then one `  - ` line per problem — never a
 * stack, an excerpt or an empty line.
 */
export function expectCleanMessage(message: string): void {
  const [first, ...rest] = message.split('\n');
  expect(first.trim(), message).not.toBe('');
  for (const line of rest) expect(line, message).toMatch(/^ {2}- \S/);
  expect(message).not.toMatch(/\[object Object\]/);
}

/** What `loadedOrRefused` saw: the value, or the qloom error it was refused with. */
export type Outcome<T> = { value: T; error?: undefined } | { value?: undefined; error: QloomError };

/**
 * Runs `load` on a hostile input: it returns, or throws a QloomError of an input kind (usage,
 * config, model, data) with a clean message; within `budgetMs`. Any other throw fails the case.
 */
export function loadedOrRefused<T>(load: () => T, budgetMs: number): Outcome<T> {
  const t0 = performance.now();
  let out: Outcome<T>;
  try {
    out = { value: load() };
  } catch (e) {
    if (!(e instanceof QloomError)) throw e;
    expect(e.kind, e.message).not.toBe('invariant');
    expectCleanMessage(e.message);
    out = { error: e };
  }
  expect(performance.now() - t0).toBeLessThan(budgetMs);
  return out;
}
