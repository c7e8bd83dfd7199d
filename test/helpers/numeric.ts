/** Comparing float outputs against a reference. */

/** max |a − b| ÷ max |a|: b's largest error relative to the reference a's range */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    ref = Math.max(ref, Math.abs(a[i]));
  }
  return diff / ref;
}
