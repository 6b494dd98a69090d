// A counting semaphore: at most `size` tasks run at once, the rest wait in arrival order.
import { BlockFrameError } from './errors.js';

/**
 * At most `size` concurrent runs of `run(fn)`; later callers wait in FIFO order and a freed slot passes straight
 * to the next waiter. A waiter whose signal aborts leaves the queue with BF_ABORTED (it never took a slot).
 */
export class Slots {
  private busy = 0;
  private readonly queue: { go: () => void }[] = [];
  constructor(readonly size: number) {
    if (!(size >= 1)) throw new RangeError(`Slots needs at least 1 slot, not ${size}`);
  }

  /** How many runs hold a slot now. */
  get running(): number {
    return this.busy;
  }

  /** How many runs are waiting for a slot now. */
  get waiting(): number {
    return this.queue.length;
  }

  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw new BlockFrameError('BF_ABORTED', 'operation cancelled');
    if (this.busy >= this.size) {
      await new Promise<void>((resolve, reject) => {
        const entry = {
          go: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        const onAbort = () => {
          const i = this.queue.indexOf(entry);
          if (i >= 0) this.queue.splice(i, 1);
          reject(new BlockFrameError('BF_ABORTED', 'operation cancelled'));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.queue.push(entry);
      });
    } else this.busy++;
    try {
      return await fn();
    } finally {
      const next = this.queue.shift();
      if (next) next.go(); // the slot passes straight to the next waiter
      else this.busy--;
    }
  }
}
