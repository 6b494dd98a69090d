// Paths of tree entries (FORMAT.md 13.3): the path rules, path order, joins, and the entry shape walks, snapshots and restores share.
import { BlockFrameError } from './errors.js';

/** Longest path of an entry, in bytes (FORMAT.md 13.3 "Paths"). */
export const MAX_PATH_BYTES = 4096;

const SLASH = 0x2f;
const DOT = 0x2e;

/**
 * One entry of a tree (a snapshot body line, FORMAT.md 13.3, or what a restore writes). Paths and link targets are
 * raw bytes, so names that are not UTF-8 round-trip; `mtimeNs` is nanoseconds since 1970-01-01 UTC; `mode` the
 * permission bits (0 to 0o7777); `size` bytes; `blob` the BLAKE3 of the content, 64 lowercase hex.
 */
export type TreeEntry =
  | { type: 'file'; path: Buffer; mode: number; mtimeNs: bigint; size: number; blob: string }
  | { type: 'dir'; path: Buffer; mode: number; mtimeNs: bigint }
  | { type: 'symlink'; path: Buffer; target: Buffer; mtimeNs: bigint };

/** Which path rule of FORMAT.md 13.3 a path breaks. */
export type PathRule = 'empty' | 'too-long' | 'nul' | 'absolute' | 'empty-component' | 'dot-component' | 'dotdot-component';

const RULE_TEXT: Record<PathRule, string> = {
  empty: 'it is empty',
  'too-long': `it is longer than ${MAX_PATH_BYTES} bytes`,
  nul: 'it contains a NUL byte',
  absolute: 'it starts with "/"',
  'empty-component': 'it has an empty component ("//" or a trailing "/")',
  'dot-component': 'it has a "." component',
  'dotdot-component': 'it has a ".." component',
};

/** A path for messages: the UTF-8 text where the bytes are UTF-8 (JSON-quoted), else `b64:` and its base64. */
export function describePath(path: Uint8Array): string {
  const text = utf8OrNull(path);
  return text === null ? `b64:${Buffer.from(path).toString('base64')}` : JSON.stringify(text);
}

/**
 * The first path rule of FORMAT.md 13.3 ("Paths") that `path` breaks, or null if it is a valid entry path:
 * relative, components joined by `/`, no empty, `.` or `..` component, no NUL, 1 to 4096 bytes.
 */
export function pathRuleBroken(path: Uint8Array): PathRule | null {
  if (path.length === 0) return 'empty';
  if (path.length > MAX_PATH_BYTES) return 'too-long';
  if (path.includes(0)) return 'nul';
  if (path[0] === SLASH) return 'absolute';
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i < path.length && path[i] !== SLASH) continue;
    const len = i - start;
    if (len === 0) return 'empty-component';
    if (len === 1 && path[start] === DOT) return 'dot-component';
    if (len === 2 && path[start] === DOT && path[start + 1] === DOT) return 'dotdot-component';
    start = i + 1;
  }
  return null;
}

/** The BF_PATH_UNSAFE error for `path` breaking `rule`; context `{ path (as describePath), rule }`. */
export function unsafePathError(path: Uint8Array, rule: PathRule | string, detail?: string): BlockFrameError {
  const why = (RULE_TEXT as Record<string, string>)[rule] ?? rule;
  return new BlockFrameError('BF_PATH_UNSAFE', `unsafe path ${describePath(path)}: ${detail ?? why}`, { path: describePath(path), rule });
}

/** Throws BF_PATH_UNSAFE (naming the path and the rule) unless `path` obeys FORMAT.md 13.3 "Paths". */
export function assertSafePath(path: Uint8Array): void {
  const rule = pathRuleBroken(path);
  if (rule !== null) throw unsafePathError(path, rule);
}

/**
 * Path order (FORMAT.md 13.3 "Path order"): component by component, bytewise, a prefix first; equivalently the
 * bytes compared with `/` below every other byte. Negative if a sorts first, 0 if equal, positive otherwise. This is
 * the order of a depth-first walk listing each directory's children in byte order.
 */
export function comparePaths(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (x === SLASH) return -1;
    if (y === SLASH) return 1;
    return x - y;
  }
  return a.length - b.length;
}

/** Byte order of two names of one directory (no `/` in either): how a walk sorts children. */
export function compareNames(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** `parent + "/" + name` (just `name` when parent is empty): the path of a child. */
export function joinPath(parent: Uint8Array, name: Uint8Array): Buffer {
  return parent.length === 0 ? Buffer.from(name) : Buffer.concat([parent, Buffer.of(SLASH), name]);
}

/** True if `dir` is a proper ancestor of `path` (`path` starts with `dir` + "/"). */
export function isAncestor(dir: Uint8Array, path: Uint8Array): boolean {
  if (path.length <= dir.length || path[dir.length] !== SLASH) return false;
  return Buffer.from(path.buffer, path.byteOffset, dir.length).equals(dir);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** The text of `bytes` if they are valid UTF-8, else null. */
export function utf8OrNull(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}
