// Folder archives over the file server: GET/HEAD /files/TREE/PATH (and /files/.snapshots/…), and the JSON listing
// GET /api/tree/PATH the web UI browses with; both over the same MountTree as WebDAV.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockFrameError } from '../errors.js';
import type { MountTree } from '../engine/mount-tree.js';
import { serveTreeFile } from './dav-get.js';
import { decodeSegment, sendJson } from './http-util.js';

/** The mount path named by raw (percent-encoded) segments; each decoded and checked as /files/ names are. */
function treePath(segments: string[]): { path: string; names: string[] } {
  const names = segments.filter((s) => s !== '').map(decodeSegment);
  return { path: `/${names.join('/')}`, names };
}

/**
 * GET/HEAD /files/TREE/PATH: a file of folder archive TREE's latest snapshot; /files/.snapshots/TREE/TIME_ID12/PATH:
 * of that snapshot (the tree of docs/webdav.md). Ranges, validators and damage as serveTreeFile.
 * @throws BF_FILE_NOT_FOUND (404) for no such file; BF_NOT_A_FILE (400) for a directory or a link.
 */
export async function serveTreePath(req: IncomingMessage, res: ServerResponse, tree: MountTree, segments: string[], idleMs: number): Promise<void> {
  const { path, names } = treePath(segments);
  const node = await tree.stat(path);
  if (node.kind !== 'file') throw new BlockFrameError('BF_NOT_A_FILE', `${JSON.stringify(path)} is a ${node.kind === 'dir' ? 'directory' : 'symbolic link'}, not a file (list it with /api/tree${path})`, { path });
  return serveTreeFile(req, res, node, names[names.length - 1]!, () => tree.open(path), idleMs);
}

/**
 * GET /api/tree/PATH: `{path, entries: [{name, kind: file|dir|symlink, size, mtime (ISO 8601), hash?}]}` of the
 * directory at PATH ('' the top: single-file archives, folder archives, .snapshots), in name order.
 * @throws BF_FILE_NOT_FOUND (404); BF_OUTPUT_INVALID when PATH is not a directory.
 */
export async function listTreePath(res: ServerResponse, tree: MountTree, segments: string[]): Promise<void> {
  const { path } = treePath(segments);
  const entries = (await tree.readdir(path)).map((e) => ({ name: e.name, kind: e.node.kind, size: e.node.size, mtime: new Date(e.node.mtimeMs).toISOString(), ...(e.node.hash ? { hash: e.node.hash } : {}) }));
  sendJson(res, 200, { path, entries });
}
