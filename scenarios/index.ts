/** scenarios/: declarative experiments, the worker-pool sweep driver and reports. */
export * from './scenario.js';
export * from './ptq.js';
export * from './runners.js';
export * from './sweep.js';
export * from './report.js';
export { pareto, type Objective } from './pareto.js';
export { writeFileAtomic } from './files.js';
