// The notifier: one alert per state change (never per repeat), a webhook retried a bounded number of times within
// a timeout, a command with the alert on stdin, and a clear error for a bad --notify-url.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Notifier } from '../../src/engine/notify.js';
import { BlockFrameError } from '../../src/errors.js';
import { tempDir } from '../helpers/fixtures.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A receiver on 127.0.0.1 answering each POST with the next status of `statuses` (then 204), or never ('hang'). */
async function receiver(statuses: (number | 'hang')[] = []) {
  const bodies: Json[] = [];
  let hits = 0;
  const srv = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const s = statuses[hits++] ?? 204;
      if (s === 'hang') return;
      if (s >= 200 && s < 300) bodies.push(JSON.parse(text));
      res.writeHead(s).end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/`,
    bodies,
    hits: () => hits,
    close: () => new Promise<void>((r) => (srv.closeAllConnections(), srv.close(() => r()))),
  };
}

test('one alert per state change: repeats are dropped, a store back only after lost, damage re-armed when cleared', async () => {
  const hook = await receiver();
  const n = new Notifier({ url: hook.url, log: () => undefined });
  try {
    assert.equal(n.event({ kind: 'store-back', store: 1, detail: 'up at start' }), false, 'a store never lost is not news');
    assert.equal(n.event({ kind: 'store-lost', store: 1, detail: 'gone' }), true);
    for (let i = 0; i < 50; i++) assert.equal(n.event({ kind: 'store-lost', store: 1, detail: 'still gone' }), false);
    assert.equal(n.event({ kind: 'store-lost', store: 2, detail: 'other store' }), true);
    assert.equal(n.event({ kind: 'store-back', store: 1, detail: 'back' }), true);
    assert.equal(n.event({ kind: 'store-back', store: 1, detail: 'back again' }), false);
    assert.equal(n.event({ kind: 'damage-found', archive: 'a', detail: 'x' }), true);
    assert.equal(n.event({ kind: 'damage-found', archive: 'a', detail: 'y' }), false);
    assert.equal(n.event({ kind: 'damage-unrepairable', archive: 'a', detail: 'worse' }), true);
    assert.equal(n.event({ kind: 'damage-cleared', archive: 'a', detail: 'repaired' }), false, 'clearing is not sent');
    assert.equal(n.event({ kind: 'damage-found', archive: 'a', detail: 'again' }), true, 're-armed after clearing');
    assert.equal(n.scrubOverdue(false, 'fine'), false);
    assert.equal(n.scrubOverdue(true, 'late'), true);
    assert.equal(n.scrubOverdue(true, 'later'), false);
    assert.equal(n.scrubOverdue(false, 'caught up'), true);
    await n.idle();
    assert.deepEqual(hook.bodies.map((b) => [b.kind, b.store ?? b.archive ?? null]), [
      ['store-lost', 1],
      ['store-lost', 2],
      ['store-back', 1],
      ['damage-found', 'a'],
      ['damage-unrepairable', 'a'],
      ['damage-found', 'a'],
      ['scrub-overdue', null],
      ['scrub-ok', null],
    ]);
    assert.equal(n.sent, 8);
  } finally {
    await n.close();
    await hook.close();
  }
});

test('webhook: a 500 is retried and delivered once; a receiver that never answers costs the timeout per try, then is given up', async () => {
  const flaky = await receiver([500, 503]);
  const n = new Notifier({ url: flaky.url, log: () => undefined });
  try {
    n.event({ kind: 'store-lost', store: 3, detail: 'x' });
    await n.idle();
    assert.equal(flaky.hits(), 3);
    assert.equal(flaky.bodies.length, 1);
    assert.equal(n.sent, 1);
  } finally {
    await n.close();
    await flaky.close();
  }
  const silent = await receiver(['hang', 'hang', 'hang']);
  const lines: string[] = [];
  const m = new Notifier({ url: silent.url, timeoutMs: 200, attempts: 2, log: (l) => lines.push(l) });
  try {
    const t0 = Date.now();
    m.event({ kind: 'store-lost', store: 1, detail: 'x' });
    await m.idle();
    const took = Date.now() - t0;
    assert.equal(silent.hits(), 2, 'bounded: two tries');
    assert.ok(took >= 400 && took < 3000, `took ${took} ms`);
    assert.equal(m.failed, 1);
    assert.match(lines.join('\n'), /alert store-lost not delivered to the webhook after 2 tries/);
  } finally {
    await m.close();
    await silent.close();
  }
});

test('command: runs once per alert with the JSON on stdin and the BLOCKFRAME_ALERT_* variables', async () => {
  const t = await tempDir('bf-notify-');
  try {
    const out = join(t.dir, 'out');
    const n = new Notifier({ command: `{ printf '%s|%s|%s|' "$BLOCKFRAME_ALERT_KIND" "$BLOCKFRAME_ALERT_ARCHIVE" "$BLOCKFRAME_ALERT_DETAIL"; cat; echo; } >> '${out}'`, log: () => undefined });
    n.event({ kind: 'damage-found', archive: 'arch', detail: 'one file' });
    n.event({ kind: 'damage-found', archive: 'arch', detail: 'one file' });
    await n.idle();
    await n.close();
    const lines = (await readFile(out, 'utf8')).trim().split('\n');
    assert.equal(lines.length, 1);
    const [kind, archive, detail, json] = lines[0]!.split('|');
    assert.deepEqual([kind, archive, detail], ['damage-found', 'arch', 'one file']);
    const body = JSON.parse(json!) as Json;
    assert.deepEqual([body.kind, body.archive, body.detail, body.source], ['damage-found', 'arch', 'one file', 'blockframe']);
  } finally {
    await t.cleanup();
  }
});

test('a --notify-url that is not an http(s) URL is refused with BF_USAGE', () => {
  for (const url of ['ftp://x/', 'not a url', 'file:///etc/passwd']) {
    assert.throws(() => new Notifier({ url }), (e: unknown) => e instanceof BlockFrameError && e.code === 'BF_USAGE' && /--notify-url must be an http\(s\) URL/.test(e.message));
  }
});
