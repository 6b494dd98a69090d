// The store marker's schema (docs/FORMAT.md §14): which store set a store belongs to, and its slot in that set.
import { z } from 'zod';
import { BlockFrameError } from '../errors.js';

/** The marker format this version writes and reads. */
export const STORE_MARKER_FORMAT = 1;
/** No marker is larger than this (it is about 200 bytes). */
export const STORE_MARKER_MAX_BYTES = 64 * 1024;

const id = z.string().regex(/^[0-9a-f]{32}$/, 'must be 32 lowercase hex digits');

const markerSchema = z.object({
  blockframe_store: z.literal(STORE_MARKER_FORMAT),
  /** The store set: the same on every store of the set (recorded as set_id in blockframe.json). */
  set_id: id,
  /** 0-based slot of this store in the set (the order of --store, and of "stores" in blockframe.json). */
  index: z.number().int().min(0).max(63),
  /** How many stores the set had when the marker was written. */
  stores: z.number().int().min(1).max(64),
  /** This store's own random id (recorded in store_ids of blockframe.json); a replacement disk gets a new one. */
  store_id: id,
  /** When the marker was written, ISO 8601 UTC. */
  created: z.string().min(1),
});
export type StoreMarker = z.infer<typeof markerSchema>;

/**
 * Parse a marker's text. Unknown fields are ignored (a later minor addition); a different `blockframe_store`
 * number, a missing field or bad JSON is BF_STORE_FOREIGN (the object is not a marker this version understands).
 */
export function parseStoreMarker(text: string, where: string): StoreMarker {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new BlockFrameError('BF_STORE_FOREIGN', `${where}: the store marker is not valid JSON`, { store: where });
  }
  const r = markerSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new BlockFrameError('BF_STORE_FOREIGN', `${where}: store marker field "${issue.path.join('.') || '(root)'}" ${issue.message.toLowerCase()}`, { store: where, field: issue.path.join('.') });
  }
  return r.data;
}

export function serializeStoreMarker(m: StoreMarker): string {
  return `${JSON.stringify(markerSchema.parse(m), null, 2)}\n`;
}
