/**
 * Built-in accelerator presets, in the INPUT form (plain data; `presetSpec(name)` / `loadArchSpec`
 * in spec.ts validate them). Each names its source; where a number is our assumption, it says so.
 *
 * | preset            | array  | dataflow | operands | acc          | buffer                 | DRAM                 | clock   |
 * | ----------------- | ------ | -------- | -------- | ------------ | ---------------------- | -------------------- | ------- |
 * | edge-npu          | 16×16  | ws       | int8     | 32 b wrap, 4096/col | 256 KiB unified | 12.8 GB/s, 100 ns    | 800 MHz |
 * | edge-npu-smallacc | 16×16  | ws       | int8     | 32 b wrap, 16/col | 256 KiB unified   | 12.8 GB/s, 100 ns    | 800 MHz |
 * | tpu-like          | 128×128| ws       | int8     | 32 b wrap, 4096/col | 24 MiB unified  | 700 GB/s, 100 ns     | 700 MHz |
 * | eyeriss-like      | 12×14  | ws       | 16-bit   | 32 b wrap    | 108 KiB unified (GLB)  | 480 MB/s, 100 ns     | 200 MHz |
 * | mcu-npu           | 8×8    | os       | int8     | 16 b saturate| 64 KiB unified         | 400 MB/s, 200 ns     | 200 MHz |
 * | scalesim-default  | 32×32  | os       | int8     | 32 b wrap    | 64 KiB ×3 split (1 B words) | 10 B/cycle, CALC | 1 GHz   |
 *
 * Accumulator capacity (weight-stationary: partial sums that do not fit spill to the buffer or DRAM)
 * is `pes · pe.registers.psum bytes ÷ accumulator bytes` entries; "n/col" above is that ÷ columns.
 *
 * This file imports only types, so spec.ts can import it without an import cycle at run time.
 */
import type { ArchSpecInput } from './spec.js';

const EDGE_NPU: ArchSpecInput = {
  name: 'edge-npu',
  description:
    'Generic edge NPU: 16×16 int8 weight-stationary array (256 MACs/cycle), int32 accumulators, 256 KiB unified buffer, LPDDR4-class DRAM, fused per-channel requant with a LUT for sigmoid-like activations.',
  source:
    'Representative configuration in the class of Arm Ethos-U55 (up to 256 int8 MACs/cycle) — not a model of a product. ' +
    'DRAM: LPDDR4-3200 ×32 = 3200 MT/s × 4 B = 12.8 GB/s (JESD209-4), ~100 ns first-access latency. ' +
    'Clock 800 MHz makes that 16 B/cycle and 80 cycles. Banking (16 × 128-bit) and DMA are assumptions; each DMA engine keeps 32 ' +
    '64-byte bursts in flight, enough for the bandwidth-delay product (16 B/cycle × 80 cycles = 1,280 B = 20 bursts; fewer would cap a ' +
    'transfer at outstanding × burst ÷ latency). ' +
    'Accumulators (assumption, scaled from TPU v1): TPU v1 keeps 4 MiB of 32-bit accumulators behind its 256×256 weight-stationary ' +
    'array, 4,096 entries per column (Jouppi et al., "In-datacenter performance analysis of a tensor processing unit", ISCA 2017, ' +
    'sec. 2); the same depth per column on 16 columns is 65,536 int32 entries = 256 KiB, given as 1 KiB per PE ' +
    '(pe.registers.psum; the engine pools pes · psum bytes). Generous for an edge part: with it no fmnist-cnn layer spills; ' +
    'edge-npu-smallacc keeps one int32 per PE to show the spill cost. ' +
    'Per-channel clamp bounds (assumption): a unit that keeps one (M0, shift) per output channel keeps that channel\'s activation ' +
    'upper bound in the same set (requant.perChannelClamp), as CLE through ReLU6 needs. ' +
    'Special-function unit (assumption): integer-only, as I-BERT designs its Softmax, LayerNorm and GELU for integer accelerators ' +
    '(Kim et al., "I-BERT: Integer-only BERT quantization", ICML 2021); 16 lanes, the array\'s columns, so a row of scores is taken at ' +
    'the rate the array emits it; latencies: exp 4 cycles (I-BERT\'s polynomial: two multiplies and adds, pipelined), divide and rsqrt ' +
    '16 (a radix-4 iterative 32-bit unit), a table read 1. GELU stays in the requant unit\'s table.',
  clock: '800 MHz',
  array: { rows: 16, cols: 16, dataflow: 'ws' },
  operands: { weightBits: 8, activationBits: 8 },
  accumulator: { bits: 32, overflow: 'wrap' },
  pe: { form: 'raw', registers: { weight: '1 B', input: '1 B', psum: '256 * 4 B' } },
  memories: {
    glb: { capacity: '256 KiB', banks: 16, wordBits: 128, readPorts: 1, writePorts: 1 },
    dram: { bandwidth: '12.8 GB/s', latency: '100 ns', mode: 'user' },
  },
  dma: { engines: 2, maxOutstanding: 32, burst: '64 B' },
  requant: {
    lanesPerCycle: 16,
    latencyCycles: 3,
    perChannel: true,
    perChannelClamp: true,
    multiplierBits: 32,
    fused: ['relu', 'relu6', 'clip', 'sigmoid', 'hardsigmoid', 'hardswish', 'swish', 'tanh', 'gelu'],
    lutEntries: 256,
  },
  sfu: { lanes: 16, latencyCycles: { exp: 4, divide: 16, rsqrt: 16, lut: 1 }, softmax: 'ibert', layerNorm: 'integer', gelu: 'lut', expLutEntries: 256 },
};

export const PRESETS: Readonly<Record<string, ArchSpecInput>> = {
  'edge-npu': EDGE_NPU,
  // edge-npu with one int32 accumulator per PE (256 entries, 16 per column): what edge-npu was before
  // issue 20, kept to show what spilled partial sums cost
  'edge-npu-smallacc': {
    ...EDGE_NPU,
    name: 'edge-npu-smallacc',
    description: 'edge-npu with one 32-bit accumulator per PE (256 entries, 16 per column): weight-stationary layers with more output pixels than that spill partial sums to the buffer.',
    source: 'edge-npu (see there) with pe.registers.psum = 4 B, an assumption chosen to show the spill effect, not a product.',
    pe: { form: 'raw', registers: { weight: '1 B', input: '1 B', psum: '4 B' } },
  },

  'tpu-like': {
    name: 'tpu-like',
    description:
      'Datacenter-class systolic array: 128×128 int8 weight-stationary (TPU v2/v3 MXU size), 24 MiB unified buffer (TPU v1), HBM-class DRAM.',
    source:
      'Array 128×128 and HBM 700 GB/s at 700 MHz: TPU v2 (Jouppi et al., "A domain-specific supercomputer for training deep neural networks", CACM 63(7), 2020). ' +
      '24 MiB Unified Buffer, int8 operands, 32-bit accumulators, weight-stationary, fused activation unit (ReLU, sigmoid, tanh): TPU v1 ' +
      '(Jouppi et al., "In-datacenter performance analysis of a tensor processing unit", ISCA 2017). 700 GB/s / 700 MHz = 1000 B/cycle ' +
      '(per chip, shared by its two cores: an upper bound for one array). Latency ~100 ns, banking (16 × 1024-bit) and DMA are assumptions. ' +
      'Accumulators: TPU v1\'s 4,096 32-bit entries per column (4 MiB behind 256 columns, ISCA 2017 sec. 2) on 128 columns = 2 MiB, ' +
      'given as 128 B per PE (pe.registers.psum; the engine pools pes · psum bytes) — the depth per column is the assumption carried over. ' +
      'Per-channel requant with a per-channel clamp bound in each set (requant.perChannelClamp) is an assumption, as for edge-npu. ' +
      'Special-function unit: float32, as the vector units of TPU v2/v3 compute (Norrie et al., "The design process for Google\'s training ' +
      'chips: TPUv2 and TPUv3", IEEE Micro 41(2), 2021) — Softmax with a float exp table (ONNX Runtime\'s QLinearSoftmax), float LayerNorm; ' +
      '128 lanes (the array\'s columns) and the latencies (exp 4, divide and rsqrt 8, table read 1) are assumptions.',
    clock: '700 MHz',
    array: { rows: 128, cols: 128, dataflow: 'ws' },
    operands: { weightBits: 8, activationBits: 8 },
    accumulator: { bits: 32, overflow: 'wrap' },
    pe: { form: 'raw', registers: { weight: '1 B', input: '1 B', psum: '32 * 4 B' } },
    memories: {
      glb: { capacity: '24 MiB', banks: 16, wordBits: 1024, readPorts: 1, writePorts: 1 },
      dram: { bandwidth: '700 GB/s', latency: '100 ns', mode: 'user' },
    },
    // the bandwidth-delay product: 1,000 B/cycle × 70 cycles = 70,000 B ≈ 274 bursts of 256 B
    dma: { engines: 4, maxOutstanding: 512, burst: '256 B' },
    requant: {
      lanesPerCycle: 128,
      latencyCycles: 4,
      perChannel: true,
      perChannelClamp: true,
      multiplierBits: 32,
      fused: ['relu', 'relu6', 'clip', 'sigmoid', 'tanh'],
      lutEntries: 1024,
    },
    sfu: { lanes: 128, latencyCycles: { exp: 4, divide: 8, rsqrt: 8, lut: 1 }, softmax: 'ort', layerNorm: 'float', gelu: 'lut', expLutEntries: 256 },
  },

  'eyeriss-like': {
    name: 'eyeriss-like',
    description:
      'Eyeriss v1-like: 12×14 PEs with per-PE scratchpads, 108 KiB global buffer, 16-bit operands, 200 MHz; row-stationary approximated by weight-stationary.',
    source:
      'Chen, Krishna, Emer, Sze, "Eyeriss: an energy-efficient reconfigurable accelerator for deep convolutional neural networks", IEEE JSSC 52(1), 2017 ' +
      '(ISSCC 2016): 12×14 PE array, 108 KB global buffer, 16-bit fixed point, scratchpads per PE of 224×16 b (filter), 12×16 b (ifmap), ' +
      '24×16 b (psum), 200 MHz core clock, 64-bit off-chip data bus (~60 MHz link clock → ~480 MB/s). ' +
      'Dataflow: qloom simulates ws | os | is, not row-stationary (RS). RS keeps filter rows in the PE scratchpads while ifmap rows ' +
      'flow through and partial sums move vertically between PEs to accumulate — the movement pattern of a weight-stationary ' +
      'systolic array, minus RS\'s in-PE sliding-window reuse of ifmap rows — so ws is the nearest (SCALE-Sim\'s own configs/eyeriss.cfg ' +
      'also models Eyeriss as ws on 12×14). Eyeriss stores 16-bit psums; here psums and accumulators are 32 bits (set ' +
      'accumulator.bits/psumBits to 16 to study overflow instead). GLB banking (27 × 4 KiB, 64-bit words), DRAM latency and DMA are assumptions.',
    clock: '200 MHz',
    array: { rows: 12, cols: 14, dataflow: 'ws' },
    operands: { weightBits: 16, activationBits: 16 },
    accumulator: { bits: 32, overflow: 'wrap', psumBits: 32 },
    pe: {
      form: 'raw',
      registers: { weight: '224 * 2 B', input: '12 * 2 B', psum: '24 * 2 B' },
    },
    memories: {
      glb: { capacity: '108 KiB', banks: 27, wordBits: 64, readPorts: 1, writePorts: 1 },
      dram: { bandwidth: '64 bit * 60 MHz', latency: '100 ns', mode: 'user' },
    },
    // the bandwidth-delay product: 2.4 B/cycle × 20 cycles = 48 B = 6 bursts of 8 B
    dma: { engines: 1, maxOutstanding: 8, burst: '8 B' },
    requant: {
      lanesPerCycle: 14,
      latencyCycles: 2,
      perChannel: false,
      multiplierBits: 16,
      fused: ['relu'],
      lutEntries: 256,
    },
  },

  'mcu-npu': {
    name: 'mcu-npu',
    description:
      'Microcontroller-class NPU: 8×8 int8 output-stationary array with 16-bit saturating accumulators, 64 KiB SRAM, external memory over a serial bus, per-tensor requant only.',
    source:
      'Representative small NPU next to a microcontroller (not a product): a 16-bit accumulator is the cheapest that holds one int8×int8 ' +
      'product (≤ 2^14) and makes accumulator overflow a first-order effect; saturating like a DSP MAC. Output-stationary: each PE keeps ' +
      'its own accumulator. External memory: octal-SPI PSRAM/flash class, 200 MHz DDR × 8 bit ≈ 400 MB/s, ~200 ns. Per-tensor requant ' +
      'with a 16-bit multiplier and clamp activations only (no LUT), one clamp range per tensor (no per-channel bounds: ' +
      'requant.perChannelClamp false, so a ReLU6 equalized with cleRelu6 clip is refused). All numbers are assumptions of this class of device.',
    clock: '200 MHz',
    array: { rows: 8, cols: 8, dataflow: 'os' },
    operands: { weightBits: 8, activationBits: 8 },
    accumulator: { bits: 16, overflow: 'saturate' },
    pe: { form: 'raw' },
    memories: {
      glb: { capacity: '64 KiB', banks: 4, wordBits: 32, readPorts: 1, writePorts: 1 },
      dram: { bandwidth: '400 MB/s', latency: '200 ns', mode: 'user' },
    },
    // the bandwidth-delay product: 2 B/cycle × 40 cycles = 80 B = 2.5 bursts of 32 B
    dma: { engines: 1, maxOutstanding: 4, burst: '32 B' },
    requant: {
      lanesPerCycle: 8,
      latencyCycles: 2,
      perChannel: false,
      perChannelClamp: false,
      multiplierBits: 16,
      fused: ['relu', 'relu6', 'clip'],
      lutEntries: 256,
    },
  },

  'scalesim-default': {
    name: 'scalesim-default',
    description: "SCALE-Sim v2's default configuration (configs/scale.cfg), for comparison with its numbers; SCALE-Sim's memory model.",
    source:
      'scalesim-project/scale-sim-v2 configs/scale.cfg: ArrayHeight 32, ArrayWidth 32, IfmapSramSzkB / FilterSramSzkB / OfmapSramSzkB 64 ' +
      '(SCALE-Sim multiplies by 1024), IfmapOffset 0, FilterOffset 10000000, OfmapOffset 20000000, Bandwidth 10 (words/cycle), ' +
      'Dataflow os, MemoryBanks 1, InterfaceBandwidth CALC — the same architecture_presets as ../shared/golden/scalesim/*_os_32x32. ' +
      'SCALE-Sim words are 1 byte (word_size = 1 in its code), so 10 words/cycle = 10 B/cycle. SCALE-Sim has no clock (1 GHz here only ' +
      'gives cycles a duration), no DRAM latency, no accumulator or requant model (qloom defaults). Its SRAMs serve a whole array edge ' +
      'per cycle: modelled as 32 one-byte banks each.',
    clockHz: 1e9,
    array: { rows: 32, cols: 32, dataflow: 'os' },
    operands: { weightBits: 8, activationBits: 8 },
    accumulator: { bits: 32, overflow: 'wrap' },
    pe: { form: 'raw' },
    memories: {
      ifmap: { capacityBytes: 64 * 1024, banks: 32, wordBits: 8, readPorts: 1, writePorts: 1 },
      filter: { capacityBytes: 64 * 1024, banks: 32, wordBits: 8, readPorts: 1, writePorts: 1 },
      ofmap: { capacityBytes: 64 * 1024, banks: 32, wordBits: 8, readPorts: 1, writePorts: 1 },
      dram: {
        bytesPerCycle: 10,
        latencyCycles: 0,
        mode: 'calc',
        baseAddress: { ifmap: 0, filter: 10_000_000, ofmap: 20_000_000 },
      },
    },
    memoryModel: 'scalesim',
  },
};
