/**
 * `ConfigError` for arch/'s modules: a specification (ArchSpec, energy table, SCALE-Sim .cfg) that
 * cannot be used, listing EVERY `{path, message}` problem at once. Defined with the rest of the
 * error hierarchy in errors/index.ts.
 */
export { ConfigError, formatProblem, type Problem } from '../errors/index.js';
