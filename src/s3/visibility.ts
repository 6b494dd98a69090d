// What the file server may show anonymously of the archives that hold S3 objects: a rule over the bucket catalogue.
import type { Backend } from '../store/backend.js';
import { Catalog } from './catalog.js';
import { openRecords, S3_BUCKETS_KEY } from '../engine/records.js';

/**
 * May a client without the file server's bearer token see the archive in `dir`, whose manifest names `name`
 * (undefined when unreadable or sealed)? Same shape as the file server's ArchiveVisibility, which this module
 * does not import (src/s3 and src/server stay apart; `blockframe serve` wires one into the other).
 */
export type AnonymousVisibility = (dir: string, name: string | undefined) => boolean;

/**
 * The rule for the file server's anonymous side, read live from `catalog` (so ACL changes apply at once):
 * an archive that belongs to a bucket is visible only when every bucket it belongs to is public-read (the HTTP
 * side has no S3 users, so grants to users do not count). It belongs to bucket B when a key of B refers to it,
 * or when its name is "B/…" (S3 objects' archives are named "bucket/key"): objects written but not yet recorded,
 * left as orphans by a failed retire, or of a bucket this catalogue does not know yet, stay hidden too. Archives
 * with no '/' in their name and no key referring to them (committed with the CLI or PUT /files) are visible.
 * With `publicRead` false, no bucket counts as public-read: every bucket's archives are hidden.
 */
export function anonymousVisibility(catalog: Catalog, publicRead = true): AnonymousVisibility {
  const open = (bucket: string) => publicRead && catalog.bucket(bucket)?.publicRead === true;
  return (dir, name) => {
    if (!catalog.bucketsOf(dir).every(open)) return false;
    const slash = name === undefined ? -1 : name.indexOf('/');
    return slash < 0 || open(name!.slice(0, slash));
  };
}

/**
 * For `serve` without the S3 API: the rule over the catalogue of `store` as it is now, with every bucket taken as
 * private (this process does not follow ACL changes made by another, so it never relies on public-read); or
 * undefined when the store has no S3 buckets (nothing to hide). New buckets' archives are named "B/…": hidden too.
 */
export async function loadAnonymousVisibility(store: Backend, signal?: AbortSignal): Promise<AnonymousVisibility | undefined> {
  if (!(await openRecords(store).has(S3_BUCKETS_KEY, signal))) return undefined;
  const catalog = await Catalog.load(store, signal);
  return catalog.listBuckets().length === 0 ? undefined : anonymousVisibility(catalog, false);
}
