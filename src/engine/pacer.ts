// A byte-rate limit for long reads (scrub): callers report bytes read and wait until the average is back under it.
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Paces reads to `rate` bytes per second on average. `take(n)` records n bytes and resolves once the elapsed
 * time covers every byte taken so far. Idle time earns at most one second of credit, so a pause never turns into
 * a burst above the limit for longer than that. Errors: the signal's reason when aborted while waiting.
 */
export class Pacer {
  private start = performance.now();
  private bytes = 0;

  constructor(
    readonly rate: number,
    private readonly signal?: AbortSignal,
  ) {}

  take = async (n: number): Promise<void> => {
    const now = performance.now();
    if (this.start + (this.bytes / this.rate) * 1000 < now - 1000) {
      this.start = now - 1000;
      this.bytes = 0;
    }
    this.bytes += n;
    const wait = this.start + (this.bytes / this.rate) * 1000 - now;
    if (wait <= 1) return;
    await sleep(wait, undefined, { signal: this.signal }).catch((err: unknown) => {
      throw this.signal?.aborted ? this.signal.reason : err;
    });
  };
}
