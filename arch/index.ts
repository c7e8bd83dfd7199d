/** arch/: the ArchSpec noun — specs, presets, units, energy tables, SCALE-Sim .cfg reader. */
export { ConfigError, formatProblem, type Problem } from './errors.js';
export {
  BASE_UNIT,
  formatBytes,
  parseEnergy,
  parseFrequency,
  parseQuantity,
  parseRate,
  parseSize,
  parseTime,
  readQuantity,
  type Parsed,
  type QuantityKind,
} from './units.js';
export * from './spec.js';
export { PRESETS } from './presets.js';
export * from './energy.js';
export { parseScaleSimCfg, readScaleSimCfg, type ScaleSimCfg } from './scalesim-cfg.js';
