/**
 * `qloom worker --queue redis://…`: runs scenario points from the queue until SIGINT / SIGTERM,
 * printing the queue's news (connected, Redis lost and back, a stalled point put back) on stderr.
 */
import { WORKER_USAGE } from './commands.js';
import type { Flags } from './flags.js';

export async function run(pos: string[], values: Record<string, unknown>, flags: Flags): Promise<void> {
  flags.positionalCount(0, 'the worker takes no arguments; the scenario comes with each point');
  flags.string('queue', 'redis://host:port[/db]');
  const concurrency = flags.int('concurrency', { min: 1, max: 1024, def: 1 })!;
  const stallS = flags.int('stall-timeout', { min: 1, max: 86_400, def: 30 })!;
  const { parseQueueUrl } = await import('../scenarios/queue.js');
  let queue;
  if (flags.given('queue')) {
    try {
      queue = parseQueueUrl(values.queue as string);
    } catch (e) {
      flags.problem((e as Error).message);
    }
  }
  flags.check(WORKER_USAGE);
  const { runQueueWorker } = await import('../scenarios/queue-worker.js');
  const ac = new AbortController();
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => ac.abort());
  const n = await runQueueWorker({
    queue: queue!,
    concurrency,
    stallTimeoutMs: stallS * 1000,
    signal: ac.signal,
    onNotice: (line) => process.stderr.write(`qloom worker: ${line}\n`),
  });
  process.stderr.write(`qloom worker: stopped after ${n} point${n === 1 ? '' : 's'}\n`);
}
