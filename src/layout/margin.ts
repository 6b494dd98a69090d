// Margin: how many more shard losses an archive survives now, from its code graph and the shards already lost.
import { knownShard, planRecovery, type CodeLayout } from './code.js';

export interface Margin {
  /**
   * The largest j such that losing any j more shards (on top of `lost`) still leaves every shard rebuildable
   * (docs/FORMAT.md §15). -1 when the archive is beyond repair already; for an archive whose every shard the manifest
   * determines (an empty file), the number of its shards.
   */
  margin: number;
  /** The stripe (CodeLayout.stripes id) whose cheapest attack sets the margin; null when none can be attacked. */
  weakest: number | null;
  /** margin + 1 more shards that, lost together, make the archive unrecoverable (empty when none). */
  witness: number[];
}

/**
 * The margin of an archive. Every shard that is lost for good leaves its level-1 stripe with more than m shards
 * it can't rebuild, so the cheapest attack on some level-1 stripe (block) sets the margin. Per block: choose m + 1
 * of its shards to be lost for good; a parity shard (or a data shard of tiers 1 to 3) costs one loss, 0 if
 * already lost; a Tier 4 data shard also needs its level-2 column to fail: one loss for each of the column's
 * remaining level-2 parity shards beyond what it already lost (counting the column's other lost shards as
 * lost for good, which can only make the margin smaller, never larger). The m + 1 cheapest give the block's
 * cost; the margin is the smallest cost minus one. Level-2 parity shards never set it: one is lost for good
 * only when a block of its column is. When `planRecovery` says something is lost already, the margin is -1.
 * Pure: shard ids only. Errors: none.
 */
export function archiveMargin(code: CodeLayout, lost: Iterable<number>): Margin {
  const gone = new Set(lost);
  if (planRecovery(code, gone).lost.length > 0) return { margin: -1, weakest: null, witness: [] };
  let best: { cost: number; stripe: number; witness: number[] } | null = null;
  for (const st of code.stripes) {
    if (st.level !== 1) continue;
    const items: { cost: number; shards: number[] }[] = [];
    st.slots.forEach((n, slot) => {
      if (n === null || knownShard(code.shards[n]!)) return;
      const own = gone.has(n) ? [] : [n];
      const column = slot < st.k ? code.stripesOf[n]!.map((si) => code.stripes[si]!).find((c) => c.level === 2) : undefined;
      if (!column) return void items.push({ cost: own.length, shards: own });
      // The column rescues n while it has lost at most its m shards (n included): take its parity until it can't.
      const others = column.slots.filter((s): s is number => s !== null && s !== n && gone.has(s)).length;
      const need = Math.max(0, column.m - others);
      const parity = column.slots.slice(column.k).filter((s): s is number => s !== null && !gone.has(s));
      if (parity.length < need) return; // can't be taken from the column's own parity: not the cheapest attack
      items.push({ cost: own.length + need, shards: [...own, ...parity.slice(0, need)] });
    });
    if (items.length < st.m + 1) continue;
    items.sort((a, b) => a.cost - b.cost);
    const pick = items.slice(0, st.m + 1);
    const cost = pick.reduce((s, i) => s + i.cost, 0);
    if (!best || cost < best.cost) best = { cost, stripe: st.id, witness: pick.flatMap((i) => i.shards) };
  }
  if (!best) return { margin: code.shards.length, weakest: null, witness: [] };
  return { margin: Math.max(0, best.cost - 1), weakest: best.stripe, witness: best.witness };
}

/** The smallest margin of several archives (the total): -1 if any is beyond repair, null for none. */
export function totalMargin(margins: number[]): number | null {
  return margins.length === 0 ? null : Math.min(...margins);
}
