// The server's archive cache: name → directory resolution and a small LRU of open readers, shared by requests.
import type { ComputePool } from '../compute/pool.js';
import { resolveArchive, type ArchiveFilter } from './find.js';
import { loadSecrets, type KeyInput } from '../archive/keyring.js';
import type { KeySecret } from '../transform/keys.js';
import { openArchive, type OpenArchive } from './read.js';
import type { Repository } from '../archive/repo.js';
import type { Damage } from '../archive/read/reader.js';
import { printable } from '../escape.js';

interface Entry {
  dir: string;
  archive: Promise<OpenArchive>;
  refs: number;
  stale: boolean;
}

/** A leased open archive: release() when the request is done with it. */
export interface Lease {
  dir: string;
  archive: OpenArchive;
  release(): void;
}

/** How long a name → directory resolution is trusted (archives committed by other processes show up after this). */
const RESOLVE_TTL_MS = 2000;

export class ArchiveCache {
  private readonly open = new Map<string, Entry>();
  /** Resolutions by "a:" (all archives) or "v:" (through a visibility policy) + query, with the manifest's name. */
  private readonly names = new Map<string, { dir: string; name?: string; at: number }>();
  /** Damage healed on the fly while serving, by archive directory: logged once per file, shown by the API and UI. */
  private readonly healed = new Map<string, Damage[]>();

  constructor(
    private readonly repo: Repository,
    private readonly pool: ComputePool,
    private readonly capacity = 8,
    private readonly log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
    /** Keys for encrypted archives, from the server's start-up configuration (never from a request). */
    private readonly keys: KeyInput[] = [],
  ) {}

  private secrets?: Promise<KeySecret[]>;
  private loadKeys(): Promise<KeySecret[]> {
    return (this.secrets ??= loadSecrets(this.keys));
  }

  /** Files of `dir` rebuilt from parity while serving since its last repair. */
  healedFiles(dir: string): Damage[] {
    return this.healed.get(dir) ?? [];
  }

  /** Told when an archive that had damage healed on read was repaired or rewritten (its alerts re-arm). */
  onCleared?: (dir: string) => void;
  /** Told once per damaged file of an archive, when it is first rebuilt from parity on read (metrics, alerts). */
  onHeal?: (dir: string, d: Damage) => void;

  /** The key secrets the server was started with (for listings that open encrypted manifests). */
  keySecrets(): Promise<KeySecret[]> {
    return this.loadKeys();
  }

  /** Tell of a damaged file rebuilt on read by a reader outside this cache (a mount's packed-file reads): logged and alerted once, as the cache's own. */
  reportHeal(dir: string, d: Damage): void {
    this.seen(dir, d);
  }

  private seen(dir: string, d: Damage): void {
    const list = this.healed.get(dir) ?? [];
    if (list.some((x) => x.path === d.path)) return;
    list.push(d);
    this.healed.set(dir, list);
    this.onHeal?.(dir, d);
    this.log(
      `blockframe serve: ${d.kind} ${printable(d.path)}${d.store === undefined ? '' : ` on store ${d.store}`} in archive ${printable(dir)}: rebuilt from parity on read (run: blockframe repair ${printable(dir)})`,
    );
  }

  /**
   * The archive directory for a file name, directory name or hash prefix (errors as resolveArchive). With
   * `visible`, only archives it allows are found (others are BF_ARCHIVE_NOT_FOUND, as if absent); a remembered
   * resolution is checked against it again on every use, so a policy change applies at once.
   */
  async resolve(query: string, visible?: ArchiveFilter): Promise<string> {
    const key = `${visible ? 'v' : 'a'}:${query}`;
    const hit = this.names.get(key);
    if (hit && Date.now() - hit.at < RESOLVE_TTL_MS && (!visible || visible(hit.dir, hit.name))) return hit.dir;
    const names = new Map<string, string | undefined>();
    const seen = visible && ((d: string, n: string | undefined) => (names.set(d, n), visible(d, n)));
    const dir = await resolveArchive(this.repo, query, await this.loadKeys(), seen || undefined);
    if (this.names.size > 1024) this.names.clear();
    this.names.set(key, { dir, name: names.get(dir), at: Date.now() });
    return dir;
  }

  /** Lease the open archive for `query` (found as resolve() finds it), opening it (once) if needed. */
  async lease(query: string, visible?: ArchiveFilter): Promise<Lease> {
    return this.leaseDir(await this.resolve(query, visible));
  }

  /** Lease archive directory `dir` as it is named (no name resolution: the caller knows the directory). */
  async leaseDir(dir: string): Promise<Lease> {
    let e = this.open.get(dir);
    if (e && !e.stale) {
      this.open.delete(dir); // re-insert: most recently used last
      this.open.set(dir, e);
    } else {
      e = { dir, archive: openArchive(dir, { storeSet: this.repo.set, pool: this.pool, keys: this.keys, holdFiles: true, onDamageSeen: (d) => this.seen(dir, d) }), refs: 0, stale: false };
      this.open.set(dir, e);
      e.archive.catch(() => this.open.get(dir) === e && this.open.delete(dir));
      this.evict();
    }
    const entry = e;
    entry.refs++;
    let archive: OpenArchive;
    try {
      archive = await entry.archive;
    } catch (err) {
      entry.refs--;
      throw err;
    }
    let released = false;
    return {
      dir,
      archive,
      release: () => {
        if (released) return;
        released = true;
        entry.refs--;
        if (entry.stale && entry.refs === 0) void this.closeEntry(entry);
      },
    };
  }

  /** Forget resolutions and reopen `dir` (or everything) on next use: after a repair or an upload. */
  invalidate(dir?: string): void {
    this.names.clear();
    // Shard files held open since (a repair or an upload renamed new ones into place): read afresh from now on.
    this.repo.dropHeld(dir);
    for (const d of dir === undefined ? [...this.healed.keys()] : this.healed.has(dir) ? [dir] : []) this.onCleared?.(d);
    if (dir === undefined) this.healed.clear();
    else this.healed.delete(dir);
    for (const [d, e] of [...this.open]) {
      if (dir !== undefined && d !== dir) continue;
      this.open.delete(d);
      e.stale = true;
      if (e.refs === 0) void this.closeEntry(e);
    }
  }

  private evict(): void {
    while (this.open.size > this.capacity) {
      const [d, e] = this.open.entries().next().value!;
      this.open.delete(d);
      e.stale = true;
      if (e.refs === 0) void this.closeEntry(e);
    }
  }

  private async closeEntry(e: Entry): Promise<void> {
    try {
      await (await e.archive).close();
    } catch {
      // an archive that failed to open has nothing to close
    }
  }

  async close(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    this.names.clear();
    await Promise.all(all.map((e) => this.closeEntry(e)));
  }
}
