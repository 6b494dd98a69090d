// `restore --include GLOB` / `--exclude GLOB`: which snapshot entries a restore writes (the glob dialect is documented in README.md, "restore").
import { BlockFrameError } from '../errors.js';

/**
 * The glob dialect (one pattern per --include or --exclude; text, matched against the entry's path as UTF-8, bytes
 * that are not UTF-8 read as U+FFFD):
 * - `*` any run of characters except `/`; `?` one character except `/`; `[abc]`, `[a-z]`, `[!a-z]` one character
 *   of (or not of) a set, never `/`; `\\x` the character x itself;
 * - `**` as a whole component: any number of whole components (`a/` + `**` + `/b` matches `a/b` and `a/x/y/b`;
 *   a leading one also matches none, a trailing one at least one);
 * - a pattern without `/` matches an entry's last component at any depth (`*.jpg`); one with `/` matches the
 *   whole path from the snapshot's root (a leading `/` is dropped: `/2024` is the top-level `2024` only);
 * - an entry matches when its path or any of its parent directories' paths matches: `--include 2024` restores
 *   the tree under `2024`, `--exclude cache` drops every `cache` directory with its contents.
 * This is the gitignore/rsync family without negation or anchoring subtleties.
 */
export interface PathGlob {
  text: string;
  /** Matches a path whose components are joined by '/'. */
  re: RegExp;
  /** True for patterns without '/': they match the last component only. */
  basename: boolean;
}

/** Compile one pattern. @throws BlockFrameError BF_USAGE for an empty pattern or an unclosed `[`. */
export function compileGlob(text: string, flag = '--include'): PathGlob {
  const raw = text.replace(/^\/+/, '').replace(/\/+$/, '');
  if (raw.length === 0) throw new BlockFrameError('BF_USAGE', `${flag} needs a non-empty pattern`, { field: flag.replace(/^--/, '') });
  const basename = !text.includes('/');
  const parts = raw.split('/');
  let re = '';
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    const last = i === parts.length - 1;
    if (p === '**') {
      // Any number of whole components: alone, everything; first, zero or more leading directories; last, anything
      // below; within, zero or more directories between its neighbours.
      re += parts.length === 1 ? '.*' : i === 0 ? '(?:[^/]*/)*' : last ? '/.+' : '(?:/[^/]*)*/';
      continue;
    }
    if (i > 0 && parts[i - 1] !== '**') re += '/';
    re += component(p, text, flag);
  }
  return { text, re: new RegExp(`^${re}$`, 's'), basename };
}

function component(p: string, text: string, flag: string): string {
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '\\' && i + 1 < p.length) out += escapeRe(p[++i]!);
    else if (c === '[') {
      const close = p.indexOf(']', i + 2);
      if (close < 0) throw new BlockFrameError('BF_USAGE', `${flag} ${JSON.stringify(text)}: "[" without "]"`, { field: flag.replace(/^--/, '') });
      let set = p.slice(i + 1, close);
      const neg = set.startsWith('!') || set.startsWith('^');
      if (neg) set = set.slice(1);
      out += `[${neg ? '^/' : ''}${set.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else out += escapeRe(c);
  }
  return out;
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Does `g` match `path` itself (not its parents)? */
function matchOne(g: PathGlob, path: string): boolean {
  return g.re.test(g.basename ? path.slice(path.lastIndexOf('/') + 1) : path);
}

/** Does `g` match `path` or one of its parent directories? */
export function matchesOrUnder(globs: readonly PathGlob[], path: string): boolean {
  if (globs.length === 0) return false;
  for (let at = path.indexOf('/'); ; at = path.indexOf('/', at + 1)) {
    const p = at < 0 ? path : path.slice(0, at);
    for (const g of globs) if (matchOne(g, p)) return true;
    if (at < 0) return false;
  }
}

/** Which entries a restore writes: included (no --include, or one matches it or a parent) and not excluded. */
export class PathFilter {
  private readonly include: PathGlob[];
  private readonly exclude: PathGlob[];
  private readonly decoder = new TextDecoder('utf-8');

  constructor(include: readonly string[] = [], exclude: readonly string[] = []) {
    this.include = include.map((t) => compileGlob(t, '--include'));
    this.exclude = exclude.map((t) => compileGlob(t, '--exclude'));
  }

  /** True when neither --include nor --exclude was given. */
  get empty(): boolean {
    return this.include.length === 0 && this.exclude.length === 0;
  }

  /** Is the entry at `path` (bytes) written? */
  wants(path: Uint8Array): boolean {
    const text = this.decoder.decode(path);
    if (this.include.length && !matchesOrUnder(this.include, text)) return false;
    return !matchesOrUnder(this.exclude, text);
  }
}
