/**
 * qloom's library surface — `import { … } from 'qloom'` (package.json "exports"). The same calls
 * the `qloom` command line makes; every error is a `QloomError` with a `kind` (errors/index.ts).
 *
 * ```ts
 * import { loadModel, quantize, simulateTopology, simulateModel, runScenario } from 'qloom';
 * const result = simulateTopology({ arch: 'scalesim-default', topology: 'layers.csv' });
 * result.totals.cycles;                       // = `qloom run --arch scalesim-default --topology layers.csv --json`
 * ```
 */

// models: the zoo, inspection, FP32 and quantized evaluation
export { listModels, loadModel, type EvalDataset, type LoadedModel, type ZooEntry } from '../nets/zoo/index.js';
export type { Graph } from '../nets/graph.js';
export {
  EVAL_DATASETS,
  evaluateModel,
  evaluateQuantizedModel,
  inspectModel,
  modelDataset,
  type EvaluationOptions,
  type ModelEvaluation,
  type ModelInspection,
  type QuantizedEvaluation,
  type QuantizedEvaluationOptions,
} from './models.js';

// post-training quantization
export { PRESET_NAMES as PTQ_PRESET_NAMES, resolvePtqConfig, type PtqConfig, type PtqFlags } from '../quant/config.js';
export type { PtqResult } from '../quant/pipeline.js';
export type { QuantizedNetwork } from '../qnet/network.js';
export { CALIB_DATASETS, debugModel, ptqSummary, ptqTimings, quantize, writeQuantizedOnnx, type DebugModelOptions, type QuantizeOptions } from './quantize.js';
// quantization-aware training (quant/qat): STE + LSQ from the PTQ starting point
export { QAT_PRESETS, resolveQatPreset, type QatHyper, type QatPreset } from '../quant/qat/presets.js';
export { qatCacheDir, qatModel, QAT_DATASETS, type QatOptions, type QatResult } from './qat.js';
export type { DebugReport } from './debug.js';
export type { EvalDatasetName } from './datasets.js';

// simulation on an accelerator
export { PRESET_NAMES as ARCH_PRESET_NAMES, type ArchSpec, type ArchSpecInput, type MemoryModel } from '../arch/spec.js';
export { archArea, type AreaComponent, type AreaReport } from '../arch/area.js';
export { loadArch, repriceRunResult, saveRunResult, simulateTopology, type TopologyRunOptions } from './simulate.js';
export { simulateModel, type ModelRun, type ModelRunOptions } from './simulate-model.js';
export { mixedPrecision, writeMixedResult, type MixedOptions, type MixedPoint, type MixedResult } from './mixed.js';
export { runSummary, type RunResult } from '../sim/result.js';
export { mappedArithmetic, type ArithmeticOptions, type MappedArithmetic, runTimeloop, searchTimeloop, timeloopReport, timeloopSearchReport, TIMELOOP_INPUT, type TimeloopSearch, type MapperObjective, type MapperOptions, type MapperResult, type MappingEntry, type TimeloopConstraints, type TimeloopRun, type TimeloopResult, type TimeloopLevelStats, type TimeloopDataSpaceStats, type TimeloopSpec } from './timeloop.js';

// integer execution of quantized ONNX models
export { execQuantized, openQuantizedOnnx, outputFileName, type ExecOptions, type ExecSummary, type OpenedModel } from './exec.js';
export { QuantizedBatchRunner, runQuantizedBatches, type BatchRunOptions, type BatchRunResult } from './qexec-pool.js';

// scenarios: sweeps, their points and reports
export { reportFromResults, runScenario, type ScenarioRun, type ScenarioRunOptions } from './run-scenario.js';
export { builtinScenarios, loadScenario, METRICS, validateScenario, type JsonValue, type PointConfig, type Scenario } from './scenario.js';
export { codeVersion, configHash, expandPoints } from './points.js';
export { runSweep, startSweep, type SweepOptions, type SweepOutcome, type SweepProgress } from './sweep.js';
export { registerPointRunner, runnerKinds, type PointMetrics } from './runners.js';
export { pointsTable, readResults, writeReport, type ResultsDoc, type WrittenReport } from './report.js';

// errors
export * from '../errors/index.js';
