// By-products of degraded reads: data shards rebuilt alongside the one a read asked for, kept in a local scratch
// file until a read asks for them, so a sequential read over a dead store rebuilds each stripe row once.
import { Spool, type SpoolFile } from '../../store/spool.js';
import { scratchDir } from '../shards.js';

/** Where one kept batch sits: its slot in the file, the chunks [c0, c1) it covers, and its bytes. */
interface Entry {
  slot: number;
  c0: number;
  c1: number;
  bytes: number;
}

/**
 * A bounded cache of rebuilt shard bytes, keyed by shard id and batch: at most `limitBytes` on local disk (in the
 * scratch area, BLOCKFRAME_SPOOL or the system temp directory), in slots of `slotBytes` reused as entries are taken
 * or evicted (oldest first). An entry is handed out once (take removes it): a sequential read needs each by-product
 * once. Bytes come back as they were put; the reader checks them against chunks.idx again before using them.
 * Disk errors never fail a read: the cache turns itself off and the reader rebuilds as before.
 */
export class HealCache {
  private spool: Promise<{ spool: Spool; file: SpoolFile } | null> | null = null;
  private readonly entries = new Map<string, Entry>();
  private readonly free: number[] = [];
  private slots = 0;
  private off = false;
  private readonly maxSlots: number;

  constructor(
    /** Bytes of one slot: the largest batch of one shard put here. */
    private readonly slotBytes: number,
    limitBytes = 512 * 1024 * 1024,
    /** Chunks per batch: entries are keyed by the batch a chunk falls in. */
    private readonly per = 1,
  ) {
    this.maxSlots = Math.max(1, Math.floor(limitBytes / Math.max(1, slotBytes)));
  }

  /** Entries held (for tests). */
  get size(): number {
    return this.entries.size;
  }

  private key(n: number, c0: number): string {
    return `${n}:${Math.floor(c0 / this.per)}`;
  }

  /**
   * Keep `bytes` (chunks [c0, c1) of shard `n`, at most slotBytes). Resolves once written (or dropped: cache off,
   * or a disk error, which turns it off).
   */
  async put(n: number, c0: number, c1: number, bytes: Uint8Array): Promise<void> {
    if (this.off || bytes.length > this.slotBytes) return;
    const slot = this.takeSlot();
    if (slot < 0) return;
    try {
      const s = await this.open();
      if (!s) return void this.free.push(slot);
      if (bytes.length > 0) await s.file.write(bytes, slot * this.slotBytes);
    } catch {
      this.off = true;
      return;
    }
    const k = this.key(n, c0);
    const old = this.entries.get(k);
    if (old) {
      this.entries.delete(k);
      this.free.push(old.slot);
    }
    this.entries.set(k, { slot, c0, c1, bytes: bytes.length });
  }

  /**
   * Chunks [c0, c1) of shard `n` into `into` (from chunk c0; `into` holds at least the bytes asked for), when an
   * entry covers them: the number of bytes read (the shard's own bytes; past its end is the caller's zeros), or
   * -1 for a miss. The entry is gone afterwards either way it was found.
   */
  async take(n: number, c0: number, c1: number, chunkSize: number, into: Uint8Array): Promise<number> {
    const k = this.key(n, c0);
    const e = this.entries.get(k);
    if (!e || e.c0 > c0 || e.c1 < c1 || this.off) return -1;
    this.entries.delete(k);
    try {
      const s = await this.spool;
      if (!s) return -1;
      const from = (c0 - e.c0) * chunkSize;
      const want = Math.max(0, Math.min(e.bytes - from, (c1 - c0) * chunkSize, into.length));
      const got = want > 0 ? await s.file.read(into.subarray(0, want), want, e.slot * this.slotBytes + from) : 0;
      return got === want ? got : -1;
    } catch {
      this.off = true;
      return -1;
    } finally {
      this.free.push(e.slot);
    }
  }

  /** Remove the scratch file; the cache keeps nothing afterwards. */
  async close(): Promise<void> {
    this.off = true;
    this.entries.clear();
    const s = await this.spool?.catch(() => null);
    this.spool = null;
    if (!s) return;
    await s.file.close().catch(() => undefined);
    await s.spool.discard().catch(() => undefined);
  }

  /** A free slot: a released one, a new one while under the limit, else the oldest entry's; -1 when all are busy. */
  private takeSlot(): number {
    const f = this.free.pop();
    if (f !== undefined) return f;
    if (this.slots < this.maxSlots) return this.slots++;
    const first = this.entries.entries().next();
    if (first.done) return -1;
    const [k, oldest] = first.value;
    this.entries.delete(k);
    return oldest.slot;
  }

  private open(): Promise<{ spool: Spool; file: SpoolFile } | null> {
    this.spool ??= (async () => {
      await Spool.cleanStale(scratchDir()).catch(() => undefined);
      const spool = await Spool.create(scratchDir());
      try {
        return { spool, file: await spool.create('heal') };
      } catch (err) {
        await spool.discard().catch(() => undefined);
        throw err;
      }
    })().catch(() => ((this.off = true), null));
    return this.spool;
  }
}
