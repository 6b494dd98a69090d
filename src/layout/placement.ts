// Placement: which store (failure domain) holds each shard, and the code geometry that lets an archive survive
// the loss of whole stores. Pure: no I/O. Specified in docs/FORMAT.md §11.
import { BlockFrameError } from '../errors.js';
import type { CodeLayout } from './code.js';
import type { Geometry } from './geometry.js';
import { DEFAULTS, type Tier } from './tiers.js';

export const PLACEMENT_RULE = 'rotate-v1';

/** The manifest's placement section: how many stores the archive spans and how many may fail. */
export interface Placement {
  rule: typeof PLACEMENT_RULE;
  stores: number;
  failures: number;
}

/** Widest level-1 stripe chosen for several stores: close to the single-store RS(30,3). */
const TARGET_WIDTH = 33;

/**
 * The erasure code (k data + m parity shards per level-1 stripe) for `stores` failure domains of which
 * `failures` may be lost at once. With rotate-v1 a stripe of width w puts at most ceil(w / stores) shards in
 * any store, so the worst `failures` stores take at most failures * ceil(w / stores) shards of a stripe; the
 * code is chosen so that this never exceeds m (the way MinIO sizes erasure sets to drives).
 *
 * - One store: the single-directory defaults (RS(30,3) blocks; RS(1,3) for Tiers 1 and 2).
 * - Tiers 1 and 2 (k = 1, the parity shards are copies): the smallest m >= 3 that survives.
 * - Tiers 3 and 4: c = max(1, floor(33 / stores)) shards of a stripe per store, m = failures * c + 1 and
 *   k = stores * c - m. The one spare parity shard means a stripe still survives one more lost shard (bit rot)
 *   while `failures` stores are dead, instead of having no margin left (the RAID 5 rebuild problem). So 3 stores
 *   give RS(21,12), 4 give RS(23,9), 6 give RS(24,6) and 12 give RS(21,3).
 *
 * Throws BF_PLACEMENT_IMPOSSIBLE when `failures` is not below `stores`.
 */
export function chooseCode(tier: Tier, stores: number, failures: number): { k: number; m: number } {
  if (!Number.isSafeInteger(stores) || stores < 1 || stores > 64) {
    throw new BlockFrameError('BF_PLACEMENT_IMPOSSIBLE', `an archive spans 1 to 64 stores, not ${stores}`, { field: 'stores' });
  }
  if (!Number.isSafeInteger(failures) || failures < 0) throw new BlockFrameError('BF_PLACEMENT_IMPOSSIBLE', `invalid failure count ${failures}`, { field: 'failures' });
  if (failures >= stores) {
    throw new BlockFrameError(
      'BF_PLACEMENT_IMPOSSIBLE',
      `${stores} store${stores === 1 ? '' : 's'} cannot survive ${failures} store failure${failures === 1 ? '' : 's'}: at least one store must survive (add stores or lower --failures)`,
      { field: 'failures', stores, failures },
    );
  }
  if (stores === 1 || tier <= 2) {
    if (tier <= 2) {
      let m: number = DEFAULTS.parityShards;
      while (failures * Math.ceil((1 + m) / stores) > m) m++;
      return { k: 1, m };
    }
    return { k: DEFAULTS.blockSegments, m: DEFAULTS.parityShards };
  }
  if (failures === 0) return { k: DEFAULTS.blockSegments, m: DEFAULTS.parityShards };
  const c = Math.max(1, Math.floor(TARGET_WIDTH / stores));
  const spare = (stores - failures) * c >= 2 ? 1 : 0;
  return { k: (stores - failures) * c - spare, m: failures * c + spare };
}

/**
 * rotate-v1: level-1 stripe i puts its slot j (data 0..k-1, then parity k..k+m-1) in store (i + j) mod N; the
 * parity shard r of level-2 stripe t goes to store (t + r) mod N. Returns the store of every shard, by shard id.
 */
export function shardStores(code: CodeLayout, stores: number): number[] {
  const out = new Array<number>(code.shards.length).fill(0);
  if (stores <= 1) return out;
  for (const st of code.stripes) {
    st.slots.forEach((n, j) => {
      if (n === null) return;
      if (st.level === 1) out[n] = (st.index + j) % stores;
      else if (j >= st.k) out[n] = (st.index + j - st.k) % stores;
    });
  }
  return out;
}

/** The largest number of shards of any level-1 stripe that the worst `failures` stores hold (for checks and info). */
export function worstLoss(code: CodeLayout, stores: number, failures: number): number {
  const where = shardStores(code, stores);
  let worst = 0;
  for (const st of code.stripes) {
    if (st.level !== 1) continue;
    const per = new Array<number>(stores).fill(0);
    for (const n of st.slots) if (n !== null) per[where[n]!]!++;
    per.sort((a, b) => b - a);
    worst = Math.max(worst, per.slice(0, failures).reduce((a, b) => a + b, 0));
  }
  return worst;
}

/**
 * The same rule on a geometry (before any manifest exists): the store of every shard path, as shardStores gives
 * it for the manifest written from this geometry.
 */
export function pathStores(g: Geometry, stores: number): Map<string, number> {
  const out = new Map<string, number>();
  g.stripes.forEach((st, i) => {
    st.segments.forEach((s, j) => out.set(s.path, stores <= 1 ? 0 : (i + j) % stores));
    st.parity.forEach((p, r) => out.set(p.path, stores <= 1 ? 0 : (i + st.dataShards + r) % stores));
  });
  g.level2.forEach((st, t) => st.parity.forEach((p, r) => out.set(p.path, stores <= 1 ? 0 : (t + r) % stores)));
  return out;
}
