// The web UI of `blockframe serve`, driven in headless Chromium: list → file page → stripe map → audio playback with
// Range requests → seek; then a Tier 4 file page with its level-2 map. Saves a full-page screenshot to test-artifacts/ui.png (and docs/screenshot.png with UPDATE_SCREENSHOT=1).
// Skipped when Debian's Chromium (/usr/bin/chromium) is not installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type Response } from 'playwright-core';
import { commit, createBlockFrameServer } from '../../src/index.js';
import { REPO_ROOT, tempDir } from '../helpers/fixtures.js';

const CHROMIUM = '/usr/bin/chromium';

/** The bits of HTMLMediaElement the test touches (the project compiles without the DOM lib). */
interface MediaEl {
  currentTime: number;
  readonly duration: number;
  muted: boolean;
  readonly error: { message: string } | null;
  play(): Promise<void>;
  addEventListener(type: string, listener: () => void, options?: { once?: boolean }): void;
}
interface FocusGlobals {
  document: { activeElement: { getAttribute(name: string): string | null } | null };
}
/** In-page lookup of the player (runs in the browser). */
interface PageGlobals {
  document: { querySelector(sel: string): MediaEl | null };
}
const WAIT = 15_000;

/** A mono 16-bit PCM WAV: `seconds` of a sine at `freq` Hz, with the RIFF header written by hand. */
function sineWav(seconds: number, rate = 8000, freq = 440): Buffer {
  const samples = Math.round(seconds * rate);
  const dataBytes = samples * 2;
  const b = Buffer.alloc(44 + dataBytes);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + dataBytes, 4);
  b.write('WAVE', 8, 'ascii');
  b.write('fmt ', 12, 'ascii');
  b.writeUInt32LE(16, 16); // fmt chunk size
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28); // byte rate
  b.writeUInt16LE(2, 32); // block align
  b.writeUInt16LE(16, 34); // bits per sample
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < samples; i++) {
    b.writeInt16LE(Math.round(12000 * Math.sin((2 * Math.PI * freq * i) / rate)), 44 + i * 2);
  }
  return b;
}

const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} not found (install Debian's chromium package to run the browser test)`;

test('web UI: archive list, stripe map, audio playback with Range requests and seeking', { skip, timeout: 120_000 }, async () => {
  const { dir, cleanup } = await tempDir('bf-ui-');
  const archive = join(dir, 'archive_directory');
  let browser: Browser | undefined;
  let srv: ReturnType<typeof createBlockFrameServer> | undefined;
  try {
    // Two files: a 3 s WAV as Tier 2 in 16 KiB segments (3 stripes), and a small binary file.
    const wavPath = join(dir, 'tone.wav');
    const wav = sineWav(3);
    await writeFile(wavPath, wav);
    const committed = await commit(wavPath, { archive, tier: 2, segmentSize: 16384 });
    assert.ok(committed.segments >= 3, `expected several segments, got ${committed.segments}`);
    const binPath = join(dir, 'data & notes.bin');
    await writeFile(binPath, Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 31) & 0xff)));
    await commit(binPath, { archive, compress: 3 });
    // A Tier 4 file: 3 blocks in one level-2 group (30 positions); one level-2 parity shard deleted.
    const t4Path = join(dir, 'big.bin');
    await writeFile(t4Path, Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919 + (i >> 8)) & 0xff)));
    const t4 = await commit(t4Path, { archive, tier: 4, segmentSize: 4096 });
    await rm(join(archive, t4.dir, 'level2/group_0/position_5_parity_0.dat'));
    const wavDir = (await readdir(archive)).find((d) => d.startsWith('tone.wav_'));
    assert.ok(wavDir, 'the WAV archive directory exists');
    // Damage two parity shards of the WAV (the data shards stay intact): the map must show them, playback is unaffected.
    await rm(join(archive, wavDir, 'parity/segment_2_parity_1.dat'));
    const corruptPath = join(archive, wavDir, 'parity/segment_0_parity_2.dat');
    const parity = await readFile(corruptPath);
    parity[100] ^= 0xff;
    await writeFile(corruptPath, parity);

    srv = createBlockFrameServer({ archive });
    const server = srv.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      timeout: 20_000,
      args: [
        '--headless=new',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--autoplay-policy=no-user-gesture-required',
      ],
    });
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    page.setDefaultTimeout(WAIT);
    page.setDefaultNavigationTimeout(WAIT);

    const pageErrors: string[] = [];
    const cspViolations: string[] = [];
    const fileResponses: { status: number; range: string | undefined; contentRange: string | undefined }[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (/Content[- ]Security[- ]Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    page.on('response', (r: Response) => {
      if (new URL(r.url()).pathname.startsWith('/files/')) {
        fileResponses.push({ status: r.status(), range: r.request().headers()['range'], contentRange: r.headers()['content-range'] });
      }
    });

    // 1. The list: one row per archive, names escaped as text, a health badge per row.
    await page.goto(`${base}/`);
    const rows = page.locator('table.archives tbody tr');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 3);
    const binRow = page.locator('table.archives tbody tr', { hasText: 'data & notes.bin' });
    assert.match((await binRow.locator('td.stored').textContent()) ?? '', /^zstd \d+\.\d\d×$/, 'the list shows the compression ratio');
    assert.equal(await binRow.locator('th a').textContent(), 'data & notes.bin');
    const wavRow = page.locator(`table.archives tbody tr[data-dir="${wavDir}"]`);
    await binRow.locator('td.health [data-health="healthy"]').waitFor();
    await wavRow.locator('td.health [data-health="repairable"]').waitFor();
    // The stores' states above the table: the one local store, up.
    await page.locator('.stores-line [data-store="1"][data-state="up"]').waitFor();
    assert.equal((await page.locator('.stores-line .badge').textContent())?.trim(), '1 local: up');
    assert.equal((await wavRow.locator('td').nth(0).textContent())?.trim(), '46.9 KiB');
    assert.equal((await wavRow.locator('td').nth(1).textContent())?.trim(), '2');
    assert.equal((await wavRow.locator('td').nth(2).textContent())?.trim(), '300%');

    // 2. Open the WAV's page by clicking its row link.
    await wavRow.locator('th a').click();
    await page.waitForURL((u) => u.hash.startsWith('#/file/'));
    await page.locator('h1', { hasText: 'tone.wav' }).waitFor();

    // 3. The stripe map: one row per segment (1 data + 3 parity squares each), coloured once health arrives.
    await page.locator('.stripe-map[data-health="repairable"]').waitFor();
    const stripeRows = page.locator('.stripe-map .stripe');
    assert.equal(await stripeRows.count(), committed.segments);
    assert.equal(await page.locator('.stripe-map .shard.role-data').count(), committed.segments);
    assert.equal(await page.locator('.stripe-map .shard.role-parity').count(), committed.segments * 3);
    assert.equal(await page.locator('.stripe-map .shard.state-ok').count(), committed.segments * 4 - 2);
    assert.equal(await page.locator('.stripe-map .shard.state-missing').getAttribute('data-path'), 'parity/segment_2_parity_1.dat');
    assert.equal(await page.locator('.stripe-map .shard.state-corrupt').getAttribute('data-path'), 'parity/segment_0_parity_2.dat');
    assert.equal(await page.locator('ul.problems li').count(), 2);
    const title = await page.locator('.stripe-map .shard.role-data').first().getAttribute('title');
    assert.match(title ?? '', /segments\/segment_0\.dat/);
    assert.match(title ?? '', /BLAKE3 [0-9a-f]{64}/);
    assert.equal(await page.locator('.legend li').count(), 7);
    // Keyboard: the map is one tab stop; arrow keys move between squares and describe the focused one.
    await page.locator('.stripe-map .shard[tabindex="0"]').focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('End');
    assert.equal(await page.evaluate(() => (globalThis as unknown as FocusGlobals).document.activeElement?.getAttribute('data-path')), 'parity/segment_1_parity_2.dat');
    assert.match((await page.locator('.shard-detail').textContent()) ?? '', /segment_1_parity_2\.dat .*State: OK/);

    // Download and inline links point at the file route.
    const enc = encodeURIComponent(wavDir);
    assert.equal(await page.locator('a[download]').getAttribute('href'), `/files/${enc}?download=1`);

    // 4. Play: currentTime advances.
    const audio = page.locator('audio');
    assert.equal(await audio.getAttribute('src'), `/files/${enc}`);
    await audio.evaluate(async (el: MediaEl) => {
      el.muted = true;
      await el.play();
    });
    await page.waitForFunction(() => ((globalThis as unknown as PageGlobals).document.querySelector('audio')?.currentTime ?? 0) > 0.3, undefined, { timeout: WAIT });
    const duration = await audio.evaluate((el: MediaEl) => el.duration);
    assert.ok(Math.abs(duration - 3) < 0.05, `duration ${duration}`);

    // 5. Seek to 2.0 s and check it plays on from there.
    await audio.evaluate(
      (el: MediaEl) =>
        new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no seeked event')), 10_000);
          el.addEventListener('seeked', () => (clearTimeout(t), resolve()), { once: true });
          el.currentTime = 2.0;
        }),
    );
    await page.waitForFunction(
      () => {
        const a = (globalThis as unknown as PageGlobals).document.querySelector('audio');
        return !!a && a.currentTime > 2.15 && a.currentTime <= 3.01;
      },
      undefined,
      { timeout: WAIT },
    );
    const afterSeek = await audio.evaluate((el: MediaEl) => ({ t: el.currentTime, error: el.error?.message ?? null }));
    assert.equal(afterSeek.error, null);

    // The player fetched the file with Range requests, answered 206 with a Content-Range.
    const partial = fileResponses.filter((r) => r.status === 206);
    assert.ok(partial.length >= 1, `expected a 206 response, saw ${JSON.stringify(fileResponses)}`);
    assert.match(partial[0]!.contentRange ?? '', new RegExp(`^bytes \\d+-\\d+/${wav.length}$`));
    assert.ok(partial.every((r) => r.range?.startsWith('bytes=')));

    assert.deepEqual(pageErrors, []);
    assert.deepEqual(cspViolations, []);

    // 6. Screenshot of the file page.
    await page.locator(':focus').blur();
    await page.locator('.stripe-map .shard.state-corrupt').hover();
    const artifacts = join(REPO_ROOT, 'test-artifacts');
    await mkdir(artifacts, { recursive: true });
    const shot = join(artifacts, 'ui.png');
    await page.screenshot({ path: shot, fullPage: true, timeout: WAIT });
    await mkdir(join(REPO_ROOT, 'docs'), { recursive: true });
    // The README's screenshot is refreshed on request only, so a test run never dirties the work tree.
    if (process.env.UPDATE_SCREENSHOT === '1') await copyFile(shot, join(REPO_ROOT, 'docs', 'screenshot.png'));

    // 7. The Tier 4 page: level-1 blocks, then a Level 2 map with one row per group and one square per position.
    await page.goto(`${base}/#/file/${encodeURIComponent(t4.dir)}`);
    await page.locator('.stripe-map[data-level="2"][data-health="repairable"]').waitFor();
    assert.equal(await page.locator('.stripe-map[data-level="1"] .stripe').count(), 3);
    assert.equal(await page.locator('.stripe-map[data-level="1"] .shard.state-ok').count(), 74 + 9);
    const l2 = page.locator('.stripe-map[data-level="2"]');
    assert.equal(await l2.locator('.stripe').count(), 1);
    assert.equal(await l2.locator('.shard.role-parity').count(), 30);
    assert.equal(await l2.locator('.shard.state-ok').count(), 29);
    assert.equal(await l2.locator('.shard.state-missing').getAttribute('data-path'), 'level2/group_0/position_5_parity_0.dat');
    assert.match((await l2.locator('.shard').nth(5).getAttribute('title')) ?? '', /group 0, position 5/);
    assert.equal((await page.locator('dl.summary dt', { hasText: 'Level 2' }).locator('xpath=following-sibling::dd[1]').textContent())?.trim(), '30 stripes × RS(3,1) across 1 group of 3 blocks');
    assert.match((await page.locator('dl.summary dt', { hasText: 'Overhead' }).locator('xpath=following-sibling::dd[1]').textContent()) ?? '', /^\d+(\.\d)?% \(level 2: \d+(\.\d)?%\)$/);
    assert.match((await page.locator('ul.problems li').textContent()) ?? '', /position_5_parity_0\.dat \(level-2 stripe 5\)/);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(cspViolations, []);
  } finally {
    await browser?.close().catch(() => {});
    await srv?.close().catch(() => {});
    await cleanup();
  }
});
