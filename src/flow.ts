// Small async plumbing shared by the repository's readers and writers and the verbs: cancellation checks and
// fire-and-forget failure collection.
import { BlockFrameError } from './errors.js';

export function checkAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new BlockFrameError('BF_ABORTED', 'operation cancelled');
}

/** Collects the first failure of fire-and-forget promises, so a pipeline can stop at its next step. */
export class FirstError {
  private err: unknown;
  private failed = false;
  track<T>(p: Promise<T>): Promise<T | undefined> {
    return p.catch((e) => {
      if (!this.failed) {
        this.failed = true;
        this.err = e;
      }
      return undefined;
    });
  }
  throwIfAny(): void {
    if (this.failed) throw this.err;
  }
}

/** Wait for every promise to settle, then fail with the first rejection, if any. */
export async function settleAll(ps: (Promise<unknown> | undefined)[]): Promise<void> {
  const failed = (await Promise.allSettled(ps)).find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}
