// Bench helper run in its own process: one operation, printing wall time and peak RSS as JSON.
import { readFileSync } from 'node:fs';
import { commit, commitTree, repair, restore, restoreTree, verify, verifyRepository } from '../src/index.js';
import { scrub } from '../src/engine/scrub.js';
import { parseRate } from '../src/units.js';

const [op, a, b, where, tier, segmentSize, transform, keyFile] = process.argv.slice(2);
// TRANSFORM is '', 'zstd', 'encrypt' or 'zstd+encrypt'; KEYFILE opens or seals encrypted archives ("passphrase:P"
// for a passphrase instead, whose scrypt takes 128 MiB).
const key = keyFile?.startsWith('passphrase:') ? { passphrase: keyFile.slice('passphrase:'.length) } : keyFile ? { keyFile } : null;
const tf = { ...(transform?.includes('zstd') && { compress: 3 }), ...(transform?.includes('encrypt') && { encrypt: true }), ...(key && { keys: [key] }) };
// WHERE is an archive directory, or "stores:DIR,DIR,…" for a store set.
const at = where?.startsWith('stores:') ? { stores: where.slice(7).split(',') } : { archive: where };
const t0 = process.hrtime.bigint();
let extra: Record<string, unknown> = {};
if (op === 'commit') await commit(a!, { ...at, ...tf, tier: tier ? (Number(tier) as 1 | 2 | 3 | 4) : undefined, segmentSize: segmentSize ? Number(segmentSize) : undefined });
else if (op === 'commit-tree') {
  // commit-tree DIR NAME WHERE: one folder commit (docs/FORMAT.md §13.6).
  const r = await commitTree([a!], { ...at, name: b });
  extra = { files: r.files, bytesNew: r.bytesNew, filesHashed: r.filesHashed, packsWritten: r.packsWritten };
} else if (op === 'verify-tree') {
  // verify-tree - - WHERE: the format-v3 part of a root verify (docs/FORMAT.md §13.8).
  const r = await verifyRepository(at);
  extra = { status: r?.status ?? 'none', packs: r?.packs.checked ?? 0 };
} else if (op === 'restore-tree') {
  // restore-tree NAME OUT WHERE: a whole snapshot (docs/FORMAT.md §13.3).
  const r = await restoreTree(a!, b!, at);
  extra = { files: r.files, failed: r.failed, bytes: r.bytes };
} else if (op === 'restore') await restore(a!, b!, { ...at, ...tf, force: true });
else if (op === 'verify') extra = { status: (await verify([a!], at)).status };
else if (op === 'repair') {
  const r = await repair([a!], at);
  extra = { status: r.status, bytesReadForRebuild: r.archives[0]!.bytesReadForRebuild, bytesWritten: r.archives[0]!.bytesWritten };
} else if (op === 'scrub') {
  // scrub ARCHIVE RATE LEDGER: one full run (every stripe), rate-limited when RATE is given.
  const r = await scrub({ archive: a!, rate: b ? parseRate(b) : undefined, ledger: where!, freshMs: 0 });
  extra = { status: r.status, bytes: r.checked.bytes, stripes: r.checked.stripes, observed: r.rate.observed };
} else throw new Error(`unknown op ${op}`);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
// Peak RSS of this process (the worker threads share it): VmHWM of its own address space. getrusage's maxRSS
// is no good here: Linux carries the spawning parent's high-water mark into the child across fork and exec.
const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
const maxRssMiB = hwm ? Number(hwm[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
process.stdout.write(JSON.stringify({ seconds, maxRssMiB, ...extra }) + '\n');
