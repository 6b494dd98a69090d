// Store configuration: --store specs (a directory or s3://bucket/prefix?…), the config file `blockframe init`
// writes, and opening a StoreSet with the standard wrappers (timeouts, retries, a concurrency limit).
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { BlockFrameError } from '../errors.js';
import type { Backend } from './backend.js';
import { LocalBackend, resolveArchiveRoot } from './local.js';
import { S3Backend } from './s3.js';
import { StoreSet } from './store-set.js';
import { LimitBackend, MeteredBackend, RetryBackend, TimeoutBackend, WrappedBackend, type StoreCallObserver } from './wrap.js';
import { writeFileAtomic } from '../io/fsutil.js';

export type StoreSpec =
  | { kind: 'local'; path: string }
  | { kind: 's3'; bucket: string; prefix: string; endpoint?: string; region?: string; pathStyle?: boolean; profile?: string };

export const CONFIG_FILE = 'blockframe.json';

/**
 * Where a config file is looked for when none is named (--config, $BLOCKFRAME_CONFIG), first match wins:
 * ./blockframe.json, then $XDG_CONFIG_HOME/blockframe/blockframe.json ($XDG_CONFIG_HOME defaults to ~/.config,
 * as the XDG Base Directory Specification says), then /etc/blockframe/blockframe.json.
 */
export function configSearchPath(env: NodeJS.ProcessEnv = process.env): string[] {
  const xdg = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(env.HOME || homedir(), '.config');
  return [CONFIG_FILE, join(xdg, 'blockframe', CONFIG_FILE), join('/etc', 'blockframe', CONFIG_FILE)];
}

/** The first file of configSearchPath() that exists, else undefined. */
export function findConfig(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return configSearchPath(env).find((p) => existsSync(p));
}

function bad(msg: string, spec?: string): BlockFrameError {
  return new BlockFrameError('BF_STORE_CONFIG', msg, spec === undefined ? {} : { store: spec });
}

/**
 * A store given on the command line or in the config file:
 * - a directory path (relative paths resolve against the working directory);
 * - `s3://BUCKET[/PREFIX][?endpoint=URL&region=R&style=path|virtual&profile=NAME]`. Credentials never go in the
 *   spec: they come from the environment (AWS_ACCESS_KEY_ID, …) or the AWS config and credentials files.
 */
export function parseStoreSpec(text: string): StoreSpec {
  if (!text.startsWith('s3://')) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) throw bad(`unsupported store ${JSON.stringify(text)}: use a directory path or s3://bucket/prefix`, text);
    if (text.trim() === '') throw bad('empty store path');
    return { kind: 'local', path: resolve(text) };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad(`invalid store URL ${JSON.stringify(text)}`, text);
  }
  const bucket = url.hostname;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw bad(`invalid S3 bucket name ${JSON.stringify(bucket)} in ${text}`, text);
  if (url.username || url.password) throw bad('credentials do not belong in a store URL: use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile', text);
  let prefix = decodeURIComponent(url.pathname.replace(/^\/+/, ''));
  if (prefix && !prefix.endsWith('/')) prefix += '/';
  if (prefix.split('/').some((p, i, a) => (p === '' && i < a.length - 1) || p === '.' || p === '..')) throw bad(`invalid S3 prefix ${JSON.stringify(prefix)}`, text);
  const spec: StoreSpec = { kind: 's3', bucket, prefix };
  for (const [k, v] of url.searchParams) {
    if (k === 'endpoint') {
      if (!/^https?:\/\/[^/?#]+\/?$/.test(v)) throw bad(`invalid endpoint ${JSON.stringify(v)}: use http(s)://host:port`, text);
      spec.endpoint = v.replace(/\/$/, '');
    } else if (k === 'region') spec.region = v;
    else if (k === 'style') {
      if (v !== 'path' && v !== 'virtual') throw bad(`style must be path or virtual, not ${JSON.stringify(v)}`, text);
      spec.pathStyle = v === 'path';
    } else if (k === 'profile') spec.profile = v;
    else throw bad(`unknown store option ${JSON.stringify(k)} (known: endpoint, region, style, profile)`, text);
  }
  // A custom endpoint (MinIO, Ceph RGW, Garage, …) usually wants path-style addressing.
  spec.pathStyle ??= spec.endpoint !== undefined;
  return spec;
}

export function specText(spec: StoreSpec): string {
  if (spec.kind === 'local') return spec.path;
  const q = new URLSearchParams();
  if (spec.endpoint) q.set('endpoint', spec.endpoint);
  if (spec.region) q.set('region', spec.region);
  if (spec.pathStyle !== undefined) q.set('style', spec.pathStyle ? 'path' : 'virtual');
  if (spec.profile) q.set('profile', spec.profile);
  const qs = q.toString();
  return `s3://${spec.bucket}/${spec.prefix}${qs ? `?${qs}` : ''}`;
}

/** Parse "OLD=NEW" (the first '=' that leaves two non-empty sides; S3 URLs may hold '=' in their query). */
export function parseReplace(text: string): { from: string; to: string } {
  for (let i = text.indexOf('='); i > 0; i = text.indexOf('=', i + 1)) {
    const from = text.slice(0, i);
    const to = text.slice(i + 1);
    if (to === '') break;
    try {
      parseStoreSpec(from);
      parseStoreSpec(to);
      return { from, to };
    } catch {
      // try the next '='
    }
  }
  throw bad(`--replace takes OLD=NEW (two stores), not ${JSON.stringify(text)}`, text);
}

/** Default per-call limit: a silent store costs a command this once (then the store set's breaker skips it). */
export const DEFAULT_STORE_TIMEOUT_MS = 5000;

/** Per-call limit on every store call (BLOCKFRAME_STORE_TIMEOUT_MS overrides): a hung store costs this, not forever. */
function timeoutMs(): number {
  const v = Number(process.env.BLOCKFRAME_STORE_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_STORE_TIMEOUT_MS;
}

/**
 * Open one store with the standard wrappers. S3: a concurrency limit, then the timeout, then retries inside it, so
 * every try of one call shares one deadline (a call waiting for a slot is not yet timed); the SDK's own idle
 * limit on a socket is the same timeout. A local directory: the timeout only.
 */
export function openBackend(spec: StoreSpec): Backend {
  const ms = timeoutMs();
  if (spec.kind === 'local') return new TimeoutBackend(new LocalBackend(spec.path), ms);
  const s3 = new S3Backend({ bucket: spec.bucket, prefix: spec.prefix, endpoint: spec.endpoint, region: spec.region, pathStyle: spec.pathStyle, profile: spec.profile, idleTimeoutMs: ms });
  return new LimitBackend(new TimeoutBackend(new RetryBackend(s3), ms), 16);
}

const configSchema = z.strictObject({
  version: z.literal(1),
  stores: z.array(z.string().min(1)).min(1).max(64),
  failures: z.number().int().min(0).max(63),
  // The store set's identity (docs/FORMAT.md §14): written by init, absent from configs of older versions.
  set_id: z.string().regex(/^[0-9a-f]{32}$/).optional(),
  store_ids: z.array(z.string().regex(/^[0-9a-f]{32}$/)).optional(),
  // The S3 endpoint's users and grants; validated by src/s3/users.ts when `serve --s3-port` starts.
  s3: z.unknown().optional(),
});
export type StoreConfig = z.infer<typeof configSchema>;

export function loadConfig(path: string): StoreConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw bad(`cannot read the store configuration ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw bad(`${path} is not valid JSON`);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw bad(`${path}: field "${issue.path.join('.') || '(root)'}" ${issue.message.toLowerCase()}`);
  }
  for (const s of parsed.data.stores) parseStoreSpec(s);
  const ids = parsed.data.store_ids;
  if ((ids === undefined) !== (parsed.data.set_id === undefined) || (ids && ids.length !== parsed.data.stores.length)) {
    throw bad(`${path}: fields "set_id" and "store_ids" go together, with one store id per store`);
  }
  return parsed.data;
}

export async function writeConfig(path: string, cfg: StoreConfig): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(configSchema.parse(cfg), null, 2)}\n`);
}

/** Where operations find their stores. */
export interface StoreOptions {
  /** A single archive directory (today's layout); default BLOCKFRAME_ARCHIVE or ./archive_directory. */
  archive?: string;
  /** Several stores, each a failure domain; overrides `archive` and the config file. */
  stores?: string[];
  /** How many whole stores may fail (default 1 with several stores, 0 with one). */
  failures?: number;
  /** A config file written by `blockframe init` (default: BLOCKFRAME_CONFIG, then the first of configSearchPath() that exists). */
  config?: string;
  /** An already opened set (library use, tests); overrides everything else. */
  storeSet?: StoreSet;
  /** Hears one line for each store the identity check finds swapped, absent or foreign (the CLI prints it on stderr). */
  onNotice?: (text: string) => void;
  /** Stand-ins for dead stores (`repair --replace OLD=NEW`): each `from` must be one of the stores, in any spelling that parses the same. */
  replace?: { from: string; to: string }[];
  /** Told of every store call (duration, outcome, bytes): a server's metrics. Not applied to an open `storeSet`. */
  observe?: StoreCallObserver;
}

export interface ResolvedStores {
  set: StoreSet;
  specs: StoreSpec[];
  /** Set when the set is one local directory: paths shown to people, and where staging goes. */
  localRoot?: string;
  /** Where the configuration came from. */
  from: 'archive' | 'stores' | 'config' | 'set';
  configPath?: string;
  /** The set's identity the config file records (absent for older configs and without a config). */
  identity?: StoreSetIdentity;
  /** Slots (0-based) that `replace` filled with a new store. */
  replaced: number[];
}

/** A store set's identity as blockframe.json records it: the set's id and each slot's store id. */
export interface StoreSetIdentity {
  setId: string;
  storeIds: string[];
}

/** For each store of `set`: its directory when it is a local directory (seen through any wrappers), else undefined. */
export function localDirs(set: StoreSet): (string | undefined)[] {
  return set.domains.map((d) => {
    let b: Backend = d;
    while (b instanceof WrappedBackend) b = b.inner;
    return b instanceof LocalBackend ? b.root : undefined;
  });
}

/** The directory of a set that is one local directory (seen through any wrappers), else undefined. */
function localRootOf(set: StoreSet): string | undefined {
  return set.size === 1 ? localDirs(set)[0] : undefined;
}

/** Where the stores of an operation were found, without opening them. */
export interface StoreSource {
  specs: StoreSpec[];
  failures?: number;
  /**
   * What named them: --store, a config file (--config, BLOCKFRAME_CONFIG or ./blockframe.json), --archive, the
   * BLOCKFRAME_ARCHIVE variable, or the default ./archive_directory of the working directory.
   */
  from: 'stores' | 'config' | 'archive' | 'env' | 'default';
  configPath?: string;
  identity?: StoreSetIdentity;
}

/**
 * Decide the stores: --store, then --archive, then --config, then BLOCKFRAME_ARCHIVE, then BLOCKFRAME_CONFIG,
 * then the first config file of configSearchPath() that exists, then ./archive_directory. Every command resolves
 * them this way.
 * Errors: BF_STORE_CONFIG.
 */
export function storeSource(o: StoreOptions): StoreSource {
  if (o.stores?.length) return { specs: o.stores.map(parseStoreSpec), failures: o.failures, from: 'stores' };
  if (o.archive === undefined) {
    // --config, then BLOCKFRAME_ARCHIVE, then BLOCKFRAME_CONFIG, then the search path, then ./archive_directory.
    // An empty variable counts as unset (as `BLOCKFRAME_CONFIG= blockframe …` means).
    const configPath = o.config ?? (process.env.BLOCKFRAME_ARCHIVE ? undefined : (process.env.BLOCKFRAME_CONFIG || findConfig()));
    if (configPath !== undefined) {
      const cfg = loadConfig(configPath);
      const identity = cfg.set_id && cfg.store_ids ? { setId: cfg.set_id, storeIds: cfg.store_ids } : undefined;
      return { specs: cfg.stores.map(parseStoreSpec), failures: o.failures ?? cfg.failures, from: 'config', configPath: resolve(configPath), ...(identity ? { identity } : {}) };
    }
  }
  const from = o.archive !== undefined ? 'archive' : process.env.BLOCKFRAME_ARCHIVE ? 'env' : 'default';
  return { specs: [{ kind: 'local', path: resolveArchiveRoot(o.archive) }], failures: o.failures, from };
}

/** Open the stores that storeSource() names (or the caller's open set), with --replace applied. */
export function resolveStores(o: StoreOptions): ResolvedStores {
  if (o.storeSet) return { set: o.storeSet, specs: [], from: 'set', localRoot: localRootOf(o.storeSet), replaced: [] };
  const src = storeSource(o);
  const specs = src.specs;
  let failures = src.failures;
  const from: ResolvedStores['from'] = src.from === 'env' || src.from === 'default' ? 'archive' : src.from;
  const configPath = src.configPath;
  const replaced: number[] = [];
  for (const r of o.replace ?? []) {
    const from = specText(parseStoreSpec(r.from));
    const i = specs.findIndex((s) => specText(s) === from);
    if (i < 0) throw bad(`--replace: ${from} is not one of the stores (${specs.map(specText).join(', ')})`, r.from);
    specs[i] = parseStoreSpec(r.to);
    replaced.push(i);
  }
  const seen = new Set<string>();
  for (const s of specs) {
    const t = specText(s);
    if (seen.has(t)) throw bad(`store ${t} is given twice`, t);
    seen.add(t);
  }
  failures ??= specs.length > 1 ? 1 : 0;
  const set = new StoreSet(
    specs.map((s, i) => (o.observe ? new MeteredBackend(openBackend(s), i, o.observe) : openBackend(s))),
    failures,
  );
  const only = specs.length === 1 ? specs[0]! : undefined;
  return { set, specs, localRoot: only?.kind === 'local' ? only.path : undefined, from, configPath, replaced, ...(src.identity ? { identity: src.identity } : {}) };
}
