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

/** A progress bar that only appears once the work has taken more than a second. */
export function lateProgress(label: string): Progress {
  const started = Date.now();
  let bar: Progress | null = null;
  return {
    update(done, total) {
      if (!bar && Date.now() - started > 1000) bar = progress(label);
      bar?.update(done, total);
    },
    done() {
      bar?.done();
    },
  };
}

/** Progress of a pipeline's stages (stage, done, total) on stderr: one bar (or line series) per stage. */
export function stageProgress(model: string, quiet: boolean): { onProgress: (stage: string, d: number, t: number) => void; done: () => void } {
  let current = '';
  let bar: Progress | null = null;
  return {
    onProgress(stage, d, t) {
      if (stage !== current) {
        bar?.done();
        current = stage;
        bar = progress(`${model}: ${stage}`, process.stderr, quiet);
      }
      bar!.update(d, t);
    },
    done() {
      bar?.done();
    },
  };
}
