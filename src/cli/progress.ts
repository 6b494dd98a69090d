// A terminal progress bar (bytes, MB/s, ETA) on stderr when it is a TTY; silent on pipes and with --json.
import { formatSize } from '../units.js';
import { printable } from '../escape.js';

export interface ProgressBar {
  update(done: number, total: number): void;
  /** Clear the bar; later updates (work still in flight after an error or Ctrl-C) draw nothing. */
  done(): void;
}

const SILENT: ProgressBar = { update() {}, done() {} };

export function progressBar(label: string, enabled: boolean, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  if (!enabled || !stream.isTTY) return SILENT;
  const start = Date.now();
  let last = 0;
  let shown = false;
  let closed = false;
  return {
    update(done, total) {
      const now = Date.now();
      if (closed || (now - last < 100 && done < total)) return;
      last = now;
      shown = true;
      const frac = total > 0 ? Math.min(1, done / total) : 1;
      const secs = Math.max(0.001, (now - start) / 1000);
      const rate = done / secs;
      const eta = rate > 0 ? Math.max(0, (total - done) / rate) : 0;
      const width = 24;
      const fill = Math.round(frac * width);
      const bar = `${'#'.repeat(fill)}${'-'.repeat(width - fill)}`;
      const line = `${printable(label)} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${formatSize(done)}/${formatSize(total)} ${(rate / 1e6).toFixed(0)} MB/s ETA ${eta.toFixed(0)}s`;
      stream.write(`\r${line.slice(0, (stream.columns || 100) - 1)}\x1b[K`);
    },
    done() {
      closed = true;
      if (shown) stream.write('\r\x1b[K');
      shown = false;
    },
  };
}
