// Scrub coverage: from the ledger's entries, how much of the store set is proven within the period, and the margins.
import type { LedgerEntry } from './ledger.js';

/** What the status needs of one archive (read from its ledger entry when the status is taken). */
export interface ArchiveSummaryLine {
  dir: string;
  /** Stripes and shard bytes; an archive without a ledger entry counts as 1 stripe of unknown size until scrubbed. */
  stripes: number;
  bytes: number;
  proofs: [number, number, number][];
  created: number;
  /** Last known margin; null when never checked. */
  margin: number | null;
}

export function summaryOf(dir: string, e: LedgerEntry | null): ArchiveSummaryLine {
  if (!e) return { dir, stripes: 1, bytes: 0, proofs: [], created: 0, margin: null };
  return { dir, stripes: e.stripes, bytes: e.bytes, proofs: e.proofs, created: e.created, margin: e.margin };
}

/** The patrol's state for people, metrics and alerts. */
export interface PatrolStatus {
  at: string;
  periodSeconds: number;
  archives: number;
  stripes: number;
  /** Shard bytes of the archives the ledger knows. */
  bytes: number;
  /** Stripes proven at least once, and within the last period. */
  provenStripes: number;
  freshStripes: number;
  /** freshStripes / stripes (1 with no stripes). */
  coverage: number;
  /** Stripes whose last proof is older than the period, or never proven in an archive older than the period. */
  overdueStripes: number;
  /** Stripes never proven (of archives younger than the period: not yet overdue). */
  unprovenStripes: number;
  /** Age of the oldest proof, seconds; null when some stripe was never proven. */
  oldestProofAgeSeconds: number | null;
  /** The contract holds: no stripe overdue and none unproven. */
  onTrack: boolean;
  /** The average rate (bytes/s) that proves every known byte once per period. */
  neededRate: number;
  /** The smallest known margin of all archives (null when none was checked yet), and the lowest few archives. */
  margin: number | null;
  lowestMargins: { dir: string; margin: number }[];
}

/**
 * The coverage of the ledger, one archive at a time (bounded memory for any number of archives: the patrol and a
 * scrub feed it from the ledger files, not from a list held in memory).
 */
export class CoverageTally {
  private readonly s: PatrolStatus;
  private oldest = Infinity;
  private readonly lows: { dir: string; margin: number }[] = [];

  constructor(
    private readonly now: number,
    private readonly periodMs: number,
  ) {
    this.s = {
      at: new Date(now).toISOString(),
      periodSeconds: periodMs / 1000,
      archives: 0,
      stripes: 0,
      bytes: 0,
      provenStripes: 0,
      freshStripes: 0,
      coverage: 1,
      overdueStripes: 0,
      unprovenStripes: 0,
      oldestProofAgeSeconds: null,
      onTrack: true,
      neededRate: 0,
      margin: null,
      lowestMargins: [],
    };
  }

  add(l: ArchiveSummaryLine): void {
    const { s, now, periodMs } = this;
    s.archives++;
    s.stripes += l.stripes;
    s.bytes += l.bytes;
    let covered = 0;
    for (const [a, b, t] of l.proofs) {
      const n = b - a + 1;
      if (t <= 0) continue;
      covered += n;
      this.oldest = Math.min(this.oldest, t);
      if (now - t <= periodMs) s.freshStripes += n;
      else s.overdueStripes += n;
    }
    s.provenStripes += covered;
    const never = l.stripes - covered;
    if (never > 0) {
      this.oldest = -Infinity;
      if (l.created > 0 && now - l.created > periodMs) s.overdueStripes += never;
      else s.unprovenStripes += never;
    }
    if (l.margin !== null) {
      s.margin = s.margin === null ? l.margin : Math.min(s.margin, l.margin);
      this.lows.push({ dir: l.dir, margin: l.margin });
      this.lows.sort((x, y) => x.margin - y.margin);
      if (this.lows.length > 10) this.lows.pop();
    }
  }

  result(): PatrolStatus {
    const { s, now, oldest } = this;
    s.coverage = s.stripes === 0 ? 1 : s.freshStripes / s.stripes;
    s.oldestProofAgeSeconds = oldest === Infinity ? (s.stripes === 0 ? 0 : null) : oldest === -Infinity ? null : Math.round((now - oldest) / 1000);
    s.onTrack = s.overdueStripes === 0 && s.unprovenStripes === 0;
    s.neededRate = Math.ceil(s.bytes / (this.periodMs / 1000));
    s.lowestMargins = [...this.lows];
    return { ...s };
  }
}

export function coverageOf(lines: Iterable<ArchiveSummaryLine>, now: number, periodMs: number): PatrolStatus {
  const t = new CoverageTally(now, periodMs);
  for (const l of lines) t.add(l);
  return t.result();
}
