// The folder layering of src/: which folder may import which, no file cycles, and no I/O in the pure core;
// checked against docs/ARCHITECTURE.md the way errors.test.ts checks docs/errors.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join, posix, relative } from 'node:path';
import { REPO_ROOT } from './helpers/fixtures.js';

/**
 * Layers from the bottom up. A folder may import a folder of a lower rank only (never its own rank's other
 * folders, never upward). Files directly in src/ are the base ('.'), except index.ts, the library's front door.
 */
const RANK: Record<string, number> = {
  '.': 0,
  codec: 1,
  integrity: 1,
  transform: 1,
  layout: 2,
  compute: 2,
  io: 2,
  store: 3,
  archive: 4,
  engine: 5,
  http: 6,
  server: 7,
  s3: 7,
  mount: 7,
  cli: 8,
  'index.ts': 9,
};

/** Frontends may take values only from these folders; types from any lower folder. */
const FRONTEND_VALUES: Record<string, string[]> = {
  http: ['.', 'engine'],
  server: ['.', 'io', 'engine', 'http'],
  s3: ['.', 'io', 'engine', 'http'],
  mount: ['.', 'io', 'engine', 'http'],
  cli: ['.', 'io', 'engine', 'server', 's3', 'mount'],
};

/** The pure core: no file system, network, processes or threads. */
const PURE = ['codec', 'integrity', 'transform', 'layout'];
const IMPURE_MODULES = /^node:(fs|fs\/promises|net|http|https|http2|dgram|child_process|worker_threads|timers|timers\/promises|os)$/;

/**
 * Edges that break the rules today, with how many import statements make each. Each number may only go down:
 * the test fails when an edge grows or a new one appears, and asks for the number to be lowered when it shrinks.
 */
const ALLOWANCES: Record<string, number> = {
};


interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sourceFiles(p)));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Every relative import and re-export of src/, as repo-relative posix paths; bare specifiers kept as they are. */
async function imports(): Promise<{ files: string[]; rel: Import[]; bare: Import[] }> {
  const src = join(REPO_ROOT, 'src');
  const files = (await sourceFiles(src)).map((f) => relative(src, f).split('\\').join('/'));
  const rel: Import[] = [];
  const bare: Import[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?'([^']+)'/g;
  for (const f of files) {
    const text = await readFile(join(src, f), 'utf8');
    for (const m of text.matchAll(re)) {
      const spec = m[2]!;
      const typeOnly = m[1] !== undefined;
      if (spec.startsWith('.')) {
        const to = posix.normalize(posix.join(posix.dirname(f), spec)).replace(/\.js$/, '.ts');
        rel.push({ from: f, to, typeOnly });
      } else bare.push({ from: f, to: spec, typeOnly });
    }
  }
  return { files, rel, bare };
}

function folderOf(file: string): string {
  if (file === 'index.ts') return 'index.ts';
  const d = posix.dirname(file);
  return d === '.' ? '.' : d.split('/')[0]!;
}

function violation(i: Import): string | null {
  const a = folderOf(i.from);
  const b = folderOf(i.to);
  if (a === b) return null;
  const ra = RANK[a];
  const rb = RANK[b];
  if (ra === undefined) return `${a}: a folder docs/ARCHITECTURE.md and this test do not know`;
  if (rb === undefined) return `${b}: a folder docs/ARCHITECTURE.md and this test do not know`;
  if (rb >= ra) return `${a} -> ${b}`;
  const values = FRONTEND_VALUES[a];
  if (values && !i.typeOnly && !values.includes(b)) return `${a} -> ${b}`;
  return null;
}

test('imports point down only: every folder edge is allowed or a shrinking allowance', async () => {
  const { rel } = await imports();
  const counts = new Map<string, string[]>();
  for (const i of rel) {
    const v = violation(i);
    if (v === null) continue;
    counts.set(v, [...(counts.get(v) ?? []), `${i.from} imports ${i.to}`]);
  }
  const problems: string[] = [];
  for (const [edge, where] of counts) {
    const allowed = ALLOWANCES[edge] ?? 0;
    if (where.length > allowed) problems.push(`${edge}: ${where.length} imports (allowed ${allowed}):\n    ${where.join('\n    ')}`);
  }
  for (const [edge, allowed] of Object.entries(ALLOWANCES)) {
    const now = counts.get(edge)?.length ?? 0;
    if (now < allowed) problems.push(`${edge}: only ${now} imports left; lower its allowance from ${allowed} to ${now}`);
  }
  assert.deepEqual(problems, [], problems.join('\n'));
});

test('no file import cycles in src/ (type-only imports included)', async () => {
  const { files, rel } = await imports();
  const next = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const i of rel) next.get(i.from)?.push(i.to);
  const state = new Map<string, 1 | 2>();
  const cycles: string[] = [];
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 1);
    stack.push(f);
    for (const t of next.get(f) ?? []) {
      if (state.get(t) === 1) cycles.push([...stack.slice(stack.indexOf(t)), t].join(' -> '));
      else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of files) if (!state.has(f)) visit(f);
  assert.deepEqual(cycles, [], `file cycles:\n${cycles.join('\n')}`);
});

test('the pure core (codec, integrity, transform, layout) touches no file system, network, process or thread', async () => {
  const { bare } = await imports();
  const bad = bare.filter((i) => PURE.includes(folderOf(i.from)) && IMPURE_MODULES.test(i.to)).map((i) => `${i.from} imports ${i.to}`);
  assert.deepEqual(bad, []);
});

test('docs/ARCHITECTURE.md names every folder of src/ with its rank, and no folder that is gone', async () => {
  const doc = await readFile(join(REPO_ROOT, 'docs', 'ARCHITECTURE.md'), 'utf8');
  const { files } = await imports();
  const folders = new Set(files.map(folderOf));
  for (const f of folders) {
    const row = f === '.' ? '`src/*.ts`' : f === 'index.ts' ? '`src/index.ts`' : `\`src/${f}/\``;
    assert.ok(doc.includes(`| ${RANK[f]} | ${row} |`), `docs/ARCHITECTURE.md lacks the row "| ${RANK[f]} | ${row} |"`);
  }
  const documented = [...doc.matchAll(/^\| \d+ \| `src\/([a-z0-9-]+)\/` \|/gm)].map((m) => m[1]!);
  for (const d of documented) assert.ok(folders.has(d), `docs/ARCHITECTURE.md documents src/${d}/, which has no files`);
});
