// Shard files the server holds open (LocalBackend.getHeld) and another process replaces: read afresh at the next request.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalBackend } from '../../src/store/local.js';
import { runCli } from '../helpers/fixtures.js';
import { eqBytes, makeArchive, startChild, type TestArchive } from './serve-helpers.js';

const NAME = 'held.bin';

/** Damage lines `serve` logged so far. */
const logged = (stderr: string): number => stderr.match(/rebuilt from parity on read/g)?.length ?? 0;

async function waitFor(cond: () => boolean, ms = 1000): Promise<void> {
  const t0 = Date.now();
  while (!cond() && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 20));
}

describe('held shard files replaced by another process', () => {
  let a: TestArchive;

  before(async () => {
    a = await makeArchive([{ name: NAME, size: 3 * 1024 * 1024 + 17, seed: 501, tier: 2, segmentSize: 1_000_000 }]);
  });
  after(async () => {
    await a?.cleanup();
  });

  test('LocalBackend.getHeld reads a file renamed over or rewritten in place at once, not through the old descriptor', async () => {
    const root = join(a.work, 'held-store');
    await mkdir(join(root, 'x'), { recursive: true });
    await writeFile(join(root, 'x', 'one'), 'abc');
    const b = new LocalBackend(root);
    try {
      const buf = new Uint8Array(3);
      await b.getHeld('x/one', buf, 0);
      assert.equal(Buffer.from(buf).toString(), 'abc');
      await writeFile(join(root, 'x', 'tmp'), 'xyz');
      await rename(join(root, 'x', 'tmp'), join(root, 'x', 'one'));
      await b.getHeld('x/one', buf, 0);
      assert.equal(Buffer.from(buf).toString(), 'xyz', 'renamed over: the new file');
      // Written in place (same inode, new size and times): seen too.
      await writeFile(join(root, 'x', 'one'), 'pq');
      assert.equal(await b.getHeld('x/one', buf, 0), 2);
      assert.equal(Buffer.from(buf.subarray(0, 2)).toString(), 'pq');
      // Removed: missing at once.
      await rename(join(root, 'x', 'one'), join(root, 'x', 'gone'));
      await assert.rejects(b.getHeld('x/one', buf, 0), { code: 'BF_STORE_KEY_MISSING' });
    } finally {
      await b.close();
    }
  });

  test('serve: a shard replaced by another process (damage, then a CLI repair) is read afresh at the very next request', async () => {
    const child = await startChild(a.root);
    try {
      const d = a.data.get(NAME)!;
      const seg = join(a.root, a.dirs.get(NAME)!, 'segments');
      const file = join(seg, (await readdir(seg)).sort()[0]!);
      const good = await readFile(file);
      const get = async () => {
        const r = await fetch(`${child.base}/files/${NAME}`, { headers: { Range: 'bytes=0-99999' } });
        assert.equal(r.status, 206);
        assert.ok(eqBytes(new Uint8Array(await r.arrayBuffer()), d.subarray(0, 100000)));
        return r.headers.get('x-blockframe-healed');
      };
      assert.equal(await get(), null); // the healthy shard is now held open by the server
      // Another process renames a damaged copy into place: the very next read sees it (it used to take 2 s).
      const bad = Buffer.from(good);
      bad[10]! ^= 1;
      await writeFile(`${file}.new`, bad);
      await rename(`${file}.new`, file);
      await get();
      await waitFor(() => logged(child.stderr()) > 0);
      assert.equal(logged(child.stderr()), 1, `the replaced (damaged) file was read at once: ${child.stderr()}`);
      assert.match((await get()) ?? '', /rebuilt from parity/);
      // A repair by another process (the CLI) renames a good file into place; the server reads it, not the damaged one.
      const r = runCli(['repair', '--archive', a.root, a.dirs.get(NAME)!]);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(eqBytes(await readFile(file), good));
      await get();
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(logged(child.stderr()), 1, 'no damage logged after the repair');
    } finally {
      await child.stop();
    }
  });
});
