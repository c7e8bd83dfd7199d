/** The PTQ toolkit's public surface (quant/README.md). */
export * from './config.js';
export * from './quantizer.js';
export * from './ranges.js';
export * from './calibrate.js';
export * from './build.js';
export * from './pipeline.js';
export type * from '../qnet/network.js';
