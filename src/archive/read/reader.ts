// The self-healing reader: verified byte ranges of data segments, chunk by chunk, rebuilt on the fly through the
// stripes that protect them (level 1, and in Tier 4 level 2), peeling at chunk level like repair does per file.
import { BlockFrameError } from '../../errors.js';
import { SlabPool, type ComputePool } from '../../compute/pool.js';
import { CHUNK_INDEX_FILE, HASH_LEN } from '../../layout/chunks.js';
import { lossReasons, planRecovery, type CodeLayout } from '../../layout/code.js';
import { chunkCv, manifestGeometry, type Manifest } from '../../layout/manifest.js';
import type { Geometry } from '../../layout/geometry.js';
import { readSection } from '../chunk-index.js';
import type { Repository } from '../repo.js';
import { readFailure, readShard } from '../shards.js';
import { checkAborted } from '../../flow.js';
import { archiveCtx, computeSection, type ArchiveCtx } from './stripe.js';
import { HealCache } from './heal-cache.js';

export type DamageKind = 'missing' | 'truncated' | 'corrupt';

export interface Damage {
  path: string;
  kind: DamageKind;
  /** The stripe the file belongs to, numbered within its level (a block, or a Tier 4 level-2 stripe). */
  stripe: number;
  level: 1 | 2;
  /** With several stores: the store (1-based) the file is on. */
  store?: number;
  /** Set when the file could not be read because its store did not answer or refused access: the file may be fine. */
  cause?: 'unavailable' | 'denied';
}

/** Largest range one readInto call serves; callers split bigger reads. */
export const READ_WINDOW = 4 * 1024 * 1024;
/** Bytes per shard gathered at once when rebuilding chunks from the rest of the stripe. */
const HEAL_BATCH = 256 * 1024;
/** A shard found missing (or its store silent) is taken as lost, without trying it again, for this long. */
const GONE_MS = 10_000;
/**
 * Local scratch bytes at most for by-products of rebuilds (HealCache): a stripe row over a dead store rebuilds
 * every lost data shard of that row at once, and a sequential read reaches the others later.
 */
const HEAL_CACHE_BYTES = 512 * 1024 * 1024;
/** Rebuild buffers kept for reuse (allocating shared memory per batch churns the heap on a degraded archive). */
const HEAL_BUFFERS_KEPT = 6;

export class ArchiveReader {
  /** Damage seen while reading, by shard path: repair can fix it. */
  readonly damage = new Map<string, Damage>();
  /**
   * Degraded reads so far, in batches (up to 256 KiB of one shard): stripe rows rebuilt (`rows`), and batches served
   * from by-products of earlier rows (`fromCache`) or found there but failing their chunk hashes (`cacheRejected`,
   * rebuilt again).
   */
  readonly healing = { rows: 0, fromCache: 0, cacheRejected: 0 };
  private readonly ctx: ArchiveCtx;
  private readonly code: CodeLayout;
  private readonly C: number;
  private readonly sections = new Map<number, Uint8Array>();
  /** Shards whose chunk hashes are unknown: lost, and their stripe's damaged chunk-index section could not be recomputed. */
  private readonly unhashed = new Set<number>();
  private readonly scratch: SlabPool;
  /** Shards whose reads failed as a whole (missing, or their store silent), and when: see GONE_MS. */
  private readonly gone = new Map<number, number>();
  private readonly healFree: Uint8Array[] = [];
  private readonly healSize: number;
  /** Chunk-hash output buffers kept for reuse, each hashSize bytes (enough for a READ_WINDOW read and its edge chunks). */
  private readonly hashFree: Uint8Array[] = [];
  private readonly hashSize: number;
  /** Data shards rebuilt alongside the one asked for (a stripe row over a dead store), until a read asks for them. */
  private readonly heal: HealCache | null;
  private readonly segmentShards: Set<number>;
  /** Chunks per rebuild batch; batches are aligned to multiples of it, so by-products line up with later reads. */
  private readonly per: number;

  constructor(
    repo: Repository,
    readonly dir: string,
    readonly manifest: Manifest,
    private readonly pool: ComputePool,
    private readonly signal?: AbortSignal,
    /** Called the first time each damaged file is seen (the bytes returned are still correct). */
    private readonly onDamageSeen?: (d: Damage) => void,
    /** Keep shard files open between reads for a short while (a server; see Backend.getHeld). */
    holdFiles = false,
    /**
     * Keep the data shards a degraded read rebuilds alongside the one it asked for (HealCache: a local scratch
     * file, opened at the first such rebuild and removed by close()). For readers of whole files (restore, cat,
     * the servers); not for the many small pack archives of a folder restore, which would each hold a file open.
     */
    healCache = false,
  ) {
    this.ctx = archiveCtx(repo, dir, manifest, pool, { signal, holdFiles });
    this.code = this.ctx.code;
    this.C = this.code.chunkSize;
    this.scratch = new SlabPool(4, READ_WINDOW + 2 * this.C);
    this.hashSize = (Math.ceil(READ_WINDOW / this.C) + 2) * HASH_LEN;
    this.per = Math.max(1, Math.floor(HEAL_BATCH / this.C));
    const batch = this.per * this.C;
    this.heal = healCache ? new HealCache(batch, HEAL_CACHE_BYTES, this.per) : null;
    this.segmentShards = new Set(this.code.segments);
    this.healSize = this.code.stripes.reduce((mx, st) => Math.max(mx, (st.k + st.m) * Math.min(batch, Math.max(1, st.shardSize))), 1);
  }

  /**
   * Removes the heal cache's scratch file. Shard files are opened per read, or held for a moment (holdFiles,
   * checked against the path on each read), so a repaired file is seen at once.
   */
  async close(): Promise<void> {
    await this.heal?.close();
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
      await this.fetch(n, c0, c1, view);
      if (buf) out.set(view.subarray(from - start, to - start));
    } finally {
      if (buf) this.scratch.release(buf);
    }
  }

  private geom?: Geometry;
  /** The manifest's geometry (segments and stripes), computed once. */
  get geometry(): Geometry {
    return (this.geom ??= manifestGeometry(this.manifest));
  }

  /** The chunk-aligned bounds [start, end) around bytes [from, to) of data segment `seg`: what readSpan reads. */
  spanBounds(seg: number, from: number, to: number): { start: number; end: number } {
    const size = this.code.shards[this.code.segments[seg]!]!.size;
    const C = this.C;
    return { start: Math.floor(from / C) * C, end: Math.min(Math.ceil(to / C) * C, size) };
  }

  /**
   * Verified bytes [from, to) of data segment `seg` (to - from <= READ_WINDOW), read together with the rest of their
   * first and last chunks straight into `buf` (shared memory, at least spanBounds' length): no scratch buffer and
   * no copy. Returns the view of [from, to) inside `buf`.
   */
  async readSpan(seg: number, from: number, to: number, buf: Uint8Array): Promise<Uint8Array> {
    checkAborted(this.signal);
    const n = this.code.segments[seg]!;
    const size = this.code.shards[n]!.size;
    if (from < 0 || to > size || to - from > READ_WINDOW || from > to) throw new BlockFrameError('BF_INTERNAL', `bad segment read ${seg}:${from}-${to}`);
    const { start, end } = this.spanBounds(seg, from, to);
    if (buf.length < end - start || !(buf.buffer instanceof SharedArrayBuffer)) throw new BlockFrameError('BF_INTERNAL', `span buffer too small or not shared for ${seg}:${from}-${to}`);
    if (from === to) return buf.subarray(0, 0);
    const C = this.C;
    await this.fetch(n, start / C, Math.ceil(to / C), buf.subarray(0, end - start));
    return buf.subarray(from - start, to - start);
  }

  /** Verified chunks [c0, c1) of shard `n` into `view`: read, and rebuild the chunks that fail their hash. */
  private async fetch(n: number, c0: number, c1: number, view: Uint8Array): Promise<void> {
    const good = await this.readChunks(n, c0, c1, view);
    for (const [c, ce] of badRuns(good, c0)) await this.rebuild(n, c, ce, view.subarray((c - c0) * this.C));
  }

  /** The stripe's verified section of chunks.idx (from any store), or its recomputation from verified shards. */
  private async section(si: number): Promise<Uint8Array> {
    const cached = this.sections.get(si);
    if (cached) return cached;
    let section = await readSection(this.ctx, si);
    if (!section) {
      // chunks.idx is damaged here on every store: recompute the section from the shards (one pass over the stripe).
      this.note(CHUNK_INDEX_FILE, 'corrupt', si);
      // Partial: shards beyond repair keep no chunk hashes, so reads of the intact ones still verify.
      const got = await computeSection(this.ctx, si, true);
      section = got.bytes;
      for (const n of got.unknown) this.unhashed.add(n);
    }
    if (this.sections.size > 64) this.sections.delete(this.sections.keys().next().value!);
    this.sections.set(si, section);
    return section;
  }

  private note(path: string, kind: DamageKind, si: number, shard?: number, cause?: Damage['cause']): void {
    const st = this.code.stripes[si]!;
    const store = shard !== undefined && this.ctx.repo.set.size > 1 ? { store: this.ctx.where[shard]! + 1 } : {};
    if (this.damage.has(path)) return;
    const d: Damage = { path, kind, stripe: st.index, level: st.level, ...store, ...(cause ? { cause } : {}) };
    this.damage.set(path, d);
    this.onDamageSeen?.(d);
  }

  /**
   * Read chunks [c0, c1) of shard `n` into `view`, zero past the shard's end, and check each chunk against
   * chunks.idx. Returns which chunks verified.
   */
  private async readChunks(n: number, c0: number, c1: number, view: Uint8Array): Promise<boolean[]> {
    const C = this.C;
    const sh = this.code.shards[n]!;
    const want = Math.max(0, Math.min(view.length, sh.size - c0 * C));
    let got = 0;
    let failed: ReturnType<typeof readFailure> | undefined;
    try {
      got = want > 0 ? await readShard(this.ctx, n, view.subarray(0, want), c0 * C) : 0;
    } catch (err) {
      failed = readFailure(err);
    }
    view.fill(0, got);
    const sec = await this.section(sh.home);
    const hashes = this.hashBuffer((c1 - c0) * HASH_LEN);
    try {
      return await this.checkChunks(n, c0, c1, view, want, got, failed, sec, hashes);
    } finally {
      if (this.hashFree.length < 16 && hashes.buffer.byteLength === this.hashSize) this.hashFree.push(new Uint8Array(hashes.buffer));
    }
  }

  /** A shared buffer for `bytes` of chunk hashes: reused when small enough (a fresh SharedArrayBuffer per read costs). */
  private hashBuffer(bytes: number): Uint8Array {
    if (bytes > this.hashSize) return new Uint8Array(new SharedArrayBuffer(bytes));
    return (this.hashFree.pop() ?? new Uint8Array(new SharedArrayBuffer(this.hashSize))).subarray(0, bytes);
  }

  private async checkChunks(n: number, c0: number, c1: number, view: Uint8Array, want: number, got: number, failed: ReturnType<typeof readFailure> | undefined, sec: Uint8Array, hashes: Uint8Array): Promise<boolean[]> {
    const C = this.C;
    const sh = this.code.shards[n]!;
    const good: boolean[] = new Array(c1 - c0).fill(false);
    const nChunks = Math.min(c1, sh.chunkCount) - c0;
    if (nChunks > 0) await this.pool.chunkHashes(view.subarray(0, Math.min(want, nChunks * C)), C, hashes, chunkCv(this.manifest, c0, sh.size));
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
    const unread = failed === 'missing' || failed === 'unavailable' || failed === 'denied';
    if (unread) this.gone.set(n, Date.now());
    if (failed) this.note(sh.path, unread ? 'missing' : 'corrupt', sh.home, n, failed === 'unavailable' || failed === 'denied' ? failed : undefined);
    else if (bad) this.note(sh.path, got < want ? 'truncated' : 'corrupt', sh.home, n);
    return good;
  }

  /**
   * Rebuild chunks [ca, cb) of shard `n` into `dest`, a batch at a time, by peeling at chunk level: plan with
   * planRecovery for `n` (a stripe that rebuilds it at once, else level 1 first, then level 2) as if only `n` and
   * the sources already found bad were lost, carry the steps out in memory, and when a
   * source chunk turns out bad too, count it as lost and plan again. Every rebuilt chunk is checked against its
   * hash. Memory is bounded by the batch size times the shards found lost.
   */
  private async rebuild(n: number, ca: number, cb: number, dest: Uint8Array): Promise<void> {
    const C = this.C;
    const per = this.per;
    for (let b0 = ca, b1 = 0; b0 < cb; b0 = b1) {
      b1 = Math.min(cb, (Math.floor(b0 / per) + 1) * per);
      if (await this.fromHealCache(n, b0, b1, dest.subarray((b0 - ca) * C, Math.min(dest.length, (b1 - ca) * C)))) continue;
      // Shards already known gone (a dead store's) are planned around at once, not rediscovered batch by batch.
      const now = Date.now();
      const lost = new Set([n, ...[...this.gone].filter(([, t]) => now - t < GONE_MS).map(([s]) => s)]);
      const rebuilt = new Map<number, Uint8Array>();
      const held: Uint8Array[] = [];
      try {
        while (!rebuilt.has(n)) {
          const plan = planRecovery(this.code, lost, n);
          if (plan.lost.includes(n)) throw this.unrecoverable(n, b0, b1, lost);
          for (const step of plan.steps) {
            const bad = await this.applyStep(step.stripe, step.shards, b0, b1, rebuilt, n, held);
            for (const s of bad) lost.add(s);
            if (bad.length) break;
            for (const s of step.shards) lost.delete(s);
            if (rebuilt.has(n)) break;
          }
        }
        const got = rebuilt.get(n)!;
        dest.set(got.subarray(0, Math.min(got.length, dest.length - (b0 - ca) * C)), (b0 - ca) * C);
      } finally {
        for (const h of held) if (this.healFree.length < HEAL_BUFFERS_KEPT) this.healFree.push(h);
      }
    }
  }

  /**
   * Rebuild `targets` (shard ids) over chunks [b0, b1) from the other shards of stripe `si`: rebuilt ones from
   * `rebuilt`, the rest read and checked. Returns the sources whose chunks failed (nothing is rebuilt then);
   * otherwise stores each target's verified bytes in `rebuilt`.
   */
  private async applyStep(si: number, targets: number[], b0: number, b1: number, rebuilt: Map<number, Uint8Array>, target: number, held: Uint8Array[]): Promise<number[]> {
    const C = this.C;
    const st = this.code.stripes[si]!;
    const len = Math.max(0, Math.min(b1 * C, st.shardSize) - b0 * C);
    const need = (st.k + st.m) * len;
    let mem = need <= this.healSize ? this.healFree.pop() : undefined;
    mem ??= new Uint8Array(new SharedArrayBuffer(Math.max(need, this.healSize)));
    if (mem.length >= this.healSize) held.push(mem);
    mem = mem.subarray(0, need);
    const views = st.slots.map((_, i) => mem.subarray(i * len, (i + 1) * len));
    const bad: number[] = [];
    await Promise.all(
      st.slots.map(async (s, i) => {
        // Absent slots are zeros (a reused buffer is cleared there, and only there: reads zero past what they got,
        // and the rebuild overwrites its targets whole); targets are what we rebuild.
        if (s === null) return views[i]!.fill(0);
        if (targets.includes(s)) return;
        const have = rebuilt.get(s);
        if (have) {
          views[i]!.set(have.subarray(0, len));
          return views[i]!.fill(0, Math.min(len, have.length));
        }
        if ((await this.readChunks(s, b0, b1, views[i]!)).includes(false)) bad.push(s);
      }),
    );
    if (bad.length) return bad;
    const shards = st.slots.map((s, i) => (s !== null && targets.includes(s) ? null : views[i]!));
    const outs = targets.map((s) => views[st.slots.indexOf(s)]!);
    if (len > 0) await this.pool.reconstruct(st.k, st.m, shards, outs);
    this.healing.rows++;
    for (const s of targets) {
      const out = views[st.slots.indexOf(s)]!;
      await this.checkRebuilt(s, b0, b1, out, target);
      rebuilt.set(s, out);
    }
    // Data shards rebuilt alongside (verified above) are kept for the reads that will ask for them.
    const heal = this.heal;
    const keep = heal ? targets.filter((s) => s !== target && this.segmentShards.has(s) && !this.unhashed.has(s)) : [];
    await Promise.all(keep.map((s) => heal!.put(s, b0, b1, views[st.slots.indexOf(s)]!.subarray(0, Math.max(0, Math.min(len, this.code.shards[s]!.size - b0 * C))))));
    return [];
  }

  /**
   * Chunks [b0, b1) of shard `n` from the heal cache into `dest` (zero past the shard's end), checked against
   * chunks.idx: true when they were there and verify, false otherwise (rebuild them).
   */
  private async fromHealCache(n: number, b0: number, b1: number, dest: Uint8Array): Promise<boolean> {
    if (!this.heal || this.heal.size === 0 || this.unhashed.has(n)) return false;
    const got = await this.heal.take(n, b0, b1, this.C, dest);
    if (got < 0) return false;
    dest.fill(0, got);
    const ok = await this.rebuiltVerifies(n, b0, b1, dest);
    if (ok) this.healing.fromCache++;
    else this.healing.cacheRejected++;
    return ok;
  }

  /**
   * Rebuilt chunks [b0, b1) of shard `n` must match chunks.idx before anyone sees them. A by-product shard with no
   * known chunk hashes is let through (it is exact when its verified sources are), but it is never returned itself.
   */
  private async checkRebuilt(n: number, b0: number, b1: number, bytes: Uint8Array, target: number): Promise<void> {
    const sh = this.code.shards[n]!;
    const last = Math.min(b1, sh.chunkCount);
    if (last <= b0) return;
    const sec = await this.section(sh.home);
    if (this.unhashed.has(n)) {
      if (n !== target) return;
      throw new BlockFrameError('BF_UNRECOVERABLE', `archive ${this.dir}: ${sh.path} is lost and its chunk index can't be recomputed, so rebuilt bytes can't be checked`, {
        archive: this.dir,
        shard: sh.path,
      });
    }
    const bad = await this.firstBadChunk(n, b0, b1, bytes, sec);
    if (bad >= 0) throw new BlockFrameError('BF_UNRECOVERABLE', `archive ${this.dir}: rebuilt chunk ${bad} of ${sh.path} does not verify`, { archive: this.dir, shard: sh.path });
  }

  /** Do chunks [b0, b1) of shard `n` in `bytes` (from chunk b0) match chunks.idx? */
  private async rebuiltVerifies(n: number, b0: number, b1: number, bytes: Uint8Array): Promise<boolean> {
    const sh = this.code.shards[n]!;
    if (Math.min(b1, sh.chunkCount) <= b0) return true;
    return (await this.firstBadChunk(n, b0, b1, bytes, await this.section(sh.home))) < 0;
  }

  /** The first of chunks [b0, b1) of shard `n` in `bytes` whose hash is not the section's, or -1. */
  private async firstBadChunk(n: number, b0: number, b1: number, bytes: Uint8Array, sec: Uint8Array): Promise<number> {
    const C = this.C;
    const sh = this.code.shards[n]!;
    const last = Math.min(b1, sh.chunkCount);
    const hashes = new Uint8Array(new SharedArrayBuffer((last - b0) * HASH_LEN));
    await this.pool.chunkHashes(bytes.subarray(0, Math.min(bytes.length, sh.size - b0 * C)), C, hashes, chunkCv(this.manifest, b0, sh.size));
    for (let c = b0; c < last; c++) {
      const e = sh.chunkOffset - this.code.stripes[sh.home]!.section.offset + c * HASH_LEN;
      if (!equal(hashes.subarray((c - b0) * HASH_LEN, (c - b0 + 1) * HASH_LEN), sec.subarray(e, e + HASH_LEN))) return c;
    }
    return -1;
  }

  /** Shard `n` can't be rebuilt at chunks [b0, b1): say how many shards each of its stripes lost there. */
  private unrecoverable(n: number, b0: number, b1: number, lost: Set<number>): BlockFrameError {
    const sh = this.code.shards[n]!;
    const why = lossReasons(this.code, n, lost).join('; ');
    return new BlockFrameError('BF_UNRECOVERABLE', `archive ${this.dir}: chunks ${b0}-${b1 - 1} of ${sh.path} cannot be rebuilt there: ${why}`, {
      archive: this.dir,
      shard: sh.path,
    });
  }
}

/** Runs [c, ce) of false entries in `good` (indexed from chunk c0). */
function badRuns(good: boolean[], c0: number): [number, number][] {
  const runs: [number, number][] = [];
  for (let i = 0; i < good.length; i++) {
    if (good[i]) continue;
    let j = i;
    while (j < good.length && !good[j]) j++;
    runs.push([c0 + i, c0 + j]);
    i = j;
  }
  return runs;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
