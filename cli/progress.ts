/**
 * Progress display for long work: a bar redrawn in place on a TTY, periodic plain lines otherwise
 * (CI logs, pipes). Writes to stderr so --json output on stdout stays machine-readable.
 */
export interface Progress {
  update(done: number, total: number): void;
  done(): void;
}

export function progress(label: string, stream: NodeJS.WriteStream = process.stderr, quiet = false): Progress {
  if (quiet) return { update() {}, done() {} };
  const tty = stream.isTTY === true;
  const started = Date.now();
  let lastLine = 0;
  let lastPct = -1;
  return {
    update(done, total) {
      const frac = total > 0 ? done / total : 1;
      const pct = Math.floor(frac * 100);
      const secs = (Date.now() - started) / 1000;
      if (tty) {
        if (pct === lastPct) return;
        lastPct = pct;
        const width = 30;
        const fill = Math.round(frac * width);
        stream.write(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${pct}% ${done}/${total} ${secs.toFixed(0)}s`);
      } else if (Date.now() - lastLine > 5000 || done === total) {
        lastLine = Date.now();
        stream.write(`${label}: ${done}/${total} (${pct}%) ${secs.toFixed(1)}s\n`);
      }
    },
    done() {
      if (tty) stream.write('\n');
    },
  };
}
