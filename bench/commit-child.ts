// Bench helper run in its own process: one commit or restore, printing wall time and peak RSS as JSON.
import { commit, restore } from '../src/index.js';

const [op, a, b, archive, tier] = process.argv.slice(2);
const t0 = process.hrtime.bigint();
if (op === 'commit') await commit(a!, { archive, tier: tier ? (Number(tier) as 1 | 2 | 3) : undefined });
else if (op === 'restore') await restore(a!, b!, { archive, force: true });
else throw new Error(`unknown op ${op}`);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
// maxRSS is in KiB and covers the worker threads too (they share the process).
process.stdout.write(JSON.stringify({ seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024 }) + '\n');
