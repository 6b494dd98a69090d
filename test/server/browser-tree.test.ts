// The web UI's folder-archive view in headless Chromium: from the archive list to a folder archive's latest snapshot,
// into a directory, download a file byte-exact, and the list of snapshots. Skipped without /usr/bin/chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { commitTree } from '../../src/engine/commit-tree.js';
import { randomBytesSeeded, tempDir } from '../helpers/fixtures.js';
import { startServer } from './serve-helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} not found (install Debian's chromium package to run the browser test)`;

test('web UI: browse a folder archive and its snapshots, download a packed file byte-exact', { skip, timeout: 60_000 }, async () => {
  const dir = (await tempDir('ui-tree')).dir;
  const archive = join(dir, 'archive');
  const src = join(dir, 'photos');
  const data = randomBytesSeeded(30_000, 11);
  await mkdir(join(src, 'a'), { recursive: true });
  await writeFile(join(src, 'a', 'pic é.bin'), data);
  await writeFile(join(src, 'top.txt'), 'hello');
  await commitTree([src], { archive, name: 'photos' });
  const server = await startServer({ archive });
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, timeout: 20_000, args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    const page = await browser.newPage({ acceptDownloads: true });
    await page.goto(`${server.base}/`);
    await page.getByRole('link', { name: 'Browse folder archives and snapshots' }).click();
    await page.getByRole('link', { name: 'photos/' }).click();
    await page.getByRole('link', { name: 'a/' }).click();
    await page.getByRole('heading', { name: 'photos/a' }).waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download pic é.bin' }).click()]);
    assert.equal(download.suggestedFilename(), 'pic é.bin');
    assert.ok(Buffer.from(data).equals(await readFile((await download.path())!)), 'the downloaded file is byte-exact');
    await page.getByRole('link', { name: 'tree', exact: true }).click();
    await page.getByRole('link', { name: '.snapshots/' }).click();
    await page.getByRole('link', { name: 'photos/' }).click();
    await page.getByRole('heading', { name: '.snapshots/photos' }).waitFor();
    const snaps = page.locator('table.tree tbody tr');
    await snaps.first().waitFor();
    assert.equal(await snaps.count(), 1);
    assert.match((await snaps.first().textContent())!, /^\d{4}-\d\d-\d\dT\d{6}\.\d{3}Z_[0-9a-f]{12}\//);
  } finally {
    await browser?.close().catch(() => {});
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
