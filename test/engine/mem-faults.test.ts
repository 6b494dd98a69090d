// Engine fault tests over the fault-injecting wrapper on in-memory stores (no disk): a store down, rotten reads,
// a failing publish. The same verbs as on disk, so the repository code is proven independent of the local backend.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { commit, list, read, repair, verify } from '../../src/index.js';
import { isBlockFrameError } from '../../src/errors.js';
import { MemBackend } from '../../src/store/mem.js';
import { StoreSet } from '../../src/store/store-set.js';
import { FaultBackend } from '../../src/store/wrap.js';
import { tempDir, writeRandomFile } from '../helpers/fixtures.js';

const KiB = 1024;
const codeOf = async (p: Promise<unknown>) => p.then(() => 'ok', (e) => (isBlockFrameError(e) ? e.code : `uncoded ${String(e)}`));

describe('verbs over 4 in-memory stores behind FaultBackend', () => {
  let work: string;
  let cleanup: () => Promise<void>;
  let file: string;
  let data: Uint8Array;
  const size = 700 * KiB + 13;

  before(async () => {
    ({ dir: work, cleanup } = await tempDir('bf-mem-faults-'));
    file = join(work, 'photo.raw');
    data = await writeRandomFile(file, size, 4711);
  });
  after(() => cleanup());

  const fresh = () => {
    const faults = [0, 1, 2, 3].map(() => new FaultBackend(new MemBackend()));
    return { faults, set: new StoreSet(faults, 1) };
  };

  test('a store that is down: reads are exact from the others, verify names it', async () => {
    const { faults, set } = fresh();
    assert.equal((await commit(file, { storeSet: set, tier: 3, segmentSize: 16 * KiB })).status, 'archived');
    faults[1]!.down();
    assert.deepEqual(new Uint8Array(await read('photo.raw', 0, size, { storeSet: set })), data);
    const v = await verify(['photo.raw'], { storeSet: set });
    assert.equal(v.archives[0]!.stores[1]!.state, 'unavailable');
    assert.equal(v.status, 'repairable');
  });

  test('rotten reads from one store are healed on the fly, and verify then repair find and fix nothing lasting', async () => {
    const { faults, set } = fresh();
    await commit(file, { storeSet: set, tier: 3, segmentSize: 16 * KiB });
    faults[2]!.rules.push({ ops: ['get'], key: /segment_\d+\.dat$/, corrupt: true });
    assert.deepEqual(new Uint8Array(await read('photo.raw', 1000, 300 * KiB, { storeSet: set })), data.subarray(1000, 1000 + 300 * KiB));
    assert.ok(faults[2]!.calls.get > 0, 'the rotten store was read');
    faults[2]!.heal();
    assert.equal((await verify(['photo.raw'], { storeSet: set })).status, 'healthy', 'the rot was in transit, not at rest');
  });

  test('a publish whose manifest put fails leaves nothing listed; the retry archives it', async () => {
    const { faults, set } = fresh();
    for (const f of faults) f.rules.push({ ops: ['put'], key: /manifest\.json$/, error: 'BF_NO_SPACE', times: 1 });
    assert.equal(await codeOf(commit(file, { storeSet: set, tier: 3, segmentSize: 16 * KiB })), 'BF_NO_SPACE');
    assert.deepEqual((await list({ storeSet: set })).archives, []);
    for (const [i, f] of faults.entries()) {
      const left: string[] = [];
      for await (const o of f.list('')) left.push(o.key);
      assert.deepEqual(left, [], `store ${i + 1} holds nothing of the failed commit`);
    }
    assert.equal((await commit(file, { storeSet: set, tier: 3, segmentSize: 16 * KiB })).status, 'archived');
    assert.equal((await verify([], { storeSet: set })).status, 'healthy');
  });

  test('shards deleted from one store are rebuilt there by repair', async () => {
    const { faults, set } = fresh();
    await commit(file, { storeSet: set, tier: 3, segmentSize: 16 * KiB });
    const keys: string[] = [];
    for await (const o of faults[3]!.list('')) if (o.key.endsWith('.dat')) keys.push(o.key);
    assert.ok(keys.length > 0, 'store 4 holds shards');
    for (const k of keys) await faults[3]!.delete(k);
    assert.equal((await verify(['photo.raw'], { storeSet: set })).status, 'repairable');
    assert.equal((await repair(['photo.raw'], { storeSet: set })).status, 'healthy');
    for (const k of keys) assert.ok(await faults[3]!.stat(k), `${k} is back on store 4`);
    assert.deepEqual(new Uint8Array(await read('photo.raw', 0, size, { storeSet: set })), data);
  });
});
