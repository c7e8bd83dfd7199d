/**
 * Reader for SCALE-Sim v2 `.cfg` files (Python ConfigParser INI: `[section]`, `key = value` or
 * `key: value`, `#`/`;` comment lines, option names case-insensitive) → an ArchSpec INPUT with
 * `memoryModel: 'scalesim'`; `validateArchSpec` takes it from there.
 *
 * | cfg                                                   | ArchSpec input                                   |
 * | ----------------------------------------------------- | ------------------------------------------------ |
 * | [general] run_name                                    | name                                             |
 * | [architecture_presets] ArrayHeight / ArrayWidth       | array.rows / array.cols                          |
 * | IfmapSramSzkB / FilterSramSzkB / OfmapSramSzkB (×1024) | memories.ifmap / filter / ofmap .capacityBytes   |
 * | IfmapOffset / FilterOffset / OfmapOffset              | memories.dram.baseAddress.ifmap / filter / ofmap |
 * | Dataflow                                              | array.dataflow                                   |
 * | Bandwidth (words/cycle, 1-byte words)                 | memories.dram.bytesPerCycle                      |
 * | MemoryBanks                                           | must be 1 (multi-bank DRAM maps not modelled)    |
 * | ReadRequestBuffer / WriteRequestBuffer                | scalesim.readRequestBuffer / writeRequestBuffer  |
 * | [layout] <T>CustomLayout + <T>SRAMBankNum / Port / Bandwidth | memories.<t>.banks / readPorts / wordBits (8 × words) |
 * | [run_presets] InterfaceBandwidth CALC / USER          | memories.dram.mode calc / user                   |
 *
 * Everything else SCALE-Sim v2 (or a common fork) accepts — [sparsity] (only when off), [network_presets],
 * [memory_map_files], UseRamulatorTrace, TimeLinearModel, SRAM_/DRAM_row/bank_size,
 * OnChipMemoryBanks/Ports — is accepted and listed in `ignored`; anything unknown is a problem
 * (with a "did you mean"). SCALE-Sim itself has no clock, DRAM latency, accumulator or requant
 * model: those take qloom's defaults (clock 1 GHz, latency 0 cycles). Each SRAM without a custom
 * layout serves a whole array edge per cycle: max(rows, cols) one-byte banks.
 */
import { ConfigError, type Problem } from './errors.js';
import type { ArchSpecInput, BufferInput, DramMode, TensorClass } from './spec.js';
import { didYouMean } from './validate.js';

type Handler = 'int' | 'string' | 'bool' | 'bandwidth' | 'mode' | 'ignored';

/** Known sections → option (canonical spelling) → how it is read. */
const SECTIONS: Readonly<Record<string, Readonly<Record<string, Handler>>>> = {
  general: { run_name: 'string' },
  architecture_presets: {
    ArrayHeight: 'int',
    ArrayWidth: 'int',
    IfmapSramSzkB: 'int',
    FilterSramSzkB: 'int',
    OfmapSramSzkB: 'int',
    IfmapOffset: 'int',
    FilterOffset: 'int',
    OfmapOffset: 'int',
    Dataflow: 'string',
    Bandwidth: 'bandwidth',
    MemoryBanks: 'int',
    ReadRequestBuffer: 'int',
    WriteRequestBuffer: 'int',
    OnChipMemoryBanks: 'ignored',
    OnChipMemoryBankPorts: 'ignored',
    // some scale.cfg versions put the layout keys here
    IfmapCustomLayout: 'bool',
    FilterCustomLayout: 'bool',
    IfmapSRAMBankBandwidth: 'int',
    IfmapSRAMBankNum: 'int',
    IfmapSRAMBankPort: 'int',
    FilterSRAMBankBandwidth: 'int',
    FilterSRAMBankNum: 'int',
    FilterSRAMBankPort: 'int',
  },
  layout: {
    IfmapCustomLayout: 'bool',
    FilterCustomLayout: 'bool',
    IfmapSRAMBankBandwidth: 'int',
    IfmapSRAMBankNum: 'int',
    IfmapSRAMBankPort: 'int',
    FilterSRAMBankBandwidth: 'int',
    FilterSRAMBankNum: 'int',
    FilterSRAMBankPort: 'int',
  },
  run_presets: {
    InterfaceBandwidth: 'mode',
    UseRamulatorTrace: 'ignored',
    TimeLinearModel: 'ignored',
    SRAM_row_size: 'ignored',
    SRAM_bank_size: 'ignored',
    DRAM_row_size: 'ignored',
    DRAM_bank_size: 'ignored',
  },
  sparsity: {
    SparsitySupport: 'bool',
    SparseRep: 'ignored',
    OptimizedMapping: 'ignored',
    BlockSize: 'ignored',
    RandomNumberGeneratorSeed: 'ignored',
  },
  network_presets: { TopologyCsvLoc: 'ignored', LayoutCsvLoc: 'ignored' },
  memory_map_files: { MemoryMapIfmap: 'ignored', MemoryMapFilter: 'ignored', MemoryMapOfmap: 'ignored' },
};

type Value = number | string | boolean | number[];

export interface ScaleSimCfg {
  /** the ArchSpec input (not yet validated) */
  readonly input: ArchSpecInput;
  /** `[section] Key` of settings accepted but not modelled */
  readonly ignored: readonly string[];
}

const TRUE = new Set(['1', 'yes', 'true', 'on']);
const FALSE = new Set(['0', 'no', 'false', 'off']);

/** Reads a SCALE-Sim .cfg; every problem is collected into one ConfigError naming `file`. */
export function readScaleSimCfg(text: string, file?: string): ScaleSimCfg {
  const problems: Problem[] = [];
  const ignored: string[] = [];
  const values = new Map<string, Value>(); // `section.Key` (canonical) → value
  const raw = new Map<string, string>(); // same keys → text as written
  const seenSections = new Set<string>();
  let section: string | undefined;
  let sectionKnown = false;
  let cont: { value: string } | undefined; // the entry a continuation line extends

  const lines = text.split(/\r?\n/);
  const pending: { section: string; key: string; canon: string; value: string; line: number }[] = [];
  lines.forEach((line, i) => {
    const ln = i + 1;
    if (/^\s*([#;].*)?$/.test(line)) return;
    if (/^\s/.test(line) && cont) {
      cont.value += `\n${line.trim()}`; // ConfigParser continuation line
      return;
    }
    cont = undefined;
    const sec = /^\s*\[([^\]]*)\]\s*$/.exec(line);
    if (sec) {
      section = sec[1].trim();
      sectionKnown = Object.hasOwn(SECTIONS, section);
      if (seenSections.has(section)) problems.push({ path: section, message: `section [${section}] appears twice (line ${ln})` });
      seenSections.add(section);
      if (!sectionKnown) {
        const hint = didYouMean(section, Object.keys(SECTIONS));
        problems.push({ path: section, message: `unknown section [${section}] (line ${ln})${hint ? ` (did you mean [${hint}]?)` : ''}` });
      }
      return;
    }
    const kv = /^\s*([^=:]+?)\s*[=:]\s*(.*?)\s*$/.exec(line);
    if (!kv) {
      problems.push({ path: section ?? '', message: `line ${ln} is neither [section] nor key = value: ${JSON.stringify(line.trim())}` });
      return;
    }
    if (section === undefined) {
      problems.push({ path: kv[1], message: `line ${ln}: key before any [section]` });
      return;
    }
    if (!sectionKnown) return;
    const known = Object.keys(SECTIONS[section]);
    const canon = known.find((k) => k.toLowerCase() === kv[1].toLowerCase());
    if (!canon) {
      const hint = didYouMean(kv[1], known);
      problems.push({ path: `${section}.${kv[1]}`, message: `unknown key (line ${ln})${hint ? ` (did you mean "${hint}"?)` : ''}` });
      return;
    }
    const entry = { section, key: kv[1], canon, value: kv[2], line: ln };
    pending.push(entry);
    cont = entry;
  });

  for (const p of pending) {
    const id = `${p.section}.${p.canon}`;
    if (raw.has(id)) {
      problems.push({ path: id, message: `given twice (line ${p.line})` });
      continue;
    }
    raw.set(id, p.value);
    const how = SECTIONS[p.section][p.canon];
    const v = p.value.trim();
    if (how === 'ignored') {
      ignored.push(`[${p.section}] ${p.canon}`);
    } else if (how === 'string') {
      values.set(id, v);
    } else if (how === 'int') {
      if (/^[+-]?\d+$/.test(v)) values.set(id, Number(v));
      else problems.push({ path: id, message: `${JSON.stringify(v)} is not an integer` });
    } else if (how === 'bool') {
      const l = v.toLowerCase();
      if (TRUE.has(l)) values.set(id, true);
      else if (FALSE.has(l)) values.set(id, false);
      else problems.push({ path: id, message: `${JSON.stringify(v)} is not a boolean (True/False)` });
    } else if (how === 'bandwidth') {
      const parts = v.split(',').map((s) => s.trim());
      if (parts.length > 0 && parts.every((s) => /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s))) values.set(id, parts.map(Number));
      else problems.push({ path: id, message: `${JSON.stringify(v)} is not a number or a comma-separated list of numbers (words per cycle)` });
    } else if (how === 'mode') {
      if (v === 'USER' || v === 'CALC') values.set(id, v);
      else problems.push({ path: id, message: `${JSON.stringify(v)} is neither USER nor CALC` });
    }
  }

  const get = (id: string) => values.get(id);
  const need = (id: string): Value | undefined => {
    const v = get(id);
    if (v === undefined && !raw.has(id)) problems.push({ path: id, message: 'is required' });
    return v;
  };

  const name = need('general.run_name') as string | undefined;
  const modeRaw = need('run_presets.InterfaceBandwidth') as 'USER' | 'CALC' | undefined;
  const rows = need('architecture_presets.ArrayHeight') as number | undefined;
  const cols = need('architecture_presets.ArrayWidth') as number | undefined;
  const kb = {
    ifmap: need('architecture_presets.IfmapSramSzkB') as number | undefined,
    filter: need('architecture_presets.FilterSramSzkB') as number | undefined,
    ofmap: need('architecture_presets.OfmapSramSzkB') as number | undefined,
  };
  const offset = {
    ifmap: need('architecture_presets.IfmapOffset') as number | undefined,
    filter: need('architecture_presets.FilterOffset') as number | undefined,
    ofmap: need('architecture_presets.OfmapOffset') as number | undefined,
  };
  const dataflow = need('architecture_presets.Dataflow') as string | undefined;
  const memoryBanks = (get('architecture_presets.MemoryBanks') as number | undefined) ?? 1;
  if (memoryBanks !== 1 && get('architecture_presets.MemoryBanks') !== undefined) {
    problems.push({ path: 'architecture_presets.MemoryBanks', message: `${memoryBanks}: only 1 is supported (multi-bank DRAM memory maps are not modelled)` });
  }
  let bandwidth = get('architecture_presets.Bandwidth') as number[] | undefined;
  if (modeRaw === 'USER' && bandwidth === undefined && !raw.has('architecture_presets.Bandwidth')) {
    problems.push({ path: 'architecture_presets.Bandwidth', message: 'is required with InterfaceBandwidth: USER' });
  }
  if (bandwidth && bandwidth.length !== 1) {
    problems.push({
      path: 'architecture_presets.Bandwidth',
      message: `${bandwidth.length} values given; qloom models one DRAM channel (MemoryBanks 1), so give one bandwidth`,
    });
    bandwidth = undefined;
  }
  if (get('sparsity.SparsitySupport') === true) {
    problems.push({ path: 'sparsity.SparsitySupport', message: 'sparsity is not modelled by qloom (set it to false)' });
  }
  if (get('sparsity.SparsitySupport') === false) ignored.push('[sparsity] SparsitySupport');

  if (problems.length > 0) throw new ConfigError(problems, file);

  const edge = Math.max(rows!, cols!);
  const buffer = (t: TensorClass): BufferInput => {
    const cap = kb[t]! * 1024;
    const base: BufferInput = { capacityBytes: cap, banks: edge, wordBits: 8, readPorts: 1, writePorts: 1 };
    if (t === 'ofmap') return base;
    const T = t === 'ifmap' ? 'Ifmap' : 'Filter';
    const custom = get(`layout.${T}CustomLayout`) ?? get(`architecture_presets.${T}CustomLayout`);
    if (custom !== true) return base;
    const pick = (k: string) => (get(`layout.${T}${k}`) ?? get(`architecture_presets.${T}${k}`)) as number | undefined;
    const banks = pick('SRAMBankNum');
    const port = pick('SRAMBankPort');
    const bw = pick('SRAMBankBandwidth');
    return { ...base, ...(banks !== undefined && { banks }), ...(port !== undefined && { readPorts: port }), ...(bw !== undefined && { wordBits: 8 * bw }) };
  };

  const mode: DramMode = modeRaw === 'USER' ? 'user' : 'calc';
  const input: ArchSpecInput = {
    name: name!,
    description: `SCALE-Sim v2 configuration${file ? ` ${file}` : ''}`,
    source: file ?? 'SCALE-Sim v2 .cfg',
    clockHz: 1e9,
    array: { rows: rows!, cols: cols!, dataflow: dataflow as ArchSpecInput['array']['dataflow'] },
    operands: { weightBits: 8, activationBits: 8 },
    memories: {
      ifmap: buffer('ifmap'),
      filter: buffer('filter'),
      ofmap: buffer('ofmap'),
      dram: {
        ...(bandwidth !== undefined && { bytesPerCycle: bandwidth[0] }),
        latencyCycles: 0,
        mode,
        baseAddress: { ifmap: offset.ifmap!, filter: offset.filter!, ofmap: offset.ofmap! },
      },
    },
    memoryModel: 'scalesim',
    scalesim: {
      readRequestBuffer: (get('architecture_presets.ReadRequestBuffer') as number | undefined) ?? null,
      writeRequestBuffer: (get('architecture_presets.WriteRequestBuffer') as number | undefined) ?? null,
    },
  };
  return { input, ignored };
}

/** SCALE-Sim v2 .cfg text → ArchSpec input (see the table above). Throws one ConfigError. */
export function parseScaleSimCfg(text: string, file?: string): ArchSpecInput {
  return readScaleSimCfg(text, file).input;
}
