// The self-healing reader: verified byte ranges of data segments, chunk by chunk, rebuilt from parity on the fly.
import type { FileHandle } from 'node:fs/promises';
import { BlockFrameError, fromSystemError } from '../errors.js';
import { SlabPool, type ComputePool } from '../compute/pool.js';
import { blake3Hex } from '../integrity/blake3.js';
import { CHUNK_INDEX_FILE, chunkIndexLayout, HASH_LEN, type StripeChunks } from '../layout/chunks.js';
import { manifestGeometry, type Manifest } from '../layout/manifest.js';
import { openRegular, readFully } from '../store/fsutil.js';
import type { LocalStore } from '../store/local.js';
import { checkAborted } from './context.js';
import { archiveCtx, computeSection } from './stripe.js';

export type DamageKind = 'missing' | 'truncated' | 'corrupt';

export interface Damage {
  path: string;
  kind: DamageKind;
  stripe: number;
}

/** Largest range one readInto call serves; callers split bigger reads. */
export const READ_WINDOW = 4 * 1024 * 1024;
/** Bytes per shard gathered at once when rebuilding chunks from the rest of the stripe. */
const HEAL_BATCH = 256 * 1024;

interface ShardFile {
  fh: FileHandle | null;
  size: number;
}

export class ArchiveReader {
  /** Damage seen while reading, by shard path: repair can fix it. */
  readonly damage = new Map<string, Damage>();
  private readonly layout: StripeChunks[];
  private readonly C: number;
  private readonly sections = new Map<number, Uint8Array>();
  private readonly files = new Map<string, Promise<ShardFile>>();
  private readonly scratch: SlabPool;
  /** Global segment index → [stripe, position in stripe]. */
  private readonly where: [number, number][] = [];

  constructor(
    private readonly store: LocalStore,
    readonly dir: string,
    readonly manifest: Manifest,
    private readonly pool: ComputePool,
    private readonly signal?: AbortSignal,
  ) {
    this.C = manifest.chunk_index.chunk_size;
    this.layout = chunkIndexLayout(manifestGeometry(manifest), this.C);
    manifest.stripes.forEach((st, i) => st.data.forEach((_, j) => this.where.push([i, j])));
    this.scratch = new SlabPool(4, READ_WINDOW + 2 * this.C);
  }

  async close(): Promise<void> {
    const all = await Promise.all(this.files.values());
    this.files.clear();
    await Promise.all(all.map((f) => f.fh?.close().catch(() => undefined)));
  }

  /** Verified bytes [from, to) of data segment `seg` (global index) into `out` (shared memory, to - from <= READ_WINDOW). */
  async readInto(seg: number, from: number, to: number, out: Uint8Array): Promise<void> {
    checkAborted(this.signal);
    const [si, pos] = this.where[seg]!;
    const stripe = this.manifest.stripes[si]!;
    const size = stripe.data[pos]!.size;
    if (from < 0 || to > size || to - from > READ_WINDOW || from > to) throw new BlockFrameError('BF_INTERNAL', `bad segment read ${seg}:${from}-${to}`);
    if (from === to) return;
    const C = this.C;
    const c0 = Math.floor(from / C);
    const c1 = Math.ceil(to / C);
    const start = c0 * C;
    const end = Math.min(c1 * C, size);
    // Chunk-aligned reads into shared memory go straight to `out`; others through a scratch buffer.
    const direct = from === start && to === end && out.buffer instanceof SharedArrayBuffer;
    const buf = direct ? null : await this.scratch.acquire();
    try {
      const view = buf ? buf.subarray(0, end - start) : out.subarray(0, end - start);
      const good = await this.readChunks(si, pos, c0, c1, view);
      for (let c = c0; c < c1; c++) {
        if (good[c - c0]) continue;
        let ce = c;
        while (ce < c1 && !good[ce - c0]) ce++;
        await this.heal(si, pos, c, ce, view.subarray((c - c0) * C));
        c = ce;
      }
      if (buf) out.set(view.subarray(from - start, to - start));
    } finally {
      if (buf) this.scratch.release(buf);
    }
  }

  /** The stripe's verified section of chunks.idx, or its recomputation from verified shards when it is damaged. */
  private async section(si: number): Promise<Uint8Array> {
    const cached = this.sections.get(si);
    if (cached) return cached;
    const lay = this.layout[si]!;
    const sec = new Uint8Array(lay.length);
    const idx = await this.file(CHUNK_INDEX_FILE, -1);
    const n = idx.fh ? await readFully(idx.fh, sec, lay.length, lay.offset) : 0;
    let section: Uint8Array = sec;
    if (n !== lay.length || blake3Hex(sec) !== this.manifest.stripes[si]!.chunks_hash) {
      // chunks.idx is damaged here: recompute the section from the shards themselves (one pass over the stripe).
      this.note(CHUNK_INDEX_FILE, idx.fh ? 'corrupt' : 'missing', si);
      section = await computeSection(archiveCtx(this.store, this.dir, this.manifest, this.pool, { signal: this.signal }), si);
    }
    if (this.sections.size > 64) this.sections.delete(this.sections.keys().next().value!);
    this.sections.set(si, section);
    return section;
  }

  private note(path: string, kind: DamageKind, stripe: number): void {
    if (!this.damage.has(path)) this.damage.set(path, { path, kind, stripe });
  }

  /** Open (once) and size-check a file of the archive; size -1 skips the check. */
  private file(path: string, expected: number, stripe = -1): Promise<ShardFile> {
    let f = this.files.get(path);
    if (!f) {
      f = (async () => {
        const abs = this.store.path(this.dir, path);
        const fh = await openRegular(abs).catch((err) => Promise.reject(fromSystemError(err, abs, 'opening a shard')));
        if (typeof fh === 'string') {
          if (expected >= 0) this.note(path, fh === 'missing' ? 'missing' : 'corrupt', stripe);
          return { fh: null, size: 0 };
        }
        const { size } = await fh.stat();
        if (expected >= 0 && size !== expected) this.note(path, size < expected ? 'truncated' : 'corrupt', stripe);
        return { fh, size };
      })();
      this.files.set(path, f);
    }
    return f;
  }

  /**
   * Read chunks [c0, c1) of shard `n` of stripe `si` (data positions first, then parity rows) into `view`, zero
   * past the shard's end, and check each chunk against chunks.idx. Returns which chunks verified.
   */
  private async readChunks(si: number, n: number, c0: number, c1: number, view: Uint8Array): Promise<boolean[]> {
    const C = this.C;
    const lay = this.layout[si]!;
    const sh = lay.shards[n];
    const good: boolean[] = new Array(c1 - c0).fill(false);
    if (!sh) {
      // A data position past the end of a short last block: known zeros.
      view.fill(0);
      return good.fill(true);
    }
    const f = await this.file(sh.path, sh.size, si);
    const want = Math.max(0, Math.min(view.length, sh.size - c0 * C));
    const got = f.fh ? await readFully(f.fh, view, want, c0 * C) : 0;
    view.fill(0, got);
    const sec = await this.section(si);
    const hashes = new Uint8Array(new SharedArrayBuffer((c1 - c0) * HASH_LEN));
    const nChunks = Math.min(c1, sh.count) - c0;
    if (nChunks > 0) await this.pool.chunkHashes(view.subarray(0, Math.min(want, nChunks * C)), C, hashes);
    const base = sh.offset - lay.offset;
    let bad = false;
    for (let c = c0; c < c1; c++) {
      if (c >= sh.count) {
        good[c - c0] = true; // beyond the shard's own bytes: zero padding
        continue;
      }
      const chunkEnd = Math.min((c + 1) * C, sh.size);
      if (got < chunkEnd - c0 * C) {
        bad = true;
        continue;
      }
      const e = base + c * HASH_LEN;
      good[c - c0] = equal(hashes.subarray((c - c0) * HASH_LEN, (c - c0 + 1) * HASH_LEN), sec.subarray(e, e + HASH_LEN));
      if (!good[c - c0]) bad = true;
    }
    if (bad && f.fh) this.note(sh.path, f.size < sh.size ? 'truncated' : 'corrupt', si);
    return good;
  }

  /** Rebuild chunks [ca, cb) of shard `n` of stripe `si` from the stripe's other shards, into `dest`. */
  private async heal(si: number, n: number, ca: number, cb: number, dest: Uint8Array): Promise<void> {
    const C = this.C;
    const st = this.manifest.stripes[si]!;
    const k = this.manifest.erasure_coding.data_shards;
    const m = this.manifest.erasure_coding.parity_shards;
    const per = Math.max(1, Math.floor(HEAL_BATCH / C));
    for (let b0 = ca; b0 < cb; b0 += per) {
      const b1 = Math.min(cb, b0 + per);
      const len = Math.min(b1 * C, st.shard_size) - b0 * C;
      const mem = new Uint8Array(new SharedArrayBuffer((k + m) * len));
      const views = Array.from({ length: k + m }, (_, i) => mem.subarray(i * len, (i + 1) * len));
      // Shard slot i: data positions 0..k-1, then parity rows; layout.shards skips absent data positions.
      const slot = (i: number): number => (i < k ? i : st.data.length + (i - k));
      const goods: boolean[][] = [];
      for (let i = 0; i < k + m; i++) {
        if (i === n || (i >= k && i - k + st.data.length === n)) {
          goods.push(new Array(b1 - b0).fill(false));
          continue;
        }
        if (i < k && i >= st.data.length) {
          views[i]!.fill(0);
          goods.push(new Array(b1 - b0).fill(true));
          continue;
        }
        goods.push(await this.readChunks(si, slot(i), b0, b1, views[i]!));
      }
      const target = n < st.data.length ? n : k + (n - st.data.length);
      for (let c = b0; c < b1; ) {
        const present = (cc: number) => goods.map((g, i) => i !== target && g[cc - b0]!);
        const key = present(c).join();
        let ce = c + 1;
        while (ce < b1 && present(ce).join() === key) ce++;
        const alive = present(c);
        if (alive.filter(Boolean).length < k) {
          const lost = goods.map((g, i) => (g[c - b0] ? null : i)).filter((i) => i !== null);
          throw new BlockFrameError('BF_UNRECOVERABLE', `archive ${this.dir}: stripe ${si} has lost ${lost.length} shards at chunk ${c}; only ${m} can be rebuilt`, {
            archive: this.dir,
            stripe: si,
          });
        }
        const from = (c - b0) * C;
        const to = Math.min((ce - b0) * C, len);
        const shards = views.map((v, i) => (alive[i] ? v.subarray(from, to) : null));
        const outs: Uint8Array[] = [];
        shards.forEach((s, i) => s === null && outs.push(views[i]!.subarray(from, to)));
        await this.pool.reconstruct(k, m, shards, outs);
        c = ce;
      }
      // The rebuilt chunks must match chunks.idx before anyone sees them.
      const rebuilt = views[target]!;
      const sh = this.layout[si]!.shards[n]!;
      const sec = await this.section(si);
      const hashes = new Uint8Array(new SharedArrayBuffer((b1 - b0) * HASH_LEN));
      const own = Math.min(len, sh.size - b0 * C);
      await this.pool.chunkHashes(rebuilt.subarray(0, own), C, hashes);
      for (let c = b0; c < Math.min(b1, sh.count); c++) {
        const e = sh.offset - this.layout[si]!.offset + c * HASH_LEN;
        if (!equal(hashes.subarray((c - b0) * HASH_LEN, (c - b0 + 1) * HASH_LEN), sec.subarray(e, e + HASH_LEN))) {
          throw new BlockFrameError('BF_UNRECOVERABLE', `archive ${this.dir}: rebuilt chunk ${c} of ${sh.path} does not verify`, { archive: this.dir, shard: sh.path });
        }
      }
      dest.set(rebuilt.subarray(0, Math.min(len, dest.length - (b0 - ca) * C)), (b0 - ca) * C);
    }
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
