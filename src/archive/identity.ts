// Store identity: read each store's marker when a set is opened, find absent and swapped stores, write markers.
import { randomBytes } from 'node:crypto';
import { BlockFrameError } from '../errors.js';
import { STORE_MARKER_KEY } from '../layout/keys.js';
import { parseStoreMarker, serializeStoreMarker, STORE_MARKER_FORMAT, STORE_MARKER_MAX_BYTES, type StoreMarker } from '../layout/store-marker.js';
import { AbsentBackend } from '../store/absent.js';
import { getAll, textSource, type Backend } from '../store/backend.js';
import type { StoreSetIdentity } from '../store/config.js';
import { StoreSet } from '../store/store-set.js';

/**
 * What the identity check found in one slot of the set (docs/FORMAT.md §14):
 * - 'ok': the slot holds its own store; 'unmarked': no store of the set has a marker (an older repository: unchecked);
 * - 'swapped': the store of this slot was found in another slot (`foundAt`), and is used from there;
 * - 'absent': the set is marked but this store is nowhere (its directory or marker is missing: not mounted);
 * - 'foreign': the slot holds another set's marker (or one that cannot be read), and no store of ours is found;
 * - 'new': a replacement (repair --replace) that gets its marker before anything is written to it;
 * - 'unavailable' / 'denied': the slot did not answer, or refused our credentials (its marker is unknown).
 */
export type IdentityState = 'ok' | 'unmarked' | 'swapped' | 'absent' | 'foreign' | 'new' | 'unavailable' | 'denied';

export interface StoreIdentity {
  /** 0-based slot, in the order of --store or of the config file. */
  store: number;
  /** Where the slot's store is looked for (the configured path or URL). */
  label: string;
  state: IdentityState;
  /** For 'swapped': the 0-based slot whose path actually holds this store. */
  foundAt?: number;
  /** The store's id, when its marker was found. */
  storeId?: string;
  /** One line for people: what is wrong and what to do. */
  detail?: string;
}

export interface IdentityCheck {
  /** The set to use: slots in their configured order, a swapped store moved back to its own slot, absent ones failing. */
  set: StoreSet;
  stores: StoreIdentity[];
  /** The set's id, when the config or any marker names one (undefined: an unmarked, older repository). */
  setId?: string;
  /** The marker of each slot's store, as found (undefined when none). */
  markers: (StoreMarker | undefined)[];
}

/** A random 128-bit id, lowercase hex (set ids and store ids). */
export function newId(): string {
  return randomBytes(16).toString('hex');
}

type Found = { marker: StoreMarker } | { none: true } | { bad: BlockFrameError } | { failed: 'unavailable' | 'denied'; err: unknown };

/** The marker of slot `d` of `set`: found, missing, unreadable (foreign), or the store did not answer. */
export async function readMarker(set: StoreSet, d: number, signal?: AbortSignal): Promise<Found> {
  try {
    const bytes = await set.on(d, (b) => getAll(b, STORE_MARKER_KEY, STORE_MARKER_MAX_BYTES, signal));
    if (bytes === null) return { none: true };
    return { marker: parseStoreMarker(new TextDecoder().decode(bytes), set.domains[d]!.label) };
  } catch (err) {
    if (!(err instanceof BlockFrameError) || err.code === 'BF_ABORTED' || err.code === 'BF_INTERNAL') throw err;
    if (err.code === 'BF_STORE_FOREIGN' || err.code === 'BF_STORE_NOT_A_FILE' || err.context.tooLarge === true) {
      return { bad: err.code === 'BF_STORE_FOREIGN' ? err : new BlockFrameError('BF_STORE_FOREIGN', `${set.domains[d]!.label}: ${STORE_MARKER_KEY} is not a store marker`, { store: set.domains[d]!.label }) };
    }
    return { failed: err.code === 'BF_STORE_DENIED' ? 'denied' : 'unavailable', err };
  }
}

/** Write `marker` to backend `b` (the only place a marker is written; a directory store is created if need be). */
export async function writeMarker(b: Backend, marker: StoreMarker, signal?: AbortSignal): Promise<void> {
  await b.put(STORE_MARKER_KEY, textSource(serializeStoreMarker(marker)), signal);
}

/** A new marker for slot `index` of a set of `stores` (a new random store id unless one is given). */
/** Write `marker` to store `d` of `set` (init, and init --update on an older repository). */
export function writeMarkerAt(set: StoreSet, d: number, marker: StoreMarker, signal?: AbortSignal): Promise<void> {
  return set.on(d, (b) => writeMarker(b, marker, signal));
}

/** Store `d` of `set` for people: its directory or URL. */
export function slotLabel(set: StoreSet, d: number): string {
  return set.domains[d]!.label;
}

export function makeMarker(setId: string, index: number, stores: number, storeId = newId()): StoreMarker {
  return { blockframe_store: STORE_MARKER_FORMAT, set_id: setId, index, stores, store_id: storeId, created: new Date().toISOString() };
}

/**
 * Check the markers of `set` against `known` (the config file's ids) or, without them, against each other.
 * `replaced` slots are new disks (repair --replace): they are not checked, and get their marker from repair.
 * The set returned replaces `set` (whose backends it takes over: close the new one, not both).
 */
export async function checkIdentity(set: StoreSet, known: StoreSetIdentity | undefined, replaced: number[], signal?: AbortSignal): Promise<IdentityCheck> {
  const n = set.size;
  const found = await Promise.all(set.domains.map((_, d) => (replaced.includes(d) ? Promise.resolve<Found>({ none: true }) : readMarker(set, d, signal))));
  const markerAt = (d: number) => {
    const f = found[d]!;
    return 'marker' in f ? f.marker : undefined;
  };
  // The set's id: the config's, else the one most markers carry.
  let setId = known?.setId;
  if (setId === undefined) {
    const count = new Map<string, number>();
    for (let d = 0; d < n; d++) {
      const m = markerAt(d);
      if (m) count.set(m.set_id, (count.get(m.set_id) ?? 0) + 1);
    }
    setId = [...count].sort((a, b) => b[1] - a[1])[0]?.[0];
  }
  const labels = set.domains.map((b) => b.label);
  if (setId === undefined) {
    // No marker anywhere and none expected: an older repository, used exactly as before.
    const stores = labels.map((label, d): StoreIdentity => ({ store: d, label, state: replaced.includes(d) ? 'new' : 'unmarked' }));
    return { set, stores, markers: labels.map(() => undefined) };
  }
  // Which slot holds which store of the set.
  const holder = new Map<number, number>();
  const foreign = new Set<number>();
  for (let d = 0; d < n; d++) {
    const m = markerAt(d);
    const f = found[d]!;
    if ('bad' in f) foreign.add(d);
    if (!m) continue;
    const j = m.set_id !== setId ? -1 : known ? known.storeIds.indexOf(m.store_id) : m.index;
    if (j < 0 || j >= n || holder.has(j)) foreign.add(d);
    else holder.set(j, d);
  }
  const used = new Set(holder.values());
  const domains: Backend[] = [];
  const stores: StoreIdentity[] = [];
  const markers: (StoreMarker | undefined)[] = [];
  const name = (d: number) => `store ${d + 1} (${labels[d]})`;
  for (let j = 0; j < n; j++) {
    const at = holder.get(j);
    const f = found[j]!;
    if (at !== undefined) {
      domains.push(set.domains[at]!);
      markers.push(markerAt(at));
      if (at === j) stores.push({ store: j, label: labels[j]!, state: 'ok', storeId: markerAt(at)!.store_id });
      else {
        stores.push({
          store: j,
          label: labels[j]!,
          state: 'swapped',
          foundAt: at,
          storeId: markerAt(at)!.store_id,
          detail: `store ${j + 1} of this set is at ${labels[at]} (configured as store ${at + 1}): using it from there; run \`blockframe init --update\` to put the config file in the disks' order`,
        });
      }
      continue;
    }
    markers.push(undefined);
    if (replaced.includes(j)) {
      domains.push(set.domains[j]!);
      stores.push({ store: j, label: labels[j]!, state: 'new' });
    } else if ('failed' in f && !used.has(j)) {
      // It did not answer: what it holds is unknown, so it keeps its slot (reads treat it as down, as before).
      domains.push(set.domains[j]!);
      stores.push({ store: j, label: labels[j]!, state: f.failed });
    } else {
      const isForeign = foreign.has(j) && !used.has(j);
      const detail = isForeign
        ? `${name(j)} holds the marker of another store set (or an unreadable one): it is left alone; give the right disk, or bring in a new one with \`blockframe repair --replace ${labels[j]}=NEW\``
        : `${name(j)} is not mounted: its store marker is missing${used.has(j) ? ' (that path holds another store of the set)' : ''}; nothing is written there; mount it and run again, or bring in a new disk with \`blockframe repair --replace ${labels[j]}=NEW\``;
      const code = isForeign ? 'BF_STORE_FOREIGN' : 'BF_STORE_NOT_MOUNTED';
      domains.push(new AbsentBackend(set.domains[j]!, new BlockFrameError(code, detail, { store: labels[j], slot: j + 1 })));
      stores.push({ store: j, label: labels[j]!, state: isForeign ? 'foreign' : 'absent', detail });
    }
  }
  // Backends no slot uses any more (a foreign store whose slot another store's path fills) are closed with the set.
  const spare = set.domains.filter((b) => !domains.includes(b) && !domains.some((x) => x instanceof AbsentBackend && x.inner === b));
  set.release();
  const out = new StoreSet(domains, set.failures);
  const close = out.close.bind(out);
  out.close = async () => {
    await close();
    await Promise.all(spare.map((b) => b.close().catch(() => undefined)));
  };
  return { set: out, stores, setId, markers };
}

/** The slots of `check` whose store is absent or foreign, as "store N (label)" for messages. */
export function missingStores(check: IdentityCheck): StoreIdentity[] {
  return check.stores.filter((s) => s.state === 'absent' || s.state === 'foreign');
}

/**
 * Give each replacement slot of `check` (repair --replace) its marker before anything is written to it: the slot's
 * index, the set's id and a new store id (kept when the disk already carries this slot's marker, say from an
 * interrupted repair). Returns the store ids written, by slot. A set without markers (an older repository) gets
 * none, as before. Errors: BF_STORE_FOREIGN when the new disk carries another marker (it is left alone).
 */
export async function markNewStores(check: IdentityCheck, signal?: AbortSignal): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  const setId = check.setId;
  if (setId === undefined) return out;
  const set = check.set;
  for (const s of check.stores) {
    if (s.state !== 'new') continue;
    const f = await readMarker(set, s.store, signal);
    let m: StoreMarker;
    if ('marker' in f) {
      if (f.marker.set_id !== setId || f.marker.index !== s.store) {
        throw new BlockFrameError('BF_STORE_FOREIGN', `the new store ${s.label} already carries the marker of ${f.marker.set_id === setId ? `store ${f.marker.index + 1} of this set` : 'another store set'}: it is left alone; give an empty disk`, { store: s.label });
      }
      m = f.marker;
    } else if ('bad' in f) throw f.bad;
    else if ('failed' in f) throw f.err;
    else {
      m = makeMarker(setId, s.store, set.size);
      await set.on(s.store, (b) => writeMarker(b, m, signal));
    }
    check.markers[s.store] = m;
    s.state = 'ok';
    s.storeId = m.store_id;
    out.set(s.store, m.store_id);
  }
  return out;
}
