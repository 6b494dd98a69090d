// The spool's direct (O_DIRECT) files: exact bytes whatever the alignment or filesystem, and no page cache kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool } from '../../src/store/spool.js';
import { SlabPool } from '../../src/compute/pool.js';
import { randomBytesSeeded } from '../helpers/fixtures.js';

const KiB = 1024;

/** Whether `dir`'s filesystem takes O_DIRECT opens (tmpfs refuses them). */
async function takesDirect(dir: string): Promise<boolean> {
  const flag = (constants as { O_DIRECT?: number }).O_DIRECT;
  if (!flag) return false;
  const p = join(dir, 'probe');
  const fh = await open(p, constants.O_WRONLY | constants.O_CREAT | flag).catch(() => undefined);
  await fh?.close();
  await rm(p, { force: true });
  return fh !== undefined;
}

/** Resident page-cache bytes of `path` (util-linux fincore), or undefined without fincore. */
function residentBytes(path: string): number | undefined {
  if (spawnSync('sh', ['-c', 'command -v fincore'], { stdio: 'ignore' }).status !== 0) return undefined;
  return Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path], { encoding: 'utf8' }).trim());
}

// Rows: where the spool lives. tmpfs refuses O_DIRECT (before Linux 6.6) or takes it, and its pages are its storage:
// the bytes must be exact either way, and the page cache is checked only on a disk filesystem.
const places = [
  { what: 'the test directory (a disk filesystem here)', parent: () => tmpdir(), cache: true },
  { what: 'tmpfs (/dev/shm)', parent: () => '/dev/shm', cache: false },
];

for (const place of places) {
  test(`a direct spool file holds exactly what was written (aligned rows, a misaligned buffer, an unaligned tail): ${place.what}`, async (t) => {
    const parent = await mkdtemp(join(place.parent(), 'bf-spool-')).catch(() => undefined);
    if (!parent) return t.skip(`${place.parent()} is not writable here`);
    try {
      const spool = await Spool.create(parent);
      const size = 4 * 1024 * KiB + 12_345;
      const want = Buffer.from(randomBytesSeeded(size, 91));
      const pool = new SlabPool(1, 1024 * KiB, true);
      const slab = await pool.acquire();
      const f = await spool.create('seg/0', { direct: true });
      // Three aligned 1 MiB rows from the page-aligned slab, then one row from a buffer 16 bytes off alignment
      // (refused by O_DIRECT, so written through the page cache), then the tail of 12,345 bytes.
      let at = 0;
      for (; at < 3 * 1024 * KiB; at += 1024 * KiB) {
        slab.set(want.subarray(at, at + 1024 * KiB));
        await f.write(slab, at);
      }
      const odd = Buffer.alloc(1024 * KiB + 16).subarray(16);
      odd.set(want.subarray(at, at + 1024 * KiB));
      await f.write(odd, at);
      at += 1024 * KiB;
      await f.write(want.subarray(at), at);
      await f.finish();
      // A second file of aligned rows only, checked before anything reads it: they skipped the page cache (a
      // regression here would bring back commit's copy into the page cache; issue 22).
      const g = await spool.create('seg/1', { direct: true });
      for (let o = 0; o < 3 * 1024 * KiB; o += 1024 * KiB) {
        slab.set(want.subarray(o, o + 1024 * KiB));
        await g.write(slab, o);
      }
      await g.finish();
      pool.release(slab);
      pool.dispose();
      const resident = residentBytes(spool.path('seg/1'));
      if (place.cache && resident !== undefined && (await takesDirect(parent))) {
        assert.ok(resident < 1024 * KiB, `${resident} bytes of a 3 MiB direct file stayed in the page cache`);
      }
      assert.ok((await readFile(spool.path('seg/0'))).equals(want), 'the file holds the bytes written');
      assert.ok((await readFile(spool.path('seg/1'))).equals(want.subarray(0, 3 * 1024 * KiB)), 'the aligned file holds the bytes written');
      await spool.discard();
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
}
