import fc from 'fast-check';

// Property tests are seeded: CI uses a fixed seed, a local run may pass QLOOM_SEED to explore.
// fast-check prints the seed and the counterexample path on failure, so any failure replays.
const seed = Number(process.env.QLOOM_SEED ?? 20261123);
fc.configureGlobal({ seed, numRuns: 100 });
