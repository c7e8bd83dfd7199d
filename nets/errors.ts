/**
 * Error kinds for nets/'s modules (see DESIGN.md "Errors"), defined with the rest of the error
 * hierarchy in errors/index.ts. Expected outcomes (an overflow, a stall) are data, never exceptions.
 */
export { DatasetError, InvariantError, invariant, ModelError, UsageError, type ModelProblem } from '../errors/index.js';
