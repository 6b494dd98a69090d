// Ordered read-ahead: run up to `ahead` window jobs at once, hand their results out in order, release their slabs.

/** A window whose buffer stays valid until release(). */
export interface HeldWindow {
  view: Uint8Array;
  release(): void;
}

/** One job's result: the view handed out, and the slab it lives in (given back to `release`). */
export interface Filled {
  slab: Uint8Array;
  view: Uint8Array;
}

/**
 * Yield the results of `jobs` in order, with up to `ahead` of them running. A job that fails must have released its
 * own slab; the first failure is thrown when its turn comes. Leaving early (or failing) waits for the jobs in flight
 * and releases their slabs.
 */
export async function* prefetchInOrder(jobs: Iterator<() => Promise<Filled>>, ahead: number, release: (slab: Uint8Array) => void): AsyncGenerator<HeldWindow> {
  const queue: Promise<Filled>[] = [];
  let next = jobs.next();
  const start = () => {
    const p = next.value!();
    next = jobs.next();
    p.catch(() => undefined);
    queue.push(p);
  };
  try {
    while (!next.done && queue.length < ahead) start();
    while (queue.length) {
      const w = await queue.shift()!;
      if (!next.done) start();
      let released = false;
      yield {
        view: w.view,
        release: () => {
          if (!released) release(w.slab);
          released = true;
        },
      };
    }
  } finally {
    for (const r of await Promise.allSettled(queue)) if (r.status === 'fulfilled') release(r.value.slab);
  }
}
