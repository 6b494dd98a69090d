// Reads that survive a concurrent prune (docs/FORMAT.md §13.6 "Locks", §13.8): a BlobReader whose index is loaded again when a blob has no valid location, and the read tried once more.
import { Readable } from 'node:stream';
import { isBlockFrameError } from '../errors.js';
import { loadBlobIndex, type BlobIndex, type BlobLocation } from '../archive/blob-index.js';
import type { Repository } from '../archive/repo.js';
import { BlobReader, type BlobReadOptions } from './blob-read.js';

/**
 * The repository's blob index, loaded again on demand. `generation` counts the loads; reloads asked for at once (by
 * several reads in flight) share one load, and a reload asked for by a read that failed before the last load
 * finished is not repeated.
 */
export class ReloadingIndex {
  generation = 0;
  private pending: Promise<void> | null = null;
  constructor(
    private readonly repo: Repository,
    public current: BlobIndex,
    private readonly signal?: AbortSignal,
  ) {}

  lookup(hash: string): BlobLocation[] {
    return this.current.lookup(hash);
  }

  /** Load the index again unless it was loaded since generation `seen`. Store errors are thrown. */
  async reloadSince(seen: number): Promise<void> {
    if (this.generation > seen) return;
    this.pending ??= (async () => {
      try {
        this.current = (await loadBlobIndex(this.repo, { signal: this.signal })).index;
        this.generation++;
      } finally {
        this.pending = null;
      }
    })();
    await this.pending;
  }
}

/**
 * A BlobReader for reads that take no repository lock (restore, cat, ls, a server's reads): when a read finds no
 * valid location for a blob (BF_BLOB_MISSING), the index is loaded again and the read tried once more. Prune keeps
 * every live blob indexed in a pack that exists at every instant (FORMAT.md §13.6 "the invariant") and deletes a
 * pack only after the index that replaces it is durable, so a reader whose index predates a prune finds the blob
 * in the new index. A stream is retried only when it failed before its first byte (later, the bytes already went
 * out: the caller sees the error). A blob that is missing in the new index too is BF_BLOB_MISSING as before.
 */
export class RetryingBlobReader extends BlobReader {
  constructor(
    private readonly idx: ReloadingIndex,
    repo: Repository,
    opts: BlobReadOptions,
  ) {
    super(repo, idx, opts);
  }

  /** Open the repository's index and a reader over it. */
  static async open(repo: Repository, opts: BlobReadOptions): Promise<{ reader: RetryingBlobReader; index: ReloadingIndex }> {
    const index = new ReloadingIndex(repo, (await loadBlobIndex(repo, { signal: opts.signal })).index, opts.signal);
    return { reader: new RetryingBlobReader(index, repo, opts), index };
  }

  override async read(hash: string, start = 0, end?: number): Promise<Buffer> {
    const seen = this.idx.generation;
    try {
      return await super.read(hash, start, end);
    } catch (err) {
      if (!isBlockFrameError(err, 'BF_BLOB_MISSING')) throw err;
      await this.idx.reloadSince(seen);
      return super.read(hash, start, end);
    }
  }

  override stream(hash: string, start = 0, end?: number): Readable {
    const first = (): Readable => super.stream(hash, start, end);
    const idx = this.idx;
    async function* gen(): AsyncGenerator<Buffer> {
      const seen = idx.generation;
      let sent = false;
      try {
        for await (const c of first() as AsyncIterable<Buffer>) {
          sent = true;
          yield c;
        }
        return;
      } catch (err) {
        if (sent || !isBlockFrameError(err, 'BF_BLOB_MISSING')) throw err;
      }
      await idx.reloadSince(seen);
      yield* first() as AsyncIterable<Buffer>;
    }
    return Readable.from(gen(), { objectMode: false });
  }
}
