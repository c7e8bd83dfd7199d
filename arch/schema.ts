/**
 * The ArchSpec schema (DESIGN.md): the accelerator a run simulates — PE array and dataflow, operand
 * and accumulator widths, overflow policy, PE register files, on-chip buffers, DRAM, DMA, the
 * requant/activation unit, the memory model and the energy table it is costed with.
 *
 * Two forms:
 * - INPUT (`ArchSpecInput`, what a user writes in JSON/YAML or a preset): quantities with units
 *   (`capacity: "256 KiB"`, `bandwidth: "12.8 GB/s"`, `clock: "800 MHz"`) or, equivalently, plain
 *   numbers under the unit-named key (`capacityBytes: 262144`, `bytesPerCycle: 16`, `clockHz: 8e8`);
 *   most fields have defaults.
 * - NORMALIZED (`ArchSpec`, what `validateArchSpec` returns): every default filled, every quantity a
 *   number in base units under a unit-named key, plus derived per-cycle values (DRAM bytes per
 *   cycle, latency in cycles, buffer bytes per cycle, PE operand widths). Deep-frozen, JSON-
 *   serializable, and itself a valid input: validating it again returns an equal spec (derived
 *   keys are accepted in an input when they agree with what they derive from).
 *
 * This file holds the vocabulary, both forms and the defaults: what a spec is, with no code that
 * reads one (normalize.ts does, ranges.ts bounds it, spec.ts is the module callers import).
 */
import { DEFAULT_ENERGY_TABLE } from './energy.js';
import type { InnerLevelSpec } from './hierarchy.js';
import type { SfuInput, SfuSpec } from './sfu.js';

export * from './sfu.js';

// ---------------------------------------------------------------------------------------------
// Vocabulary

export type Dataflow = 'ws' | 'os' | 'is';
export const DATAFLOWS: readonly Dataflow[] = Object.freeze(['ws', 'os', 'is']);

/** `ideal` = unbounded accumulator that still counts what would have overflowed */
export type OverflowPolicy = 'wrap' | 'saturate' | 'ideal';
export const OVERFLOW_POLICIES: readonly OverflowPolicy[] = Object.freeze(['wrap', 'saturate', 'ideal']);

/**
 * Zero-point handling at the PE (DESIGN.md "Integer arithmetic contract"):
 * `raw` — raw q_w·q_x products, static zero-point terms folded into the bias (ORT-style);
 * `zp-subtract` — (q_w − z_w)(q_x − z_x) with zero points subtracted at the PE inputs
 * (TFLite-style): operands one bit wider.
 */
export type PeForm = 'raw' | 'zp-subtract';
export const PE_FORMS: readonly PeForm[] = Object.freeze(['raw', 'zp-subtract']);
/** What a zero-gating PE detects (pe.zeroGating). */
export const ZERO_GATINGS = ['none', 'activation', 'operand'] as const;
export type ZeroGating = Exclude<(typeof ZERO_GATINGS)[number], 'none'>;
/** What a zero-skipping array's feeder drops (pe.zeroSkipping): all-zero activation vectors. */
export const ZERO_SKIPPINGS = ['none', 'activation'] as const;
export type ZeroSkipping = Exclude<(typeof ZERO_SKIPPINGS)[number], 'none'>;

/** `native` — qloom's memory model; `scalesim` — reproduce SCALE-Sim v2's (needs split buffers) */
export type MemoryModel = 'native' | 'scalesim';
export const MEMORY_MODELS: readonly MemoryModel[] = Object.freeze(['native', 'scalesim']);

/**
 * DRAM bandwidth mode, SCALE-Sim's `InterfaceBandwidth`: `user` — transfers are limited by the
 * given bandwidth (stalls); `calc` — no DRAM stalls, the run reports the bandwidth it needed.
 */
export type DramMode = 'user' | 'calc';
export const DRAM_MODES: readonly DramMode[] = Object.freeze(['user', 'calc']);

export type ClampActivation = 'relu' | 'relu6' | 'clip';
/** activations the requant unit computes through a lookup table (qnet/network.ts LutFunction) */
export type LutActivation = 'sigmoid' | 'hardsigmoid' | 'hardswish' | 'swish' | 'tanh' | 'gelu' | 'gelu_tanh';
export type FusedActivation = ClampActivation | LutActivation;
export const CLAMP_ACTIVATIONS: readonly ClampActivation[] = Object.freeze(['relu', 'relu6', 'clip']);
export const LUT_ACTIVATIONS: readonly LutActivation[] = Object.freeze(['sigmoid', 'hardsigmoid', 'hardswish', 'swish', 'tanh', 'gelu', 'gelu_tanh']);
/** canonical order of `requant.fused` in a normalized spec */
export const FUSED_ACTIVATIONS: readonly FusedActivation[] = Object.freeze([...CLAMP_ACTIVATIONS, ...LUT_ACTIVATIONS]);

export type TensorClass = 'ifmap' | 'filter' | 'ofmap';
export type BufferName = 'glb' | TensorClass;
export const TENSOR_CLASSES: readonly TensorClass[] = Object.freeze(['ifmap', 'filter', 'ofmap']);

// ---------------------------------------------------------------------------------------------
// Normalized form

export interface BufferSpec {
  readonly capacityBytes: number;
  readonly banks: number;
  /** width of one bank's word */
  readonly wordBits: number;
  /** ports per bank */
  readonly readPorts: number;
  readonly writePorts: number;
  /** derived: banks · readPorts · wordBits / 8 */
  readonly readBytesPerCycle: number;
  /** derived: banks · writePorts · wordBits / 8 */
  readonly writeBytesPerCycle: number;
}

export interface DramSpec {
  readonly bandwidthBytesPerS: number;
  /** derived: bandwidthBytesPerS / clockHz (may be fractional) */
  readonly bytesPerCycle: number;
  readonly latencyS: number;
  /** derived: ⌈latencyS · clockHz⌉ */
  readonly latencyCycles: number;
  readonly mode: DramMode;
  /** overrides the energy table's DRAM entries when not null (energy.ts energyTableForSpec) */
  readonly energyPerBitPj: number | null;
  /** DRAM base address of each tensor class in traces (SCALE-Sim's …Offset, in words = bytes) */
  readonly baseAddress: Readonly<Record<TensorClass, number>>;
  /**
   * Activations (layer inputs and outputs) cross the DRAM interface compressed (absent: raw):
   * `bitmap` — one bit per element plus the nonzero codes; `rle` — Eyeriss's run-length code, per
   * nonzero a 5-bit run of preceding zeros and the code (a run past 31 spends an entry on a zero).
   * Per tensor and sample the smaller of raw and compressed is sent (sim/kernels/compress.ts); the
   * sizes come from the data of a functional run. Buffers hold raw codes.
   */
  readonly activationCompression?: ActivationCompression;
}

/** Which layer boundaries stay on chip (memories.onChipBoundaries). */
export const ON_CHIP_POLICIES = ['none', 'greedy', 'optimal'] as const;
export type OnChipPolicy = Exclude<(typeof ON_CHIP_POLICIES)[number], 'none'>;
/** How a boundary may be kept (memories.fusion): the whole tensor, or also a band of its rows. */
export const FUSION_MODES = ['none', 'bands'] as const;

/** How activations are compressed on the DRAM interface (memories.dram.activationCompression). */
export const ACTIVATION_COMPRESSIONS = ['none', 'bitmap', 'rle'] as const;
export type ActivationCompression = Exclude<(typeof ACTIVATION_COMPRESSIONS)[number], 'none'>;

/**
 * What a PE multiplies: affine integers (`int`), per-group integer weights with their group scale
 * applied per group (`int-group`), a float element format, or an MX block format (qnet/formats
 * names). A network runs on a PE whose format is the one its conv / gemm layers are in.
 */
export const OPERAND_FORMATS = ['int', 'int-group', 'fp8-e4m3', 'fp8-e5m2', 'fp16', 'bf16', 'mxfp8-e4m3', 'mxfp8-e5m2', 'mxfp6-e3m2', 'mxfp6-e2m3', 'mxfp4-e2m1', 'mxint8'] as const;
export type OperandFormat = (typeof OPERAND_FORMATS)[number];
/** `int`: a two's-complement accumulator of accumulator.bits; else a float accumulator (one rounding per add) */
export const ACCUMULATOR_FORMATS = ['int', 'fp32', 'fp16', 'bf16'] as const;
export type AccumulatorFormat = (typeof ACCUMULATOR_FORMATS)[number];

export interface ArchSpec {
  readonly name: string;
  readonly description: string;
  /** where the numbers come from (citation), documentation only */
  readonly source: string;
  readonly clockHz: number;
  readonly array: {
    readonly rows: number;
    readonly cols: number;
    readonly dataflow: Dataflow;
    /** derived: rows · cols */
    readonly pes: number;
  };
  /**
   * Operand widths of the PE datapath. A network quantized narrower runs on it (costed at these
   * widths); wider does not fit.
   */
  readonly operands: {
    readonly weightBits: number;
    readonly activationBits: number;
    /** the number format the PEs multiply (OPERAND_FORMATS); absent = 'int' (affine integers at the widths above) */
    readonly format?: OperandFormat;
    /**
     * a float / MX array whose PEs also multiply affine integers (at the widths above, into the
     * integer accumulator): layers kept on integers inside a number-format network run there —
     * each PE then carries both datapaths (area) and each layer is priced on the one it uses;
     * absent = false
     */
    readonly alsoInt?: boolean;
  };
  readonly accumulator: {
    /** 8…64 */
    readonly bits: number;
    readonly overflow: OverflowPolicy;
    /** width of partial sums inside the array (between PEs); ≤ bits */
    readonly psumBits: number;
    /** absent = 'int' (`bits` wide); a float format for float / MX / per-group operands */
    readonly format?: AccumulatorFormat;
  };
  readonly pe: {
    readonly form: PeForm;
    /** derived: operand widths at the multiplier (raw: as stored; zp-subtract: one bit wider) */
    readonly weightOperandBits: number;
    readonly activationOperandBits: number;
    /** register file sizes per PE */
    readonly registers: { readonly weightBytes: number; readonly inputBytes: number; readonly psumBytes: number };
    /**
     * true: each PE also has a shift mode — a barrel shifter in front of its adder — so a GEMM whose
     * streamed operand is log-coded (post-Softmax probabilities, qnet/logquant.ts) runs as
     * shift-adds. Absent when false (the normalized form of existing specs, and their hashes, stay
     * as they were).
     */
    readonly shiftMode?: true;
    /**
     * Zero-operand gating (absent: none): a multiply-add whose streamed activation is zero
     * (`activation`, Eyeriss's gating) or either of whose operands is zero (`operand`) does not
     * toggle the multiplier and the adder — it still takes its cycle. Counted from the data of a
     * functional run (sim/kernels/zeros.ts); a zero flag is set once per activation written.
     */
    readonly zeroGating?: ZeroGating;
    /**
     * Zero-vector skipping (absent: none): the array's input feeder drops a streamed activation
     * vector that is all zero — a WS array's K-slice of one output position (R activations), an OS
     * array's one K step of R output positions — so it costs no cycle and its MACs do not toggle.
     * Counted from the data of a functional run (sim/kernels/zeros.ts `zeroVectors`); ws and os only.
     */
    readonly zeroSkipping?: ZeroSkipping;
  };
  readonly memories: {
    /** derived: `unified` (one `glb`) or `split` (`ifmap`, `filter`, `ofmap`) */
    readonly layout: 'unified' | 'split';
    readonly glb?: BufferSpec;
    readonly ifmap?: BufferSpec;
    readonly filter?: BufferSpec;
    readonly ofmap?: BufferSpec;
    /** derived: which buffer holds each tensor class */
    readonly bufferOf: Readonly<Record<TensorClass, BufferName>>;
    readonly dram: DramSpec;
    /**
     * Which layer boundaries keep the tensor in the unified buffer for the next layer instead of
     * writing it to DRAM and reading it back (absent: none — every layer reads from and writes to
     * DRAM). `greedy`: in execution order, each boundary that fits beside the one before and does
     * not add DRAM traffic; `optimal`: the set of boundaries with the least DRAM traffic over the
     * chain (sim/engine/on-chip.ts). Needs a unified buffer.
     */
    readonly onChipBoundaries?: OnChipPolicy;
    /**
     * `bands`: a boundary may also be kept as a band of rows (tile-band layer fusion): the producer
     * writes its output rows into a line buffer of the consumer's window plus one stride of rows,
     * the consumer reads them from there as they come, both layers' weights stay resident so the
     * two can alternate band by band; the tensor never goes to DRAM though it does not fit
     * (sim/engine/on-chip.ts). Absent: whole tensors only. Needs `onChipBoundaries`.
     */
    readonly fusion?: 'bands';
    /**
     * On-chip levels between the buffer(s) and the PE registers, outermost first (absent: none) —
     * from a spec written as a `hierarchy` (arch/hierarchy.ts). The Timeloop model prices
     * mappings on them; the event engine refuses a spec that has them.
     */
    readonly innerLevels?: readonly InnerLevelSpec[];
  };
  readonly dma: {
    readonly engines: number;
    /** outstanding requests per engine */
    readonly maxOutstanding: number;
    readonly burstBytes: number;
  };
  /** the requant/activation unit at the array's output */
  readonly requant: {
    readonly lanesPerCycle: number;
    readonly latencyCycles: number;
    /** per-output-channel (M0, shift); false = per-tensor only */
    readonly perChannel: boolean;
    /**
     * per-output-channel clamp bounds (a ReLU6 equalized by CLE, clipped at 6/s_i per channel): the
     * upper bound stored in each channel's parameter set. Needs `perChannel`; defaults to it.
     */
    readonly perChannelClamp: boolean;
    /** width of the fixed-point multiplier M0 */
    readonly multiplierBits: number;
    /**
     * activations applied in the unit, canonical order; [] = no fused unit (int32 results are
     * written out and read back for activations, DESIGN.md)
     */
    readonly fused: readonly FusedActivation[];
    /** entries of the activation lookup table (power of two) */
    readonly lutEntries: number;
  };
  /** the special-function unit (Softmax, LayerNorm, integer GELU: arch/sfu.ts); null = none */
  readonly sfu: SfuSpec | null;
  readonly memoryModel: MemoryModel;
  /** built-in table name, or an absolute path to a table file */
  readonly energyTable: string;
  /** SCALE-Sim-only knobs read from a .cfg (null = SCALE-Sim's default) */
  readonly scalesim: { readonly readRequestBuffer: number | null; readonly writeRequestBuffer: number | null };
}

// ---------------------------------------------------------------------------------------------
// Input form (for authoring presets in TypeScript; files are checked at run time)

type Q = string | number;
export interface BufferInput {
  capacity?: Q;
  capacityBytes?: number;
  banks?: number;
  wordBits?: number;
  readPorts?: number;
  writePorts?: number;
  readBytesPerCycle?: number;
  writeBytesPerCycle?: number;
}
export interface DramInput {
  bandwidth?: Q;
  bandwidthBytesPerS?: number;
  bytesPerCycle?: number;
  latency?: Q;
  latencyS?: number;
  latencyCycles?: number;
  mode?: DramMode;
  energyPerBit?: Q | null;
  energyPerBitPj?: number | null;
  baseAddress?: Partial<Record<TensorClass, number>>;
  activationCompression?: ActivationCompression | 'none';
}
export interface ArchSpecInput {
  name: string;
  description?: string;
  source?: string;
  clock?: Q;
  clockHz?: number;
  array: { rows: number; cols: number; dataflow?: Dataflow; pes?: number };
  operands?: { weightBits?: number; activationBits?: number; format?: OperandFormat; alsoInt?: boolean };
  accumulator?: { bits?: number; overflow?: OverflowPolicy; psumBits?: number; format?: AccumulatorFormat };
  pe?: {
    form?: PeForm;
    weightOperandBits?: number;
    activationOperandBits?: number;
    registers?: { weight?: Q; weightBytes?: number; input?: Q; inputBytes?: number; psum?: Q; psumBytes?: number };
    shiftMode?: boolean;
    zeroGating?: ZeroGating | 'none';
    zeroSkipping?: ZeroSkipping | 'none';
  };
  memories: {
    layout?: 'unified' | 'split';
    glb?: BufferInput;
    ifmap?: BufferInput;
    filter?: BufferInput;
    ofmap?: BufferInput;
    bufferOf?: Partial<Record<TensorClass, BufferName>>;
    dram?: DramInput;
    onChipBoundaries?: OnChipPolicy | 'none';
    fusion?: (typeof FUSION_MODES)[number];
    innerLevels?: readonly Record<string, unknown>[];
  };
  /** the storage as levels, outermost first, instead of memories' buffers and DRAM and pe.registers (arch/hierarchy.ts) */
  hierarchy?: readonly Record<string, unknown>[];
  dma?: { engines?: number; maxOutstanding?: number; burst?: Q; burstBytes?: number };
  requant?: {
    lanesPerCycle?: number;
    latencyCycles?: number;
    perChannel?: boolean;
    perChannelClamp?: boolean;
    multiplierBits?: number;
    fused?: boolean | readonly FusedActivation[];
    lutEntries?: number;
  };
  sfu?: 'none' | SfuInput | null;
  memoryModel?: MemoryModel;
  energyTable?: string;
  scalesim?: { readRequestBuffer?: number | null; writeRequestBuffer?: number | null };
}

// ---------------------------------------------------------------------------------------------
// Defaults (documented in arch/README.md)

export const DEFAULTS = Object.freeze({
  clock: '1 GHz',
  dataflow: 'ws' as Dataflow,
  operandBits: 8,
  accumulatorBits: 32,
  overflow: 'wrap' as OverflowPolicy,
  peForm: 'raw' as PeForm,
  bufferBanks: 1,
  bufferWordBits: 64,
  bufferPorts: 1,
  dramBandwidth: '16 GB/s',
  dramLatency: '100 ns',
  dramMode: 'user' as DramMode,
  baseAddress: Object.freeze({ ifmap: 0, filter: 10_000_000, ofmap: 20_000_000 }),
  dmaEngines: 2,
  dmaMaxOutstanding: 8,
  dmaBurstBytes: 64,
  requantLatencyCycles: 3,
  requantPerChannel: true,
  requantMultiplierBits: 32,
  fused: Object.freeze(['relu', 'relu6', 'clip'] as FusedActivation[]),
  lutEntries: 256,
  memoryModel: 'native' as MemoryModel,
  energyTable: DEFAULT_ENERGY_TABLE,
});
