// The self-healing reader: verified byte ranges of data segments, chunk by chunk, rebuilt on the fly through any
// stripe that protects them (level 1, and in Tier 4 level 2, healing other lost shards through theirs).
import type { FileHandle } from 'node:fs/promises';
import { BlockFrameError, fromSystemError, isBlockFrameError } from '../errors.js';
import { SlabPool, type ComputePool } from '../compute/pool.js';
import { blake3Hex } from '../integrity/blake3.js';
import { CHUNK_INDEX_FILE, HASH_LEN } from '../layout/chunks.js';
import type { CodeLayout } from '../layout/code.js';
import type { Manifest } from '../layout/manifest.js';
import { openRegular, readFully } from '../store/fsutil.js';
import type { LocalStore } from '../store/local.js';
import { checkAborted } from './context.js';
import { archiveCtx, computeSection, type ArchiveCtx } from './stripe.js';

export type DamageKind = 'missing' | 'truncated' | 'corrupt';

export interface Damage {
  path: string;
  kind: DamageKind;
  /** The stripe the file belongs to, numbered within its level (a block, or a Tier 4 level-2 stripe). */
  stripe: number;
  level: 1 | 2;
}

/** Largest range one readInto call serves; callers split bigger reads. */
export const READ_WINDOW = 4 * 1024 * 1024;
/** Bytes per shard gathered at once when rebuilding chunks from the rest of the stripe. */
const HEAL_BATCH = 256 * 1024;
/** How many times a heal may in turn heal another lost shard through that shard's other stripe (Tier 4). */
const HEAL_DEPTH = 2;

interface ShardFile {
  fh: FileHandle | null;
  size: number;
}

export class ArchiveReader {
  /** Damage seen while reading, by shard path: repair can fix it. */
  readonly damage = new Map<string, Damage>();
  private readonly ctx: ArchiveCtx;
  private readonly code: CodeLayout;
  private readonly C: number;
  private readonly sections = new Map<number, Uint8Array>();
  private readonly files = new Map<string, Promise<ShardFile>>();
  private readonly scratch: SlabPool;

  constructor(
    store: LocalStore,
    readonly dir: string,
    readonly manifest: Manifest,
    private readonly pool: ComputePool,
    private readonly signal?: AbortSignal,
  ) {
    this.ctx = archiveCtx(store, dir, manifest, pool, { signal });
    this.code = this.ctx.code;
    this.C = this.code.chunkSize;
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
    const n = this.code.segments[seg]!;
    const size = this.code.shards[n]!.size;
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
      await this.fetch(n, c0, c1, view, HEAL_DEPTH, []);
      if (buf) out.set(view.subarray(from - start, to - start));
    } finally {
      if (buf) this.scratch.release(buf);
    }
  }

  /** Verified chunks [c0, c1) of shard `n` into `view`: read, and heal the chunks that fail their hash. */
  private async fetch(n: number, c0: number, c1: number, view: Uint8Array, depth: number, exclude: number[]): Promise<void> {
    const C = this.C;
    const good = await this.readChunks(n, c0, c1, view);
    for (let c = c0; c < c1; c++) {
      if (good[c - c0]) continue;
      let ce = c;
      while (ce < c1 && !good[ce - c0]) ce++;
      await this.recover(n, c, ce, view.subarray((c - c0) * C), depth, exclude);
      c = ce;
    }
  }

  /** The stripe's verified section of chunks.idx, or its recomputation from verified shards when it is damaged. */
  private async section(si: number): Promise<Uint8Array> {
    const cached = this.sections.get(si);
    if (cached) return cached;
    const want = this.code.stripes[si]!.section;
    const sec = new Uint8Array(want.length);
    const idx = await this.file(CHUNK_INDEX_FILE, -1);
    const n = idx.fh ? await readFully(idx.fh, sec, want.length, want.offset) : 0;
    let section: Uint8Array = sec;
    if (n !== want.length || blake3Hex(sec) !== want.hash) {
      // chunks.idx is damaged here: recompute the section from the shards themselves (one pass over the stripe).
      this.note(CHUNK_INDEX_FILE, idx.fh ? 'corrupt' : 'missing', si);
      section = await computeSection(this.ctx, si);
    }
    if (this.sections.size > 64) this.sections.delete(this.sections.keys().next().value!);
    this.sections.set(si, section);
    return section;
  }

  private note(path: string, kind: DamageKind, si: number): void {
    const st = this.code.stripes[si]!;
    if (!this.damage.has(path)) this.damage.set(path, { path, kind, stripe: st.index, level: st.level });
  }

  /** Open (once) and size-check a file of the archive; size -1 skips the check. */
  private file(path: string, expected: number, stripe = -1): Promise<ShardFile> {
    let f = this.files.get(path);
    if (!f) {
      f = (async () => {
        const abs = this.ctx.store.path(this.dir, path);
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
   * Read chunks [c0, c1) of shard `n` into `view`, zero past the shard's end, and check each chunk against
   * chunks.idx. Returns which chunks verified.
   */
  private async readChunks(n: number, c0: number, c1: number, view: Uint8Array): Promise<boolean[]> {
    const C = this.C;
    const sh = this.code.shards[n]!;
    const good: boolean[] = new Array(c1 - c0).fill(false);
    const f = await this.file(sh.path, sh.size, sh.home);
    const want = Math.max(0, Math.min(view.length, sh.size - c0 * C));
    const got = f.fh ? await readFully(f.fh, view, want, c0 * C) : 0;
    view.fill(0, got);
    const sec = await this.section(sh.home);
    const hashes = new Uint8Array(new SharedArrayBuffer((c1 - c0) * HASH_LEN));
    const nChunks = Math.min(c1, sh.chunkCount) - c0;
    if (nChunks > 0) await this.pool.chunkHashes(view.subarray(0, Math.min(want, nChunks * C)), C, hashes);
    const base = sh.chunkOffset - this.code.stripes[sh.home]!.section.offset;
    let bad = false;
    for (let c = c0; c < c1; c++) {
      if (c >= sh.chunkCount) {
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
    if (bad && f.fh) this.note(sh.path, f.size < sh.size ? 'truncated' : 'corrupt', sh.home);
    return good;
  }

  /**
   * Rebuild chunks [ca, cb) of shard `n` into `dest` through the stripes it belongs to that are not in `exclude`:
   * first each from the other shards as read, then (depth > 0) each with the other lost shards healed in turn.
   */
  private async recover(n: number, ca: number, cb: number, dest: Uint8Array, depth: number, exclude: number[]): Promise<void> {
    const routes = this.code.stripesOf[n]!.filter((si) => !exclude.includes(si));
    // Only Tier 4 has a second level through which other lost shards could be healed.
    const deep = depth > 0 && this.code.stripes.length > this.manifest.stripes.length;
    let last: unknown = null;
    for (const d of deep ? [0, depth] : [0]) {
      for (const si of routes) {
        try {
          await this.heal(si, n, ca, cb, dest, d, [...exclude, si]);
          return;
        } catch (err) {
          if (!isBlockFrameError(err, 'BF_UNRECOVERABLE')) throw err;
          last = err;
        }
      }
    }
    throw last ?? new BlockFrameError('BF_UNRECOVERABLE', `archive ${this.dir}: ${this.code.shards[n]!.path} is damaged and has no stripe left to rebuild it from`, { archive: this.dir });
  }

  /** Rebuild chunks [ca, cb) of shard `n` from the other shards of stripe `si`, into `dest`. */
  private async heal(si: number, n: number, ca: number, cb: number, dest: Uint8Array, depth: number, exclude: number[]): Promise<void> {
    const C = this.C;
    const st = this.code.stripes[si]!;
    const { k, m } = st;
    const target = st.slots.indexOf(n);
    const per = Math.max(1, Math.floor(HEAL_BATCH / C));
    for (let b0 = ca; b0 < cb; b0 += per) {
      const b1 = Math.min(cb, b0 + per);
      const len = Math.min(b1 * C, st.shardSize) - b0 * C;
      const mem = new Uint8Array(new SharedArrayBuffer((k + m) * len));
      const views = Array.from({ length: k + m }, (_, i) => mem.subarray(i * len, (i + 1) * len));
      const goods: boolean[][] = [];
      for (const [i, s] of st.slots.entries()) {
        if (i === target) goods.push(new Array(b1 - b0).fill(false));
        else if (s === null) goods.push(new Array(b1 - b0).fill(true)); // known zeros (views start zeroed)
        else goods.push(await this.readChunks(s, b0, b1, views[i]!));
      }
      const alive = (c: number) => goods.map((g, i) => i !== target && g[c - b0]!);
      const short = () => Array.from({ length: b1 - b0 }, (_, j) => alive(b0 + j).filter(Boolean).length < k).some(Boolean);
      if (depth > 0 && short()) await this.healOthers(st, target, b0, b1, views, goods, depth - 1, exclude);
      for (let c = b0; c < b1; ) {
        const key = alive(c).join();
        let ce = c + 1;
        while (ce < b1 && alive(ce).join() === key) ce++;
        const live = alive(c);
        if (live.filter(Boolean).length < k) {
          const lost = live.length - live.filter(Boolean).length - 1;
          throw new BlockFrameError('BF_UNRECOVERABLE', `archive ${this.dir}: ${st.label} has lost ${lost} shards at chunk ${c}; only ${m} can be rebuilt`, {
            archive: this.dir,
            stripe: st.index,
          });
        }
        const from = (c - b0) * C;
        const to = Math.min((ce - b0) * C, len);
        const shards = views.map((v, i) => (live[i] ? v.subarray(from, to) : null));
        const outs: Uint8Array[] = [];
        shards.forEach((s, i) => s === null && outs.push(views[i]!.subarray(from, to)));
        await this.pool.reconstruct(k, m, shards, outs);
        c = ce;
      }
      // The rebuilt chunks must match chunks.idx before anyone sees them.
      const rebuilt = views[target]!;
      const sh = this.code.shards[n]!;
      const sec = await this.section(sh.home);
      const hashes = new Uint8Array(new SharedArrayBuffer((b1 - b0) * HASH_LEN));
      const own = Math.min(len, sh.size - b0 * C);
      await this.pool.chunkHashes(rebuilt.subarray(0, own), C, hashes);
      for (let c = b0; c < Math.min(b1, sh.chunkCount); c++) {
        const e = sh.chunkOffset - this.code.stripes[sh.home]!.section.offset + c * HASH_LEN;
        if (!equal(hashes.subarray((c - b0) * HASH_LEN, (c - b0 + 1) * HASH_LEN), sec.subarray(e, e + HASH_LEN))) {
          throw new BlockFrameError('BF_UNRECOVERABLE', `archive ${this.dir}: rebuilt chunk ${c} of ${sh.path} does not verify`, { archive: this.dir, shard: sh.path });
        }
      }
      dest.set(rebuilt.subarray(0, Math.min(len, dest.length - (b0 - ca) * C)), (b0 - ca) * C);
    }
  }

  /** Heal, through their other stripes, the chunks other shards of `st` lost in [b0, b1); those that can't stay lost. */
  private async healOthers(st: CodeLayout['stripes'][number], target: number, b0: number, b1: number, views: Uint8Array[], goods: boolean[][], depth: number, exclude: number[]): Promise<void> {
    const C = this.C;
    for (const [i, s] of st.slots.entries()) {
      if (i === target || s === null) continue;
      const g = goods[i]!;
      for (let c = b0; c < b1; c++) {
        if (g[c - b0]) continue;
        let ce = c;
        while (ce < b1 && !g[ce - b0]) ce++;
        try {
          await this.recover(s, c, ce, views[i]!.subarray((c - b0) * C), depth, exclude);
          g.fill(true, c - b0, ce - b0);
        } catch (err) {
          if (!isBlockFrameError(err, 'BF_UNRECOVERABLE')) throw err;
        }
        c = ce;
      }
    }
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
