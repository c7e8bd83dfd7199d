/** The error a refused input throws, for tests that check what it says. */
import { expect } from 'vitest';
import { ConfigError } from '../../arch/errors.js';
import { ModelError } from '../../nets/errors.js';

/** the error `fn` throws; the test fails unless `fn` throws and the error is a `cls` */
export function thrown<E>(cls: abstract new (...args: never[]) => E, fn: () => unknown): E {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(cls);
  return err as E;
}

/** the ModelError `fn` throws (the test fails on anything else) */
export const modelErrorOf = (fn: () => unknown): ModelError => thrown(ModelError, fn);

/** the problems of the ConfigError `fn` throws (the test fails on anything else) */
export function problemsOf(fn: () => unknown): { path: string; message: string }[] {
  return [...thrown(ConfigError, fn).problems];
}
