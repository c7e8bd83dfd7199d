/**
 * Ctrl-C (SIGINT) and SIGTERM while qloom has a file half-written: the temp files in flight
 * (scenarios/files.ts's registry — a trace being streamed, a result or point being written) are
 * removed, one line goes to stderr, and the process exits 130 / 143.
 *
 * The handlers are installed only while a temp file is in flight. A handler runs when the event
 * loop gets a turn, never in the middle of synchronous work, so one installed for the whole run
 * would hold Ctrl-C back until a long simulation returned; without one the signal ends the process
 * at once, which is right when there is nothing to clean up. While a file is being written,
 * long work gives the loop a turn between batches (scenarios/evaluate.ts), where the handler runs.
 */
import { onTempFiles, removeTempFiles, tempFilesInFlight } from '../scenarios/files.js';

const EXIT: Readonly<Record<string, number>> = { SIGINT: 130, SIGTERM: 143 };
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

export function handleInterrupts(command: string): void {
  let armed = false;
  const handler = (signal: NodeJS.Signals): void => {
    const removed = removeTempFiles();
    const what = removed.length ? `; removed ${removed.length} unfinished file${removed.length === 1 ? '' : 's'}` : '';
    process.stderr.write(`\nqloom ${command}: interrupted (${signal})${what}\n`);
    process.exit(EXIT[signal] ?? 1);
  };
  const disarm = (): void => {
    if (!armed || tempFilesInFlight().length > 0) return;
    armed = false;
    for (const s of SIGNALS) process.off(s, handler);
  };
  onTempFiles((count) => {
    if (count > 0) {
      if (armed) return;
      armed = true;
      for (const s of SIGNALS) process.on(s, handler);
      return;
    }
    // a signal that came during the synchronous write waits in the event loop: the handler stays
    // until the loop has polled once more (a check phase, then the next one), so it is not dropped
    setImmediate(() => setImmediate(disarm));
  });
}
