// Name records of the catalog (docs/FORMAT.md §13.4): which snapshots a name has, read, appended, removed, resolved
// (NAME, NAME@ID-PREFIX) and rebuilt from the snapshot headers. Written whole to every store, under a local lock per name.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { BlockFrameError } from '../errors.js';
import { nameRecordKey, NAMES_PREFIX, parseNameRecordKey, snapshotKey, SNAPSHOT_SUM } from '../layout/keys.js';
import { getAll, textSource } from '../store/backend.js';
import { withArchiveLock } from './lock.js';
import type { Repository } from './repo.js';
import { listSnapshotIds, readSnapshotHeader } from './snapshots.js';

/** No name record is plausibly larger than this (about 110 bytes per snapshot: 150,000 snapshots of one name). */
export const NAME_RECORD_MAX_BYTES = 16 * 1024 * 1024;
/** A name is 1 to this many characters (Unicode code points; docs/FORMAT.md §13.3). */
export const NAME_MAX_CHARS = 4096;

const HEX64 = /^[0-9a-f]{64}$/;

/** One snapshot of a name: its id (64 hex) and its header's `created_at` (ISO 8601, UTC). */
export interface NameSnapshot {
  id: string;
  created_at: string;
}

/** A name record, `catalog/names/{sha256(name)}.json`: the name's snapshots, ordered by created_at then id (latest last). */
export interface NameRecord {
  format_version: 3;
  kind: 'name';
  name: string;
  snapshots: NameSnapshot[];
}

const snapshotRef = z.object({ id: z.string().regex(HEX64), created_at: z.iso.datetime() });
const recordSchema = z.object({ format_version: z.literal(3), kind: z.literal('name'), name: z.string().min(1), snapshots: z.array(snapshotRef) });

/** The minimal fields of a snapshot header that names need (layout/snapshot.ts validates the whole header). */
const headerFields = z.object({ format_version: z.literal(3), kind: z.literal('snapshot'), name: z.string().min(1), created_at: z.iso.datetime() });

/** Parse a snapshot header's bytes to the name and created_at it carries. Errors: BF_SNAPSHOT_INVALID. */
export function headerNameAndTime(bytes: Uint8Array): { name: string; created_at: string } {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new BlockFrameError('BF_SNAPSHOT_INVALID', 'snapshot header is not UTF-8 JSON');
  }
  const r = headerFields.safeParse(v);
  if (!r.success) throw new BlockFrameError('BF_SNAPSHOT_INVALID', `snapshot header: field "${r.error.issues[0]!.path.join('.')}" invalid`, { field: r.error.issues[0]!.path.join('.') });
  return { name: r.data.name, created_at: r.data.created_at };
}

/** Throws BF_USAGE unless `name` is 1 to 4,096 characters (docs/FORMAT.md §13.3). */
export function checkName(name: string): void {
  const chars = [...name].length;
  if (chars < 1 || chars > NAME_MAX_CHARS) throw new BlockFrameError('BF_USAGE', `a snapshot name must be 1 to ${NAME_MAX_CHARS} characters (got ${chars})`, { field: 'name' });
}

/** SHA-256 of the name's UTF-8 bytes, 64 lowercase hex digits: the name record's key part. */
export function nameHash(name: string): string {
  return createHash('sha256').update(name, 'utf8').digest('hex');
}

/** Order of a name's snapshots: created_at, then id (the rebuild's order, docs/FORMAT.md §13.4). */
function bySnapshotTime(a: NameSnapshot, b: NameSnapshot): number {
  const t = Date.parse(a.created_at) - Date.parse(b.created_at);
  return t !== 0 ? t : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The record's text as written: two-space indented JSON and a newline. */
export function nameRecordText(rec: NameRecord): string {
  return `${JSON.stringify({ format_version: 3, kind: 'name', name: rec.name, snapshots: rec.snapshots.map((s) => ({ id: s.id, created_at: s.created_at })) }, null, 2)}\n`;
}

/** A damaged copy of a name record on one store (0-based), and why. */
export interface NameRecordDamage {
  store: number;
  why: string;
}

/** What readNameRecord found. */
export interface NameRecordRead {
  /** The record (the union of every valid copy's snapshots), or null when no store holds one. */
  record: NameRecord | null;
  /** Copies that are invalid, name another name, or lack snapshots another copy has (a store missed a write). */
  damaged: NameRecordDamage[];
  /** Stores that did not answer. */
  unavailable: number[];
}

/** The JSON value of `bytes` (UTF-8), or null when absent or not JSON. */
function parseJson(bytes: Uint8Array | null): unknown {
  if (!bytes) return null;
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return null;
  }
}

/** Parse one copy of `name`'s record, or a reason it is damaged. */
function parseRecord(bytes: Uint8Array, name: string): NameRecord | string {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return 'not UTF-8 JSON';
  }
  const r = recordSchema.safeParse(v);
  if (!r.success) return `field "${r.error.issues[0]!.path.join('.')}" invalid`;
  if (r.data.name !== name) return `it names ${JSON.stringify(r.data.name)}`;
  return { format_version: 3, kind: 'name', name, snapshots: r.data.snapshots };
}

/**
 * Read `name`'s record from every store and validate each copy (zod). The answer is the union of the valid copies'
 * snapshots, each id once, ordered by created_at then id; a copy that is invalid or differs from that union is
 * reported in `damaged` (the next write, or rebuildNames, rewrites it), and the others are used.
 * Errors: BF_USAGE (a bad name); BF_NAME_RECORD_INVALID (copies exist, none valid); the store error when no store
 * answers; BF_ABORTED.
 */
export async function readNameRecord(repo: Repository, name: string, signal?: AbortSignal): Promise<NameRecordRead> {
  checkName(name);
  const key = nameRecordKey(nameHash(name));
  const n = repo.set.size;
  const copies: (Uint8Array | null)[] = new Array(n).fill(null);
  const unavailable: number[] = [];
  let storeErr: unknown;
  await Promise.all(
    repo.set.domains.map(async (_, d) => {
      try {
        copies[d] = await repo.set.on(d, (b) => getAll(b, key, NAME_RECORD_MAX_BYTES, signal));
      } catch (err) {
        if (err instanceof BlockFrameError && err.code === 'BF_ABORTED') throw err;
        if (err instanceof BlockFrameError && (err.code === 'BF_STORE_NOT_A_FILE' || err.context.tooLarge === true)) {
          copies[d] = new Uint8Array(0);
          return;
        }
        storeErr ??= err;
        unavailable.push(d);
      }
    }),
  );
  if (unavailable.length === n) throw storeErr;
  const parsed = new Map<number, NameRecord>();
  const damaged: NameRecordDamage[] = [];
  for (let d = 0; d < n; d++) {
    const c = copies[d];
    if (c === null || unavailable.includes(d)) continue;
    const p = parseRecord(c, name);
    if (typeof p === 'string') damaged.push({ store: d, why: p });
    else parsed.set(d, p);
  }
  const present = [...copies.keys()].filter((d) => copies[d] !== null && !unavailable.includes(d));
  if (parsed.size === 0) {
    if (present.length === 0) return { record: null, damaged: [], unavailable };
    throw new BlockFrameError('BF_NAME_RECORD_INVALID', `name record of ${JSON.stringify(name)} (${key}) is damaged on every store: ${damaged[0]!.why} (rebuild it from the snapshot headers)`, { name, key });
  }
  const union = new Map<string, NameSnapshot>();
  for (const r of parsed.values()) for (const s of r.snapshots) if (!union.has(s.id)) union.set(s.id, s);
  const record: NameRecord = { format_version: 3, kind: 'name', name, snapshots: [...union.values()].sort(bySnapshotTime) };
  const want = nameRecordText(record);
  for (let d = 0; d < n; d++) {
    if (unavailable.includes(d) || damaged.some((x) => x.store === d)) continue;
    const r = parsed.get(d);
    if (!r) damaged.push({ store: d, why: 'missing' });
    else if (nameRecordText(r) !== want) damaged.push({ store: d, why: 'stale: it differs from the other stores' });
  }
  return { record, damaged: damaged.sort((a, b) => a.store - b.store), unavailable: unavailable.sort((a, b) => a - b) };
}

/** Write `rec` to every store (an atomic put each), or delete it everywhere when it has no snapshot left. */
async function writeRecord(repo: Repository, rec: NameRecord, signal?: AbortSignal): Promise<void> {
  const key = nameRecordKey(nameHash(rec.name));
  const text = nameRecordText(rec);
  const results = await Promise.allSettled(
    repo.set.domains.map((_, d) => repo.set.on(d, (b) => (rec.snapshots.length === 0 ? b.delete(key, signal) : b.put(key, textSource(text), signal)))),
  );
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/**
 * Change `name`'s record under the local lock of docs/FORMAT.md §9.2 keyed by the record's key: read (union of
 * copies), apply `change`, write whole to every store. Needs every store.
 */
async function updateRecord(repo: Repository, name: string, change: (snaps: NameSnapshot[]) => NameSnapshot[], signal?: AbortSignal): Promise<NameRecord> {
  checkName(name);
  repo.requireAllStores();
  return withArchiveLock(
    repo,
    nameRecordKey(nameHash(name)),
    async () => {
      const { record } = await readNameRecord(repo, name, signal);
      const next: NameRecord = { format_version: 3, kind: 'name', name, snapshots: change(record?.snapshots ?? []).sort(bySnapshotTime) };
      if (record === null && next.snapshots.length === 0) return next;
      await writeRecord(repo, next, signal);
      return next;
    },
    signal,
  );
}

/**
 * Add snapshot `snap` to `name`'s record (created if absent), in created_at-then-id order; adding an id already
 * there changes nothing but rewrites stale copies. Returns the record written.
 * Errors: BF_USAGE (bad name); BF_HEX_INVALID (bad id); BF_USAGE (bad created_at); BF_ARCHIVE_BUSY (the local lock);
 * BF_NAME_RECORD_INVALID (every copy damaged: rebuildNames first); BF_STORE_NOT_MOUNTED; store errors.
 */
export async function appendSnapshot(repo: Repository, name: string, snap: NameSnapshot, signal?: AbortSignal): Promise<NameRecord> {
  if (!HEX64.test(snap.id)) throw new BlockFrameError('BF_HEX_INVALID', `snapshot id ${JSON.stringify(snap.id)} is not 64 lowercase hex digits`, { field: 'snapshot' });
  if (!snapshotRef.shape.created_at.safeParse(snap.created_at).success) throw new BlockFrameError('BF_USAGE', `created_at ${JSON.stringify(snap.created_at)} is not an ISO 8601 UTC time`, { field: 'created_at' });
  return updateRecord(repo, name, (s) => [...s.filter((x) => x.id !== snap.id), { id: snap.id, created_at: snap.created_at }], signal);
}

/**
 * Remove snapshot `id` from `name`'s record (a record left without snapshots is deleted from every store).
 * Removing an id the record does not hold is not an error. Returns the record as written. Errors: as appendSnapshot.
 */
export async function removeSnapshot(repo: Repository, name: string, id: string, signal?: AbortSignal): Promise<NameRecord> {
  return updateRecord(repo, name, (s) => s.filter((x) => x.id !== id), signal);
}

/** A snapshot reference as the user writes it: `NAME` or `NAME@ID-PREFIX`. */
export interface SnapshotSpec {
  name: string;
  /** 1 to 64 lowercase hex digits, when given. */
  prefix?: string;
}

/**
 * Split `spec` at its last '@' when what follows is 1 to 64 lowercase hex digits (`NAME@ID-PREFIX`); otherwise the
 * whole is a name. (resolveSnapshot also tries the whole as a name, for names that end in "@hex".)
 */
export function parseSnapshotSpec(spec: string): SnapshotSpec {
  const at = spec.lastIndexOf('@');
  if (at > 0 && /^[0-9a-f]{1,64}$/.test(spec.slice(at + 1))) return { name: spec.slice(0, at), prefix: spec.slice(at + 1) };
  return { name: spec };
}

/** Is snapshot `id`'s header set there and not being deleted (some store has its snapshot.b3)? Store errors count as no. */
async function snapshotPresent(repo: Repository, id: string, signal?: AbortSignal): Promise<boolean> {
  return (await repo.set.stat(snapshotKey(id, SNAPSHOT_SUM), signal).catch(() => null)) !== null;
}

/** A resolved snapshot: its name, id and created_at. */
export interface ResolvedSnapshot extends NameSnapshot {
  name: string;
}

/**
 * Resolve `NAME` to the name's latest snapshot, or `NAME@ID-PREFIX` to the one snapshot of that name whose id
 * starts with the prefix (docs/FORMAT.md §13.4). Snapshots the record names but whose header set is gone or being
 * deleted are skipped (a delete removes the header before the record entry). Cost: one record read and one stat per
 * candidate tried. Errors: BF_ARCHIVE_NOT_FOUND (no such name, or no snapshot of it matches), BF_AMBIGUOUS_NAME
 * (the prefix matches several: `candidates` lists their ids), BF_USAGE (a bad name), BF_NAME_RECORD_INVALID, store errors.
 */
export async function resolveSnapshot(repo: Repository, spec: string, signal?: AbortSignal): Promise<ResolvedSnapshot> {
  let s = parseSnapshotSpec(spec);
  let rec = (await readNameRecord(repo, s.name, signal)).record;
  if (rec === null && s.prefix !== undefined) {
    const whole = (await readNameRecord(repo, spec, signal)).record;
    if (whole !== null) {
      s = { name: spec };
      rec = whole;
    }
  }
  if (rec === null) throw new BlockFrameError('BF_ARCHIVE_NOT_FOUND', `no snapshot named ${JSON.stringify(s.name)}`, { name: s.name });
  const name = s.name;
  if (s.prefix === undefined) {
    for (let i = rec.snapshots.length - 1; i >= 0; i--) {
      const x = rec.snapshots[i]!;
      if (await snapshotPresent(repo, x.id, signal)) return { name, ...x };
    }
    throw new BlockFrameError('BF_ARCHIVE_NOT_FOUND', `name ${JSON.stringify(name)} has no snapshot left`, { name });
  }
  const prefix = s.prefix;
  const matches: NameSnapshot[] = [];
  for (const x of rec.snapshots) if (x.id.startsWith(prefix) && (await snapshotPresent(repo, x.id, signal))) matches.push(x);
  if (matches.length === 0) throw new BlockFrameError('BF_ARCHIVE_NOT_FOUND', `name ${JSON.stringify(name)} has no snapshot whose id starts with ${prefix}`, { name, prefix });
  if (matches.length > 1) {
    throw new BlockFrameError('BF_AMBIGUOUS_NAME', `${name}@${prefix} matches ${matches.length} snapshots: give more digits of the id`, { name, prefix, candidates: matches.map((m) => m.id) });
  }
  return { name, ...matches[0]! };
}

/** Every name record on the stores, by key (union of the stores' listings), read and validated; damaged ones in `damaged`. */
export async function listNameRecords(repo: Repository, signal?: AbortSignal): Promise<{ records: NameRecord[]; damaged: { key: string; why: string }[] }> {
  const records: NameRecord[] = [];
  const damaged: { key: string; why: string }[] = [];
  for await (const o of repo.set.listEach(NAMES_PREFIX, { signal })) {
    const hash = parseNameRecordKey(o.key);
    if (o.prefix || hash === null) continue;
    const bytes = await getAll(repo.set, o.key, NAME_RECORD_MAX_BYTES, signal).catch((err: unknown) => {
      if (err instanceof BlockFrameError && err.code === 'BF_ABORTED') throw err;
      return null;
    });
    const r = recordSchema.safeParse(parseJson(bytes));
    if (!r.success || nameHash(r.data.name) !== hash) damaged.push({ key: o.key, why: r.success ? 'its name does not hash to its key' : 'invalid' });
    else records.push({ format_version: 3, kind: 'name', name: r.data.name, snapshots: r.data.snapshots });
  }
  return { records: records.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)), damaged };
}

/** What rebuildNames did. */
export interface NamesRebuild {
  /** Names whose record was written (sorted). */
  written: string[];
  /** Record keys deleted: no snapshot carries their name any more. */
  removed: string[];
  /** Snapshots whose header could not be read or parsed (their names are unknown, so no record was removed). */
  unreadable: { id: string; code: string; message: string }[];
}

/**
 * Rebuild every name record from the snapshot headers (docs/FORMAT.md §13.4 "Rebuild"): list `snapshots/` (complete
 * sets only), read each header checked against its id, `parse` it to {name, created_at} (default: headerNameAndTime),
 * group by name, order by created_at then id, and write each record whole to every store under its name's lock.
 * Records of names no header carries are deleted, unless some header was unreadable (then nothing is deleted).
 * Errors: BF_STORE_NOT_MOUNTED; store errors; BF_ABORTED. Unreadable headers are reported, not thrown.
 */
export async function rebuildNames(repo: Repository, opts: { parse?: (bytes: Uint8Array) => { name: string; created_at: string }; signal?: AbortSignal } = {}): Promise<NamesRebuild> {
  const parse = opts.parse ?? headerNameAndTime;
  repo.requireAllStores();
  const groups = new Map<string, NameSnapshot[]>();
  const unreadable: NamesRebuild['unreadable'] = [];
  for (const id of await listSnapshotIds(repo, { signal: opts.signal })) {
    try {
      const h = parse((await readSnapshotHeader(repo, id, { signal: opts.signal })).bytes);
      checkName(h.name);
      groups.set(h.name, [...(groups.get(h.name) ?? []), { id, created_at: h.created_at }]);
    } catch (err) {
      if (!(err instanceof BlockFrameError) || err.code === 'BF_ABORTED') throw err;
      // A header deleted between the listing and the read is simply gone.
      if (err.code === 'BF_ARCHIVE_NOT_FOUND') continue;
      unreadable.push({ id, code: err.code, message: err.message });
    }
  }
  const written: string[] = [];
  for (const [name, snaps] of [...groups].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    await withArchiveLock(
      repo,
      nameRecordKey(nameHash(name)),
      async () => {
        // A commit that wrote its header after the listing appended under this lock: keep what is still there.
        const ids = new Set(snaps.map((x) => x.id));
        const now = await readNameRecord(repo, name, opts.signal).then((r) => r.record?.snapshots ?? [], () => []);
        for (const x of now) if (!ids.has(x.id) && (await snapshotPresent(repo, x.id, opts.signal))) snaps.push(x);
        await writeRecord(repo, { format_version: 3, kind: 'name', name, snapshots: snaps.sort(bySnapshotTime) }, opts.signal);
      },
      opts.signal,
    );
    written.push(name);
  }
  const removed: string[] = [];
  if (unreadable.length === 0) {
    const keep = new Set([...groups.keys()].map((n) => nameRecordKey(nameHash(n))));
    const stale: string[] = [];
    for await (const o of repo.set.listEach(NAMES_PREFIX, { signal: opts.signal })) if (!o.prefix && parseNameRecordKey(o.key) !== null && !keep.has(o.key)) stale.push(o.key);
    for (const key of stale) {
      const gone = await withArchiveLock(
        repo,
        key,
        async () => {
          // A commit of a new name may have written this record since the listing: keep it if a snapshot of it is there.
          const bytes = await getAll(repo.set, key, NAME_RECORD_MAX_BYTES, opts.signal).catch(() => null);
          const r = recordSchema.safeParse(parseJson(bytes));
          if (r.success) for (const x of r.data.snapshots) if (await snapshotPresent(repo, x.id, opts.signal)) return false;
          await repo.set.delete(key, opts.signal);
          return true;
        },
        opts.signal,
      );
      if (gone) removed.push(key);
    }
  }
  return { written, removed: removed.sort(), unreadable };
}
