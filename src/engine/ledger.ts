// The scrub ledger: when each stripe of each archive was last proven, kept in a local state directory (not on stores).
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { BlockFrameError } from '../errors.js';
import { writeFileAtomic } from '../io/fsutil.js';
import { LEDGER_RUNS_FILE, ledgerEntryKey } from '../layout/keys.js';
import type { ResolvedStores } from '../store/config.js';

/** What the ledger knows of one archive (one file, a few hundred bytes plus a few per run of stripes). */
export interface LedgerEntry {
  v: 1;
  dir: string;
  /** The manifest's Merkle root when the entry was written: an entry for another manifest is ignored. */
  root: string;
  /** Stripes of the archive (both levels) and bytes of all its shards. */
  stripes: number;
  bytes: number;
  /** When each stripe was last proven, in ms since the epoch (0: never), as runs [first, last, ms] of equal times. */
  proofs: [number, number, number][];
  /** Shard ids the last check found lost (missing, truncated, corrupt or on a store that did not answer). */
  lost: number[];
  /** The margin (layout/margin.ts) with those shards lost. */
  margin: number;
  /** The archive's creation time (manifest created_at, ms): a stripe never proven is overdue once this is a period old. */
  created: number;
}

/** One scrub run, as kept in runs.json (the last 50 runs). */
export interface RunRecord {
  started: string;
  finished: string;
  stoppedBy: 'done' | 'budget' | 'aborted';
  stripes: number;
  bytes: number;
  damaged: string[];
  healed: string[];
  beyondRepair: string[];
}

const KEEP_RUNS = 50;

/**
 * Where the ledger of a store set lives: `explicit` (--ledger), else $BLOCKFRAME_LEDGER, else a directory
 * `.blockframe-ledger` next to the config file, else $XDG_STATE_HOME/blockframe/ledger/<digest of the stores>
 * (~/.local/state when XDG_STATE_HOME is unset, per the XDG Base Directory Specification).
 */
export function ledgerDir(r: Pick<ResolvedStores, 'configPath' | 'set'>, explicit?: string): string {
  if (explicit) return explicit;
  if (process.env.BLOCKFRAME_LEDGER) return process.env.BLOCKFRAME_LEDGER;
  if (r.configPath) return join(dirname(r.configPath), '.blockframe-ledger');
  const state = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(state, 'blockframe', 'ledger', createHash('sha256').update(r.set.label).digest('hex').slice(0, 16));
}

/** Stripe proof times (ms, 0 = never) as runs of equal values, and back. */
export function encodeProofs(times: readonly number[]): [number, number, number][] {
  const out: [number, number, number][] = [];
  times.forEach((t, i) => {
    const last = out[out.length - 1];
    if (last && last[2] === t && last[1] === i - 1) last[1] = i;
    else out.push([i, i, t]);
  });
  return out;
}

export function decodeProofs(runs: readonly [number, number, number][], stripes: number): number[] {
  const times = new Array<number>(stripes).fill(0);
  for (const [a, b, t] of runs) for (let i = Math.max(0, a); i <= Math.min(b, stripes - 1); i++) times[i] = t;
  return times;
}

/** The oldest proof time of an entry (0 when some stripe was never proven). */
export function oldestProof(e: LedgerEntry): number {
  let covered = 0;
  let oldest = Infinity;
  for (const [a, b, t] of e.proofs) {
    covered += b - a + 1;
    oldest = Math.min(oldest, t);
  }
  return covered < e.stripes || oldest === Infinity ? 0 : oldest;
}

function valid(x: unknown, dir: string): x is LedgerEntry {
  const e = x as LedgerEntry;
  return typeof e === 'object' && e !== null && e.v === 1 && e.dir === dir && typeof e.root === 'string' && Number.isSafeInteger(e.stripes) && Array.isArray(e.proofs) && Array.isArray(e.lost) && typeof e.margin === 'number';
}

/**
 * A ledger directory. Never needed for correctness: a missing, unreadable or foreign entry reads as "never
 * proven", so deleting the directory only makes everything stale. Each write replaces one file atomically
 * (temp file, rename), so a killed process leaves every entry old or new, never torn; entries are not fsync'd,
 * so a power cut may also leave one empty, which reads as "never proven".
 */
export class Ledger {
  constructor(readonly dir: string) {}

  private path(archive: string): string {
    return join(this.dir, ledgerEntryKey(createHash('sha256').update(archive).digest('hex')));
  }

  /** The entry of `archive` (null when there is none or it does not parse). */
  async read(archive: string): Promise<LedgerEntry | null> {
    let text: string;
    try {
      text = await readFile(this.path(archive), 'utf8');
    } catch {
      return null;
    }
    try {
      const e: unknown = JSON.parse(text);
      return valid(e, archive) ? e : null;
    } catch {
      return null;
    }
  }

  /** Replace the entry of `e.dir` atomically. Errors: BF_IO when the ledger directory can't be written. */
  async write(e: LedgerEntry): Promise<void> {
    const p = this.path(e.dir);
    try {
      await mkdir(dirname(p), { recursive: true });
      // Not fsync'd: the ledger is rebuildable, an entry lost to a power cut reads as "never proven" (or is the
      // older one), and two fsyncs per archive cost more than checking a small archive does.
      await writeFileAtomic(p, JSON.stringify(e), { durable: false });
    } catch (err) {
      throw new BlockFrameError('BF_IO', `cannot write the scrub ledger in ${this.dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { path: this.dir }, { cause: err });
    }
  }

  /** Remove the entries of archives that are gone (every entry whose archive is not in `keep`). */
  async prune(keep: ReadonlySet<string> | readonly string[]): Promise<number> {
    const root = join(this.dir, 'archives');
    const fans = await readdir(root).catch(() => [] as string[]);
    if (fans.length === 0) return 0;
    // The first 48 bits of each kept archive's digest, as numbers: about 30 bytes per archive instead of a set of
    // 64-digit strings (a collision only keeps a stale entry, which is harmless).
    const want = new Set<number>();
    for (const d of keep) want.add(createHash('sha256').update(d).digest().readUIntBE(0, 6));
    let removed = 0;
    for (const fan of fans) {
      for (const f of await readdir(join(root, fan)).catch(() => [] as string[])) {
        if (!f.endsWith('.json') || (/^[0-9a-f]{64}\.json$/.test(f) && want.has(Number.parseInt(f.slice(0, 12), 16)))) continue;
        await rm(join(root, fan, f), { force: true });
        removed++;
      }
    }
    return removed;
  }

  /** The last runs, newest last. */
  async runs(): Promise<RunRecord[]> {
    try {
      const r: unknown = JSON.parse(await readFile(join(this.dir, LEDGER_RUNS_FILE), 'utf8'));
      return Array.isArray(r) ? (r as RunRecord[]) : [];
    } catch {
      return [];
    }
  }

  /** Append a run to runs.json, keeping the last 50 (atomic replace). */
  async recordRun(r: RunRecord): Promise<void> {
    const all = [...(await this.runs()), r].slice(-KEEP_RUNS);
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(join(this.dir, LEDGER_RUNS_FILE), `${JSON.stringify(all, null, 1)}\n`);
  }
}
