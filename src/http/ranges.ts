// RFC 9110 Range / If-Range handling for the HTTP server: parse, validate, coalesce byte ranges against a size.

/** Inclusive byte range [start, end]. */
export interface Span {
  start: number;
  end: number;
}

export type RangeResult =
  /** No usable Range header (absent, another unit, or syntactically invalid): serve the whole representation. */
  | { kind: 'full' }
  | { kind: 'unsatisfiable' }
  | { kind: 'ranges'; spans: Span[] };

/** More ranges than this (or a longer header) and the Range header is ignored, as RFC 9110 §14.2 allows. */
export const MAX_RANGES = 100;
export const MAX_RANGE_HEADER = 4096;
/** Ranges closer than this are merged into one part, so tiny gaps never cost a multipart header each. */
const COALESCE_GAP = 80;

const SPEC = /^(\d*)-(\d*)$/;

/**
 * Parse a Range header against a representation of `size` bytes. Syntax errors, non-"bytes" units, too many
 * ranges or an over-long header give 'full' (the header is ignored); ranges none of which overlap the file give
 * 'unsatisfiable'. Overlapping or nearly adjacent ranges are coalesced; otherwise the client's order is kept.
 */
export function parseRangeHeader(header: string | undefined, size: number): RangeResult {
  if (header === undefined || header.length > MAX_RANGE_HEADER) return { kind: 'full' };
  const eq = header.indexOf('=');
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return { kind: 'full' };
  const parts = header.slice(eq + 1).split(',').map((p) => p.trim());
  // Empty list elements are allowed by the #rule, but at least one range is required.
  const specs = parts.filter((p) => p !== '');
  if (specs.length === 0 || specs.length > MAX_RANGES) return { kind: 'full' };
  const spans: Span[] = [];
  for (const spec of specs) {
    const m = SPEC.exec(spec);
    if (!m || (m[1] === '' && m[2] === '')) return { kind: 'full' };
    if (m[1] === '') {
      const suffix = Number(m[2]);
      if (!Number.isSafeInteger(suffix)) return { kind: 'full' };
      if (suffix === 0 || size === 0) continue; // unsatisfiable on its own
      spans.push({ start: Math.max(0, size - suffix), end: size - 1 });
      continue;
    }
    const start = Number(m[1]);
    const last = m[2] === '' ? Number.MAX_SAFE_INTEGER : Number(m[2]);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(last) || last < start) return { kind: 'full' };
    if (start >= size) continue;
    spans.push({ start, end: Math.min(last, size - 1) });
  }
  if (spans.length === 0) return { kind: 'unsatisfiable' };
  return { kind: 'ranges', spans: coalesce(spans) };
}

/** Merge overlapping or nearly adjacent spans. When nothing needs merging the request order is kept. */
export function coalesce(spans: Span[]): Span[] {
  if (spans.length < 2) return spans;
  const sorted = [...spans].sort((a, b) => a.start - b.start || a.end - b.end);
  const merged: Span[] = [{ ...sorted[0]! }];
  for (const s of sorted.slice(1)) {
    const last = merged[merged.length - 1]!;
    if (s.start <= last.end + 1 + COALESCE_GAP) last.end = Math.max(last.end, s.end);
    else merged.push({ ...s });
  }
  return merged.length === spans.length ? spans : merged;
}

/** Strong ETag comparison as If-Range requires (weak tags never match). */
function strongMatch(tag: string, etag: string): boolean {
  return !tag.startsWith('W/') && tag === etag;
}

/**
 * Whether an If-Range precondition holds: an entity tag must match strongly; an HTTP-date must equal the
 * Last-Modified time exactly. Absent → true. Anything unparseable → false (send the whole representation).
 */
export function ifRangeHolds(ifRange: string | undefined, etag: string, lastModified: Date): boolean {
  if (ifRange === undefined) return true;
  const v = ifRange.trim();
  if (v.startsWith('"') || v.startsWith('W/')) return strongMatch(v, etag);
  const t = Date.parse(v);
  return Number.isFinite(t) && Math.floor(t / 1000) === Math.floor(lastModified.getTime() / 1000);
}

/** If-None-Match against our ETag (weak comparison, '*' matches anything). */
export function noneMatch(header: string | undefined, etag: string): boolean | undefined {
  if (header === undefined) return undefined;
  if (header.trim() === '*') return true;
  const strip = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => strip(t) === strip(etag));
}

/** If-Modified-Since: true when the representation has not changed since the given date. */
export function notModifiedSince(header: string | undefined, lastModified: Date): boolean {
  if (header === undefined) return false;
  const t = Date.parse(header);
  return Number.isFinite(t) && Math.floor(lastModified.getTime() / 1000) <= Math.floor(t / 1000);
}
