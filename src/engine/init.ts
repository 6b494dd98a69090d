// init: save a store set to a config file, giving every store its marker (docs/FORMAT.md §14); --update re-reads the disks.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { BlockFrameError, fromSystemError } from '../errors.js';
import { chooseCode } from '../layout/placement.js';
import type { Tier } from '../layout/tiers.js';
import type { StoreMarker } from '../layout/store-marker.js';
import { loadConfig, parseStoreSpec, resolveStores, specText, writeConfig, CONFIG_FILE, type StoreConfig } from '../store/config.js';
import type { StoreSet } from '../store/store-set.js';
import { makeMarker, newId, readMarker, slotLabel, writeMarkerAt } from '../archive/identity.js';

export interface InitOptions {
  /** The stores, in order (directories or s3:// URLs). */
  stores: string[];
  /** How many whole stores an archive must survive losing (default 1 with several stores, 0 with one). */
  failures?: number;
  /** The config file to write (default: $BLOCKFRAME_CONFIG, else ./blockframe.json). */
  config?: string;
  /** Replace an existing config file. */
  force?: boolean;
  signal?: AbortSignal;
}

export interface InitResult {
  config: string;
  stores: string[];
  failures: number;
  /** The code each tier gets with these stores. */
  codes: { tier: Tier; k: number; m: number }[];
  setId: string;
  storeIds: string[];
  /** Per store (0-based): 'kept' (it already had this slot's marker) or 'written'. */
  markers: ('kept' | 'written')[];
}

export interface UpdateResult {
  config: string;
  stores: string[];
  setId: string;
  storeIds: string[];
  /** What changed: "store 1 and store 2 were swapped", "markers written (older repository)"; empty when nothing did. */
  changes: string[];
}

/** The config file init writes: --config, else $BLOCKFRAME_CONFIG, else ./blockframe.json. */
export function initConfigPath(config?: string): string {
  return resolve(config ?? (process.env.BLOCKFRAME_CONFIG || CONFIG_FILE));
}

/**
 * Write a config file naming `stores` and give each store its marker: a new set id, unless the stores already
 * carry markers of one set in these slots (init run again keeps the ids); a store without a marker gets a new one
 * (this is how a new disk, or an older repository's disks, come in). Every store must answer. Errors: BF_USAGE,
 * BF_OUTPUT_EXISTS (config exists without `force`), BF_PLACEMENT_IMPOSSIBLE, BF_STORE_CONFIG, BF_STORE_FOREIGN (a
 * store carries another set's marker, or another slot's: see `update`), store errors.
 */
export async function init(o: InitOptions): Promise<InitResult> {
  if (!o.stores.length) throw new BlockFrameError('BF_USAGE', 'init needs the stores: --store DIR_OR_S3_URL, once per store, in order', { field: 'store' });
  const path = initConfigPath(o.config);
  if (existsSync(path) && !o.force) throw new BlockFrameError('BF_OUTPUT_EXISTS', `${path} exists (use --force to replace it)`, { path });
  const specs = o.stores.map(parseStoreSpec);
  const failures = o.failures ?? (specs.length > 1 ? 1 : 0);
  // Refuse an impossible set before writing anything, and show what each tier gets.
  const codes = ([1, 2, 3, 4] as const).map((tier) => ({ tier, ...chooseCode(tier, specs.length, failures) }));
  const r = resolveStores({ stores: o.stores, failures });
  const n = r.set.size;
  let setId: string | undefined;
  const found: (StoreMarker | undefined)[] = [];
  try {
    // Every store must answer now (a set with a dead member from the start helps no one).
    for (let d = 0; d < n; d++) {
      const f = await readMarker(r.set, d, o.signal);
      if ('failed' in f) throw f.err;
      if ('bad' in f) throw f.bad;
      found.push('marker' in f ? f.marker : undefined);
    }
    for (let d = 0; d < n; d++) {
      const m = found[d];
      if (!m) continue;
      setId ??= m.set_id;
      if (m.set_id !== setId) throw foreign(r.set, d, 'carries the marker of another store set than the other stores');
      if (m.index !== d) throw foreign(r.set, d, `carries the marker of store ${m.index + 1} of its set, not ${d + 1}: give the stores in their order (or run \`blockframe init --update\` on the config that names them)`);
    }
    setId ??= newId();
    const markers: InitResult['markers'] = [];
    for (let d = 0; d < n; d++) {
      if (found[d]) {
        markers.push('kept');
        continue;
      }
      const spec = specs[d]!;
      if (spec.kind === 'local') await mkdir(spec.path, { recursive: true }).catch((err) => Promise.reject(fromSystemError(err, spec.path, 'creating a store directory')));
      found[d] = makeMarker(setId, d, n);
      await writeMarkerAt(r.set, d, found[d]!, o.signal);
      markers.push('written');
    }
    const stores = specs.map(specText);
    const storeIds = found.map((m) => m!.store_id);
    // The config's directory may be new ($XDG_CONFIG_HOME/blockframe/, /etc/blockframe/).
    await mkdir(dirname(path), { recursive: true }).catch((err) => Promise.reject(fromSystemError(err, dirname(path), 'creating the config directory')));
    await writeConfig(path, { version: 1, stores, failures, set_id: setId, store_ids: storeIds });
    return { config: path, stores, failures, codes, setId, storeIds, markers };
  } finally {
    await r.set.close();
  }
}

function foreign(set: StoreSet, d: number, why: string): BlockFrameError {
  return new BlockFrameError('BF_STORE_FOREIGN', `store ${d + 1} (${slotLabel(set, d)}) ${why}`, { store: slotLabel(set, d), slot: d + 1 });
}

/**
 * `init --update`: bring an existing config file in step with the disks. Stores found in other slots than the
 * config gives them (swapped mounts) are put back in their markers' order; a config without ids (an older
 * version's) gets them; an older repository whose stores carry no marker at all gets one on each store. Every store
 * must answer, and every store of a marked set must be found. Errors: BF_STORE_CONFIG, BF_STORE_NOT_MOUNTED (a store
 * of the set is not found: mount it, or bring in a new disk with repair --replace), BF_STORE_FOREIGN, store errors.
 */
export async function updateInit(o: { config?: string; signal?: AbortSignal }): Promise<UpdateResult> {
  const path = resolve(o.config ?? (process.env.BLOCKFRAME_CONFIG || CONFIG_FILE));
  const cfg: StoreConfig = loadConfig(path);
  const r = resolveStores({ config: path });
  const n = r.set.size;
  const changes: string[] = [];
  try {
    const found: (StoreMarker | undefined)[] = [];
    for (let d = 0; d < n; d++) {
      const f = await readMarker(r.set, d, o.signal);
      if ('failed' in f) throw f.err;
      if ('bad' in f) throw f.bad;
      found.push('marker' in f ? f.marker : undefined);
    }
    let setId = cfg.set_id ?? found.find((m) => m)?.set_id;
    let stores = cfg.stores;
    let storeIds: string[];
    if (setId === undefined) {
      // An older repository: no marker anywhere. Every store answered, so each gets its slot's marker now.
      setId = newId();
      storeIds = [];
      for (let d = 0; d < n; d++) {
        const m = makeMarker(setId, d, n);
        await writeMarkerAt(r.set, d, m, o.signal);
        storeIds.push(m.store_id);
      }
      changes.push(`markers written on all ${n} stores (the repository had none)`);
    } else {
      // Slot of each store: by the config's store ids when it has them, else by the markers' own index.
      const order: number[] = new Array(n).fill(-1);
      for (let d = 0; d < n; d++) {
        const m = found[d];
        if (!m || m.set_id !== setId) continue;
        const j = cfg.store_ids ? cfg.store_ids.indexOf(m.store_id) : m.index;
        if (j < 0 || j >= n) throw foreign(r.set, d, 'carries a marker of this set that the config file does not know');
        if (order[j] !== -1) throw foreign(r.set, d, `carries the same slot's marker (store ${j + 1}) as ${slotLabel(r.set, order[j]!)}`);
        order[j] = d;
      }
      const missing = order.flatMap((d, j) => (d === -1 ? [j] : []));
      if (missing.length) {
        const j = missing[0]!;
        throw new BlockFrameError('BF_STORE_NOT_MOUNTED', `store ${j + 1} of this set is not found on any of the configured paths (${cfg.stores.join(', ')}): mount it and run again, or bring in a new disk with \`blockframe repair --replace OLD=NEW\``, { slot: j + 1 });
      }
      stores = order.map((d) => cfg.stores[d]!);
      storeIds = order.map((d) => found[d]!.store_id);
      order.forEach((d, j) => {
        if (d !== j) changes.push(`store ${j + 1} is ${cfg.stores[d]} (was ${cfg.stores[j]})`);
      });
      if (!cfg.store_ids) changes.push('the config file records the set id and store ids');
    }
    const next: StoreConfig = { ...cfg, stores, set_id: setId, store_ids: storeIds };
    if (changes.length) await writeConfig(path, next);
    return { config: path, stores, setId, storeIds, changes };
  } finally {
    await r.set.close();
  }
}
