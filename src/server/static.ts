// The web UI's static files: src/server/ui/* at /ui/<file> and index.html at /, only files that exist there.
import { readdir, readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { notFound, sendError } from './http-util.js';

/** dist/src/server/static.js → <repo>/src/server/ui (the assets are not compiled, so they are read from the source tree). */
export const UI_DIR = fileURLToPath(new URL('../../../src/server/ui/', import.meta.url));

const UI_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
  json: 'application/json',
  txt: 'text/plain; charset=utf-8',
};

export const UI_CSP = "default-src 'self'; media-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** Serve `file` from the UI directory if (and only if) a regular entry of that exact name is listed there. */
export async function serveUi(res: ServerResponse, file: string, head: boolean): Promise<void> {
  const entries = await readdir(UI_DIR, { withFileTypes: true }).catch(() => []);
  const entry = entries.find((e) => e.name === file && e.isFile());
  if (!entry) {
    sendError(res, notFound(`ui/${file}`));
    return;
  }
  const body = await readFile(`${UI_DIR}${entry.name}`);
  const ext = file.slice(file.lastIndexOf('.') + 1).toLowerCase();
  res.writeHead(200, {
    'Content-Type': UI_TYPES[ext] ?? 'application/octet-stream',
    'Content-Length': body.length,
    'Content-Security-Policy': UI_CSP,
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-cache',
  });
  res.end(head ? undefined : body);
}
