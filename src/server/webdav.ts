// Read-only WebDAV (RFC 4918, class 1) under /dav/: OPTIONS, PROPFIND Depth 0/1, GET/HEAD over the mount tree.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockFrameError } from '../errors.js';
import { MountTree, type MountDirent, type MountNode } from '../engine/mount-tree.js';
import type { Serving } from '../engine/serving.js';
import { contentTypeFor, methodNotAllowed } from './http-util.js';
import { etagOf, serveTreeFile } from './dav-get.js';
import type { ArchiveVisibility } from './visibility.js';

/** Where the WebDAV tree is mounted on the file server (docs/http-api.md, "WebDAV"). */
export const DAV_PREFIX = '/dav';
/** The methods a read-only class-1 server answers (RFC 4918 §18.1); every other one is 405 with this Allow. */
export const DAV_METHODS = ['OPTIONS', 'PROPFIND', 'GET', 'HEAD'];
/** Longest PROPFIND body read (it is read and dropped: every PROPFIND is answered as allprop). */
const MAX_BODY = 64 * 1024;

/**
 * The WebDAV side of one server: two MountTrees over the server's Serving, one showing every archive (requests
 * with the bearer token, or no visibility policy) and one showing what an anonymous /files/ reader may see.
 */
export class DavTrees {
  readonly all: MountTree;
  readonly anonymous: MountTree;

  constructor(serving: Serving, visibility: () => ArchiveVisibility | undefined) {
    this.all = new MountTree(serving);
    this.anonymous = new MountTree(serving, {
      // Folder archives are asked about as ('', TREE): never in a bucket, hidden only when TREE is named "B/…".
      visible: (dir, name) => visibility()?.(dir, name) ?? true,
    });
  }

  /** The tree for a request whose view is `view` (undefined: everything). */
  tree(view: ArchiveVisibility | undefined): MountTree {
    return view === undefined ? this.all : this.anonymous;
  }

  /** The visibility rule changed: list again on the next request. */
  refresh(): void {
    this.anonymous.refresh();
  }

  async close(): Promise<void> {
    await Promise.all([this.all.close(), this.anonymous.close()]);
  }
}

/**
 * Answer one request under DAV_PREFIX. `segments`: the raw (still percent-encoded) path segments after the prefix.
 * Errors thrown before a byte is sent become JSON errors with the code's status (BF_FILE_NOT_FOUND 404…).
 */
export async function serveDav(req: IncomingMessage, res: ServerResponse, tree: MountTree, segments: string[], idleMs: number): Promise<void> {
  const method = req.method ?? '';
  const names = segments.filter((s) => s !== '').map(decodeName);
  const path = `/${names.join('/')}`;
  if (method === 'OPTIONS') {
    res.writeHead(200, { DAV: '1', Allow: DAV_METHODS.join(', '), 'MS-Author-Via': 'DAV', 'Content-Length': 0 });
    res.end();
    return;
  }
  // Read-only: every method that writes (PUT, DELETE, MKCOL, COPY, MOVE, PROPPATCH, LOCK, UNLOCK, POST…) is 405.
  if (!DAV_METHODS.includes(method)) throw methodNotAllowed(method, DAV_METHODS);
  const node = await tree.stat(path);
  if (method === 'PROPFIND') return propfind(req, res, tree, names, node);
  if (node.kind === 'dir') return listingText(req, res, await tree.readdir(path));
  if (node.kind !== 'file') throw new BlockFrameError('BF_NOT_A_FILE', `${JSON.stringify(path)} is a symbolic link; WebDAV shows no links`, { path });
  return serveTreeFile(req, res, node, names[names.length - 1] ?? '', () => tree.open(path), idleMs);
}

/** One path segment of a request, percent-decoded: any name but '' and those with '/' or NUL. */
function decodeName(raw: string): string {
  let s: string;
  try {
    s = decodeURIComponent(raw);
  } catch {
    throw new BlockFrameError('BF_BAD_REQUEST', 'malformed percent-encoding in the path');
  }
  if (s.includes('/') || s.includes('\0')) throw new BlockFrameError('BF_BAD_REQUEST', `invalid name in the path: ${JSON.stringify(s)}`);
  return s;
}

/**
 * PROPFIND (RFC 4918 §9.1): Depth 0 (the resource) or 1 (and its members); "infinity", or no Depth header (which
 * means infinity), is 403 with the DAV:propfind-finite-depth precondition (§9.1, §16). The body is read (at most
 * MAX_BODY bytes) and every request is answered with all the live properties we have (as allprop, §9.1.5).
 */
async function propfind(req: IncomingMessage, res: ServerResponse, tree: MountTree, names: string[], node: MountNode): Promise<void> {
  await readBody(req);
  const depth = String(req.headers.depth ?? 'infinity').trim().toLowerCase();
  if (depth !== '0' && depth !== '1') {
    const body = `<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>\n`;
    res.writeHead(403, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  const responses = [response(names, node)];
  if (depth === '1' && node.kind === 'dir') {
    for (const e of await tree.readdir(`/${names.join('/')}`)) {
      if (e.node.kind !== 'symlink') responses.push(response([...names, e.name], e.node));
    }
  }
  const body = `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n${responses.join('')}</D:multistatus>\n`;
  res.writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-cache' });
  res.end(body);
}

/** Read and drop a request body of at most MAX_BODY bytes (413 BF_TOO_LARGE beyond). */
async function readBody(req: IncomingMessage): Promise<void> {
  let n = 0;
  for await (const chunk of req) {
    n += (chunk as Buffer).length;
    if (n > MAX_BODY) throw new BlockFrameError('BF_BAD_REQUEST', `the PROPFIND body is over ${MAX_BODY} bytes`);
  }
}

/** The <D:response> of one resource: href percent-encoded per segment (directories end in '/'). */
function response(names: string[], node: MountNode): string {
  const dir = node.kind === 'dir';
  const href = `${DAV_PREFIX}/${names.map(encodeURIComponent).join('/')}${dir && names.length ? '/' : ''}`;
  const time = new Date(node.mtimeMs);
  const props = [
    `<D:resourcetype>${dir ? '<D:collection/>' : ''}</D:resourcetype>`,
    `<D:displayname>${xml(names[names.length - 1] ?? '')}</D:displayname>`,
    `<D:getlastmodified>${time.toUTCString()}</D:getlastmodified>`,
    `<D:creationdate>${time.toISOString()}</D:creationdate>`,
  ];
  if (!dir) {
    props.push(`<D:getcontentlength>${node.size}</D:getcontentlength>`, `<D:getetag>${xml(etagOf(node))}</D:getetag>`, `<D:getcontenttype>${xml(contentTypeFor(names[names.length - 1] ?? ''))}</D:getcontenttype>`);
  }
  return `<D:response><D:href>${xml(href)}</D:href><D:propstat><D:prop>${props.join('')}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n`;
}

/** Text for XML 1.0 character data: markup escaped, characters XML cannot hold as %XX. */
function xml(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[&<>"]|[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
  );
}

/** GET of a collection (undefined by RFC 4918 §9.4): the member names, one a line ('/' after directories). */
function listingText(req: IncomingMessage, res: ServerResponse, entries: MountDirent[]): void {
  const body = entries.filter((e) => e.node.kind !== 'symlink').map((e) => `${e.name}${e.node.kind === 'dir' ? '/' : ''}\n`).join('');
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' });
  res.end(req.method === 'HEAD' ? undefined : body);
}
