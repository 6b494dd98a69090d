// verify reads shard files through held descriptors: it lets every one go when the archive is checked, and still sees damage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ComputePool, commit, verify } from '../../src/index.js';
import { LocalBackend } from '../../src/store/local.js';
import { StoreSet } from '../../src/store/store-set.js';
import { tempDir, writeRandomFile } from '../helpers/fixtures.js';

/** How many of this process's open descriptors name a file under `dir`. */
async function openUnder(dir: string): Promise<number> {
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(join('/proc/self/fd', fd)).catch(() => '');
    if (target.startsWith(dir + '/')) n++;
  }
  return n;
}

test('verify leaves no shard file open once the archive is checked (held descriptors are dropped)', { skip: process.platform === 'linux' ? false : 'needs /proc/self/fd' }, async () => {
  const { dir, cleanup } = await tempDir('bf-verify-held-');
  const pool = ComputePool.start(2);
  try {
    const archive = join(dir, 'archive');
    await writeRandomFile(join(dir, 'f.bin'), 3 * 1024 * 1024 + 17, 22);
    await commit(join(dir, 'f.bin'), { archive, tier: 3, pool });
    // A store set kept open across calls (as serve, patrol and repair keep theirs): closing it would close the files.
    const storeSet = new StoreSet([new LocalBackend(archive)], 0);
    const r = await verify(['f.bin'], { storeSet, pool });
    assert.equal(r.status, 'healthy');
    assert.equal(await openUnder(archive), 0, 'shard files still open after verify');
    // Damage written between two verifies of one process is seen by the second (nothing stale is read).
    const adir = join(archive, (await readdir(archive)).find((d) => d.startsWith('f.bin_'))!);
    const seg = join(adir, 'blocks', 'block_0', 'segments', 'segment_0.dat');
    await writeFile(seg, Buffer.alloc(1024 * 1024, 7), { flag: 'r+' });
    const again = await verify(['f.bin'], { storeSet, pool });
    assert.equal(again.status, 'repairable');
    assert.ok(again.archives[0]!.problems.some((p) => p.kind === 'corrupt' && p.path === 'blocks/block_0/segments/segment_0.dat'), JSON.stringify(again.archives[0]!.problems));
    assert.equal(await openUnder(archive), 0);
    await storeSet.close();
  } finally {
    await pool.close();
    await cleanup();
  }
});
