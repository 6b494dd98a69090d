// The live set of a prune (docs/FORMAT.md §13.6 step 2): blob hashes as a sorted, deduplicated table of 32-byte records.

const HASH = 32;
/** Hashes added since the last sort are merged in once they reach this many (or the sorted part's size). */
const MERGE_AT = 65_536;

/**
 * A set of BLAKE3 hashes (64 lowercase hex in, 32 bytes held each). Adds go to an unsorted tail that is sorted and
 * merged (duplicates dropped) into the sorted table whenever it grows as large as the table (at least 65,536), so
 * memory stays within about twice 32 bytes per distinct hash however often a hash is added (3.2 MB per 100,000
 * blobs, FORMAT.md §13.6). `has` sorts what is pending, then binary-searches.
 */
export class LiveSet {
  private sorted = Buffer.alloc(0);
  private n = 0;
  private tail = Buffer.alloc(0);
  private t = 0;

  /** Distinct hashes held (after merging what is pending). */
  get size(): number {
    this.merge();
    return this.n;
  }

  /** Bytes held by the tables now. */
  get heldBytes(): number {
    return this.sorted.length + this.tail.length;
  }

  /** Add hash `hex` (64 lowercase hex). */
  add(hex: string): void {
    if (this.t * HASH === this.tail.length) {
      const next = Buffer.alloc(Math.max(1024, this.tail.length * 2));
      this.tail.copy(next);
      this.tail = next;
    }
    this.tail.write(hex, this.t * HASH, HASH, 'hex');
    this.t++;
    if (this.t >= Math.max(MERGE_AT, this.n)) this.merge();
  }

  /** Is `hex` in the set? */
  has(hex: string): boolean {
    this.merge();
    const key = Buffer.from(hex, 'hex');
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.sorted.compare(key, 0, HASH, mid * HASH, (mid + 1) * HASH);
      if (c === 0) return true;
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return false;
  }

  /** Every hash held, in byte order (64 lowercase hex each). */
  *hashes(): Generator<string> {
    this.merge();
    for (let i = 0; i < this.n; i++) yield this.sorted.toString('hex', i * HASH, (i + 1) * HASH);
  }

  private merge(): void {
    if (this.t === 0) return;
    const tail = this.tail;
    const order = new Uint32Array(this.t);
    for (let i = 0; i < this.t; i++) order[i] = i;
    order.sort((a, b) => tail.compare(tail, b * HASH, (b + 1) * HASH, a * HASH, (a + 1) * HASH));
    const out = Buffer.alloc((this.n + this.t) * HASH);
    let i = 0;
    let j = 0;
    let k = 0;
    const push = (src: Buffer, at: number): void => {
      if (k > 0 && out.compare(src, at * HASH, (at + 1) * HASH, (k - 1) * HASH, k * HASH) === 0) return;
      src.copy(out, k * HASH, at * HASH, (at + 1) * HASH);
      k++;
    };
    while (i < this.n || j < this.t) {
      if (j >= this.t || (i < this.n && this.sorted.compare(tail, order[j]! * HASH, (order[j]! + 1) * HASH, i * HASH, (i + 1) * HASH) <= 0)) push(this.sorted, i++);
      else push(tail, order[j++]!);
    }
    this.sorted = Buffer.from(out.subarray(0, k * HASH));
    this.n = k;
    this.tail = Buffer.alloc(0);
    this.t = 0;
  }
}
