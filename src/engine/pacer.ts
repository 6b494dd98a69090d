// A byte-rate limit for long reads (scrub): callers report bytes read and wait until the average is back under it.
import { setTimeout as sleep } from 'node:timers/promises';

/** The most idle time that counts as credit for reading faster afterwards. */
const CREDIT_MS = 250;

/**
 * Paces reads to `rate` bytes per second on average. `take(n)` records n bytes and resolves once the elapsed
 * time covers every byte taken so far. The clock starts at the first read; idle time earns at most 250 ms of credit, so a
 * pause never turns into a burst above the limit for longer than that. Errors: the signal's reason when aborted while waiting.
 */
export class Pacer {
  private start = -1;
  private bytes = 0;

  constructor(
    readonly rate: number,
    private readonly signal?: AbortSignal,
  ) {}

  take = async (n: number): Promise<void> => {
    const now = performance.now();
    if (this.start < 0) this.start = now;
    if (this.start + (this.bytes / this.rate) * 1000 < now - CREDIT_MS) {
      this.start = now - CREDIT_MS;
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
