// BlockFrame web UI: an archive list and a per-file page (summary, stripe map with Tier 4's level 2, player).
// Plain ES module, no dependencies. All data is inserted with textContent / attributes, never as HTML.

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const statusRegion = document.getElementById('status');

const AUDIO_EXT = new Set(['wav', 'mp3', 'ogg', 'oga', 'opus', 'flac', 'm4a', 'aac']);
const VIDEO_EXT = new Set(['mp4', 'm4v', 'webm', 'mkv', 'mov', 'ogv']);
const HEALTH_CONCURRENCY = 2;
const STATE_LABEL = { ok: 'OK', missing: 'Missing', truncated: 'Truncated', corrupt: 'Corrupt', unknown: 'Checking…' };

// ---------- small helpers ----------

/**
 * Create an element. `props` sets attributes (class via "class"); children are nodes or strings (as text).
 * @param {string} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [props]
 * @param {...(Node | string | number | null | undefined | false)} children
 */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === null || v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return el;
}

function announce(text) {
  if (statusRegion) statusRegion.textContent = text;
}

/** Binary units: 1536 → "1.5 KiB". */
export function formatBytes(n) {
  if (!Number.isFinite(n)) return '?';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[i]}`;
}

function formatPercent(x) {
  if (!Number.isFinite(x)) return '?';
  const p = x * 100;
  return `${p >= 100 || Number.isInteger(p) ? p.toFixed(0) : p.toFixed(1)}%`;
}

function formatDate(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

function extensionOf(name) {
  const m = /\.([A-Za-z0-9]+)$/.exec(String(name));
  return m ? m[1].toLowerCase() : '';
}

function fileUrl(dir, download) {
  return `/files/${encodeURIComponent(dir)}${download ? '?download=1' : ''}`;
}

function apiUrl(dir, suffix = '') {
  return `/api/archives/${encodeURIComponent(dir)}${suffix}`;
}

async function getJson(url, signal) {
  const res = await fetch(url, { headers: { Accept: 'application/json' }, signal });
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    const e = body && (body.error ?? body);
    const msg = (e && typeof e === 'object' ? e.message : typeof e === 'string' ? e : null) || `${res.status} ${res.statusText}`;
    const code = e && typeof e === 'object' && e.code ? `${e.code}: ` : '';
    throw new Error(`${code}${msg}`);
  }
  return body;
}

/** The stores' states from /api/stores: one badge per store (up or down), filled in when it answers. */
async function renderStores(into, signal) {
  let info;
  try {
    info = await getJson('/api/stores', signal);
  } catch {
    return;
  }
  if (signal.aborted || !Array.isArray(info.stores)) return;
  const down = info.stores.filter((s) => s.state !== 'up').length;
  into.replaceChildren(
    h('span', { class: 'stores-label' }, `Stores${down ? ` (${down} down)` : ''}: `),
    ...info.stores.map((s) =>
      h(
        'span',
        { class: `badge ${s.state === 'up' ? 'badge-healthy' : 'badge-unrecoverable'}`, 'data-store': String(s.store), 'data-state': s.state, title: s.checkedAt ? `checked ${formatDate(s.checkedAt)}` : 'not checked yet' },
        `${s.store} ${s.kind}: ${s.state}`,
      ),
    ),
  );
}

function healthBadge(status) {
  const known = status === 'healthy' || status === 'repairable' || status === 'unrecoverable';
  const cls = known ? `badge badge-${status}` : status === 'checking' ? 'badge badge-checking' : 'badge badge-error';
  const text = status === 'checking' ? 'checking…' : known ? status : 'error';
  return h('span', { class: cls, 'data-health': known ? status : status === 'checking' ? 'checking' : 'error' }, text);
}

function errorBox(message) {
  return h('p', { class: 'error', role: 'alert' }, message);
}

/** A tiny queue so the list page never runs more than a few verifies at once. */
function createQueue(limit) {
  let running = 0;
  const waiting = [];
  const pump = () => {
    while (running < limit && waiting.length) {
      const job = waiting.shift();
      running++;
      job().finally(() => {
        running--;
        pump();
      });
    }
  };
  return (job) => {
    waiting.push(job);
    pump();
  };
}

// ---------- routing ----------

let currentAbort = null;

function parseRoute() {
  const hash = location.hash.replace(/^#/, '');
  const m = /^\/file\/(.+)$/.exec(hash);
  if (m) {
    try {
      return { page: 'file', dir: decodeURIComponent(m[1]) };
    } catch {
      return { page: 'notfound' };
    }
  }
  const t = /^\/tree(\/.*)?$/.exec(hash);
  if (t) {
    try {
      return { page: 'tree', parts: (t[1] ?? '').split('/').filter(Boolean).map(decodeURIComponent) };
    } catch {
      return { page: 'notfound' };
    }
  }
  if (hash === '' || hash === '/') return { page: 'list' };
  return { page: 'notfound' };
}

function render() {
  currentAbort?.abort();
  currentAbort = new AbortController();
  const { signal } = currentAbort;
  const route = parseRoute();
  main.replaceChildren();
  if (route.page === 'list') renderList(signal);
  else if (route.page === 'file') renderFile(route.dir, signal);
  else if (route.page === 'tree') renderTree(route.parts, signal);
  else {
    document.title = 'Not found · BlockFrame';
    main.append(h('h1', { tabindex: '-1' }, 'Page not found'), h('p', {}, h('a', { href: '#/' }, 'Back to all archives')));
  }
}

function focusHeading() {
  const h1 = main.querySelector('h1');
  // Only move focus after a navigation, not on the first load (keeps the page from scrolling oddly).
  if (h1 && rendered > 1) h1.focus({ preventScroll: false });
}
let rendered = 0;

window.addEventListener('hashchange', () => {
  rendered++;
  render();
});

// The skip link jumps to <main> without touching the hash (the hash is the router's).
document.querySelector('.skip-link')?.addEventListener('click', (ev) => {
  ev.preventDefault();
  main.focus();
});

// ---------- folder archives and snapshots (GET /api/tree/PATH, files from /files/TREE/PATH) ----------

/** @param {string[]} parts */
function treeHash(parts) {
  return `#/tree/${parts.map(encodeURIComponent).join('/')}`;
}

/** @param {string[]} parts the path in the tree: [] the top, [TREE, …] a folder archive, ['.snapshots', TREE, SNAP, …] */
async function renderTree(parts, signal) {
  const title = parts.length ? parts.join('/') : 'Folder archives and snapshots';
  document.title = `${title} · BlockFrame`;
  const crumbs = h('nav', { class: 'crumbs', 'aria-label': 'Path' }, h('a', { href: '#/' }, 'All archives'), ' / ', h('a', { href: treeHash([]) }, 'tree'));
  parts.forEach((p, i) => crumbs.append(' / ', i === parts.length - 1 ? h('span', {}, p) : h('a', { href: treeHash(parts.slice(0, i + 1)) }, p)));
  const body = h('div', { class: 'tree-body' }, h('p', { class: 'loading' }, 'Loading…'));
  main.append(crumbs, h('h1', { tabindex: '-1' }, title), body);
  focusHeading();
  let listing;
  try {
    listing = await getJson(`/api/tree/${parts.map(encodeURIComponent).join('/')}`, signal);
  } catch (err) {
    if (signal.aborted) return;
    body.replaceChildren(errorBox(`Could not list ${title}: ${err.message}`));
    return;
  }
  if (signal.aborted) return;
  const tbody = h('tbody');
  for (const e of listing.entries) {
    const path = [...parts, e.name];
    const url = `/files/${path.map(encodeURIComponent).join('/')}`;
    let name;
    let actions = null;
    if (e.kind === 'dir') name = h('a', { href: treeHash(path) }, `${e.name}/`);
    else if (e.kind === 'file') {
      name = h('a', { href: url }, e.name);
      actions = h('a', { href: `${url}?download=1`, download: e.name, 'aria-label': `Download ${e.name}` }, 'Download');
    } else name = h('span', { title: 'symbolic link' }, `${e.name} →`);
    tbody.append(h('tr', {}, h('td', {}, name), h('td', { class: 'num' }, e.kind === 'file' ? formatBytes(e.size) : ''), h('td', {}, formatDate(e.mtime)), h('td', {}, actions)));
  }
  const table = h('table', { class: 'archives tree' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Size'), h('th', { scope: 'col' }, 'Modified'), h('th', { scope: 'col' }, ''))), tbody);
  body.replaceChildren(listing.entries.length ? table : h('p', { class: 'empty' }, 'Empty.'));
}

// ---------- the list page ----------

async function renderList(signal) {
  document.title = 'Archives · BlockFrame';
  const heading = h('h1', { tabindex: '-1' }, 'Archives');
  const body = h('div', { class: 'list-body' }, h('p', { class: 'loading' }, 'Loading archives…'));
  main.append(heading, body);
  focusHeading();
  let listing;
  try {
    listing = await getJson('/api/archives', signal);
  } catch (err) {
    if (signal.aborted) return;
    body.replaceChildren(errorBox(`Could not load the archive list: ${err.message}`));
    return;
  }
  if (signal.aborted) return;
  const archives = Array.isArray(listing.archives) ? listing.archives : [];
  const damaged = Array.isArray(listing.damaged) ? listing.damaged : [];
  body.replaceChildren();
  const storesLine = h('p', { class: 'stores-line' });
  body.append(storesLine);
  renderStores(storesLine, signal);
  body.append(h('p', { class: 'tree-link' }, h('a', { href: treeHash([]) }, 'Browse folder archives and snapshots')));

  if (archives.length === 0) {
    body.append(h('p', { class: 'empty' }, 'No archives yet. Commit a file with ', h('code', {}, 'blockframe commit FILE'), '.'));
  } else {
    const total = archives.reduce((n, a) => n + (a.size || 0), 0);
    body.append(h('p', { class: 'summary-line' }, `${archives.length} archive${archives.length === 1 ? '' : 's'}, ${formatBytes(total)} of original data.`));
    const tbody = h('tbody');
    const table = h(
      'table',
      { class: 'archives' },
      h('caption', { class: 'visually-hidden' }, 'Committed files'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Name'),
          h('th', { scope: 'col', class: 'num' }, 'Size'),
          h('th', { scope: 'col', class: 'num' }, 'Tier'),
          h('th', { scope: 'col', class: 'num' }, 'Overhead'),
          h('th', { scope: 'col' }, 'Stored'),
          h('th', { scope: 'col', class: 'num', title: 'How many more shard losses it survives' }, 'Margin'),
          h('th', { scope: 'col' }, 'Health'),
        ),
      ),
      tbody,
    );
    const enqueue = createQueue(HEALTH_CONCURRENCY);
    const cells = new Map();
    for (const a of archives) {
      const healthCell = h('td', { class: 'health' }, healthBadge('checking'));
      cells.set(a.dir, healthCell);
      const row = h(
        'tr',
        { 'data-dir': a.dir },
        h('th', { scope: 'row', class: 'name' }, h('a', { href: `#/file/${encodeURIComponent(a.dir)}`, title: a.dir }, a.name)),
        h('td', { class: 'num', title: `${a.size} bytes` }, formatBytes(a.size)),
        h('td', { class: 'num' }, a.tier),
        h('td', { class: 'num', title: `${codeText(a)}; parity bytes per data byte: ${a.overhead}` }, formatPercent(a.overhead)),
        h('td', { class: 'stored', title: `${a.storedSize} bytes stored` }, storedText(a)),
        h('td', { class: 'num', title: marginTitle(a) }, marginText(a)),
        healthCell,
      );
      tbody.append(row);
    }
    body.append(h('div', { class: 'table-wrap' }, table));

    const check = (dir) =>
      enqueue(async () => {
        if (signal.aborted) return;
        const cell = cells.get(dir);
        try {
          const health = await getJson(apiUrl(dir, '/health'), signal);
          cell.replaceChildren(healthBadge(health.status));
          const n = Array.isArray(health.problems) ? health.problems.length : 0;
          if (n) cell.firstChild.setAttribute('title', `${n} problem${n === 1 ? '' : 's'}`);
        } catch (err) {
          if (signal.aborted) return;
          const badge = healthBadge('error');
          badge.setAttribute('title', err.message);
          cell.replaceChildren(badge);
        }
      });

    // Lazily: verify a row's archive when it scrolls into view.
    if ('IntersectionObserver' in window) {
      const seen = new Set();
      const io = new IntersectionObserver((entries) => {
        for (const e of entries) {
          if (!e.isIntersecting) continue;
          const dir = e.target.getAttribute('data-dir');
          io.unobserve(e.target);
          if (dir !== null && !seen.has(dir)) {
            seen.add(dir);
            check(dir);
          }
        }
      });
      signal.addEventListener('abort', () => io.disconnect());
      for (const row of tbody.rows) io.observe(row);
    } else {
      for (const a of archives) check(a.dir);
    }
  }

  if (damaged.length) {
    body.append(
      h('h2', {}, 'Damaged archives'),
      h('p', {}, 'These directories have no readable manifest:'),
      h('ul', { class: 'damaged' }, ...damaged.map((d) => h('li', {}, h('code', {}, d.dir), ` — ${d.code}: ${d.message}`))),
    );
  }
  announce(`${archives.length} archives listed`);
}

// ---------- the file page ----------

async function renderFile(dir, signal) {
  document.title = 'Archive · BlockFrame';
  const back = h('p', { class: 'back' }, h('a', { href: '#/' }, '← All archives'));
  const heading = h('h1', { tabindex: '-1' }, dir);
  const body = h('div', { class: 'file-body' }, h('p', { class: 'loading' }, 'Loading…'));
  main.append(back, heading, body);
  focusHeading();

  let data;
  try {
    data = await getJson(apiUrl(dir), signal);
  } catch (err) {
    if (signal.aborted) return;
    body.replaceChildren(errorBox(`Could not load this archive: ${err.message}`));
    return;
  }
  if (signal.aborted) return;
  const s = data.summary;
  const manifest = data.manifest;
  heading.textContent = s.name;
  document.title = `${s.name} · BlockFrame`;
  body.replaceChildren();

  // Summary
  const healthDd = h('dd', { class: 'health' }, healthBadge('checking'));
  const dl = h('dl', { class: 'summary' });
  const item = (label, value, title) => {
    dl.append(h('dt', {}, label), value instanceof Node ? value : h('dd', title ? { title } : {}, value));
  };
  item('Size', formatBytes(s.size), `${s.size} bytes`);
  item('Tier', String(s.tier));
  item('Code', codeText(s));
  item('Segments', String(s.segments));
  item('Stripes', String(s.stripes));
  if (s.placement) item('Stores', `${s.placement.stores}, ${s.placement.shardsPerStore} shard${s.placement.shardsPerStore === 1 ? '' : 's'} of each stripe per store; survives losing ${s.placement.failures}`);
  if (s.level2) item('Level 2', level2Text(s.level2), `target ${s.level2.groupBlocks} blocks per group`);
  const marginDd = h('dd', { title: marginTitle(s) }, marginText(s));
  item('Margin', marginDd);
  item('Overhead', overheadText(s), `${s.overhead} parity bytes per data byte${s.level2 ? `, ${s.level2.overhead} of them level 2` : ''}`);
  item('Stored', `${formatBytes(s.storedSize)}${s.compression ? `, zstd level ${s.compression.level}, ${s.compression.ratio.toFixed(2)}× smaller` : ', uncompressed'}`, `${s.storedSize} bytes stored`);
  item('Encryption', s.encryption ? `AES-256-GCM, ${s.encryption.keyslots} keyslot${s.encryption.keyslots === 1 ? '' : 's'}${s.originalHash ? '' : ' (the server has no key for it)'}` : 'none');
  item('Committed', formatDate(s.createdAt), s.createdAt);
  item('BLAKE3', h('dd', {}, h('code', { class: 'hash' }, s.originalHash ?? '(sealed)')));
  item('Merkle root', h('dd', {}, h('code', { class: 'hash' }, s.merkleRoot)));
  item('Directory', h('dd', {}, h('code', {}, s.dir)));
  dl.append(h('dt', {}, 'Health'), healthDd);
  const summarySection = h('section', { class: 'card', 'aria-labelledby': 'sum-h' }, h('h2', { id: 'sum-h' }, 'Summary'), dl);
  // Damage the server healed while serving this file (its bytes were rebuilt from parity and verified).
  const healed = Array.isArray(data.healedOnRead) ? data.healedOnRead : [];
  if (healed.length) {
    summarySection.append(
      h(
        'p',
        { class: 'note status-repairable', role: 'status' },
        `Healed on read: ${healed.length} damaged file${healed.length === 1 ? '' : 's'} (${healed
          .slice(0, 3)
          .map((d) => `${d.kind} ${d.path}`)
          .join(', ')}${healed.length > 3 ? ', …' : ''}) rebuilt from parity while serving. Run blockframe repair.`,
      ),
    );
  }

  // Player and links
  const ext = extensionOf(s.name);
  const src = fileUrl(s.dir, false);
  const mediaSection = h('section', { class: 'card', 'aria-labelledby': 'media-h' }, h('h2', { id: 'media-h' }, 'File'));
  if (AUDIO_EXT.has(ext)) {
    mediaSection.append(h('audio', { controls: true, preload: 'metadata', src, class: 'player', 'aria-label': `Play ${s.name}` }, 'Your browser cannot play this audio.'));
  } else if (VIDEO_EXT.has(ext)) {
    mediaSection.append(h('video', { controls: true, preload: 'metadata', src, class: 'player', 'aria-label': `Play ${s.name}` }, 'Your browser cannot play this video.'));
  }
  mediaSection.append(
    h(
      'p',
      { class: 'actions' },
      h('a', { class: 'button', href: fileUrl(s.dir, true), download: s.name }, `Download (${formatBytes(s.size)})`),
      ' ',
      h('a', { class: 'button secondary', href: src, target: '_blank', rel: 'noopener' }, 'Open in a new tab'),
    ),
    h('p', { class: 'note' }, 'Bytes are verified against their hashes as they are served; damaged shards are rebuilt from parity.'),
  );

  // Stripe map
  const mapSection = h('section', { class: 'card', 'aria-labelledby': 'map-h' }, h('h2', { id: 'map-h' }, 'Stripe map'));
  const map = buildStripeMap(manifest, s);
  const detail = h('p', { class: 'shard-detail', 'aria-live': 'polite' }, 'Hover over or focus a shard (arrow keys move) to see its details.');
  const healthText = h('p', { class: 'map-status' }, 'Checking shard health…');
  mapSection.append(legend(), healthText, map.element, detail);
  map.onSelect((info) => {
    detail.textContent = info;
  });

  const problemsSection = h('section', { class: 'card', 'aria-labelledby': 'prob-h', hidden: true }, h('h2', { id: 'prob-h' }, 'Problems'));

  body.append(summarySection, mediaSection, mapSection, problemsSection);
  announce(`Opened ${s.name}`);

  // Health (a full verify: may take a while on large files)
  try {
    const health = await getJson(apiUrl(s.dir, '/health'), signal);
    if (signal.aborted) return;
    healthDd.replaceChildren(healthBadge(health.status));
    // The health check just counted what is lost: its margin is the current one.
    if (typeof health.margin === 'number') {
      marginDd.textContent = marginText({ margin: health.margin, marginFrom: 'health' });
      marginDd.title = 'More shard losses it survives, as the health check just found it';
    }
    const counts = map.applyHealth(health);
    const parts = Object.entries(counts)
      .filter(([, n]) => n > 0)
      .map(([state, n]) => `${n} ${state}`);
    const storeList = Array.isArray(health.stores) && health.stores.length > 1 ? health.stores : [];
    const storeText = storeList.length
      ? ` Stores: ${storeList.map((x) => `${x.store} ${x.state === 'ok' ? 'ok' : x.state === 'lost' ? 'LOST' : x.state === 'unavailable' ? 'NOT ANSWERING' : `${x.lost} of ${x.shards} damaged`}`).join(' · ')}.`
      : '';
    healthText.textContent = `${health.status[0].toUpperCase()}${health.status.slice(1)}: ${parts.join(', ') || 'no shards'}.${storeText}`;
    healthText.className = `map-status status-${health.status}`;
    const problems = Array.isArray(health.problems) ? health.problems : [];
    if (problems.length) {
      problemsSection.hidden = false;
      problemsSection.append(
        h(
          'ul',
          { class: 'problems' },
          ...problems.map((p) =>
            h(
              'li',
              {},
              h('span', { class: `tag tag-${p.kind}` }, p.kind),
              ' ',
              p.store ? `[store ${p.store}] ` : '',
              h('code', {}, p.path),
              p.stripe !== undefined && p.stripe !== null ? ` (${p.level === 2 ? 'level-2 stripe' : 'stripe'} ${p.stripe})` : '',
              p.detail ? ` — ${p.detail}` : '',
              p.repairable === false ? ' (not repairable)' : '',
            ),
          ),
        ),
      );
    }
    announce(`Health: ${health.status}`);
  } catch (err) {
    if (signal.aborted) return;
    const badge = healthBadge('error');
    badge.setAttribute('title', err.message);
    healthDd.replaceChildren(badge);
    healthText.replaceChildren(errorBox(`Could not check health: ${err.message}`));
  }
}

/** "RS(30,3)", plus the level-2 code for Tier 4: "RS(30,3) + level 2 RS(3,1)". */
function codeText(s) {
  return `RS(${s.dataShards},${s.parityShards})${s.level2 ? ` + level 2 RS(${level2K(s.level2)},${s.level2.parityShards})` : ''}`;
}

/** Blocks per level-2 group: "3", or "24–47" when the groups differ. */
function level2K(l) {
  const d = l.dataShards || {};
  return d.min === d.max ? String(d.min) : `${d.min}–${d.max}`;
}

/** "30 stripes × RS(3,1) across 1 group of 3 blocks". */
function level2Text(l) {
  const k = level2K(l);
  const plural = (n, w) => `${n} ${w}${n === 1 ? '' : 's'}`;
  return `${plural(l.stripes, 'stripe')} × RS(${k},${l.parityShards}) across ${plural(l.groups, 'group')} of ${k} block${k === '1' ? '' : 's'}`;
}

/** "zstd 2.41×", "encrypted", both, or "plain": how the archive stores its bytes. */
function storedText(a) {
  const parts = [];
  if (a.compression) parts.push(`zstd ${a.compression.ratio.toFixed(2)}×`);
  if (a.encryption) parts.push('encrypted');
  return parts.length ? parts.join(', ') : 'plain';
}

/** The overhead, with the level-2 part for Tier 4: "10.4% (level 2: 0.3%)". */
function overheadText(s) {
  return s.level2 ? `${formatPercent(s.overhead)} (level 2: ${formatPercent(s.level2.overhead)})` : formatPercent(s.overhead);
}

function legend() {
  const states = ['ok', 'missing', 'truncated', 'corrupt', 'unknown'];
  return h(
    'ul',
    { class: 'legend', 'aria-label': 'Legend' },
    h('li', {}, h('span', { class: 'shard role-data', 'aria-hidden': 'true' }), 'data shard'),
    h('li', {}, h('span', { class: 'shard role-parity', 'aria-hidden': 'true' }), 'parity shard'),
    ...states.map((st) => h('li', {}, h('span', { class: `shard state-${st}`, 'aria-hidden': 'true' }), st === 'unknown' ? 'not checked yet' : st)),
  );
}

/**
 * The stripe map: one grid per level, coloured once health arrives. Level 1 has one row per stripe (segment or
 * block), one square per data shard then per parity shard. Tier 4 adds a Level 2 grid: one row per group of
 * blocks, one square per segment position (the parity of that position across the group's blocks).
 */
function buildStripeMap(manifest, summary) {
  const byPath = new Map();
  const level1 = level1Rows(manifest, summary);
  const grids = [buildGrid(level1.rows, level1.label, 1, byPath)];
  const element = h('div', { class: 'stripe-maps' }, h('div', { class: 'map-wrap' }, grids[0].root));
  const level2 = level2Rows(manifest);
  if (level2) {
    grids.push(buildGrid(level2.rows, level2.label, 2, byPath));
    element.append(
      h('h3', { class: 'map-level' }, 'Level 2'),
      h('p', { class: 'note' }, `One row per group of blocks, one square per segment position: ${level2.what}`),
      h('div', { class: 'map-wrap' }, grids[1].root),
    );
  }
  let selectCb = () => {};
  const onPoint = (ev) => {
    const cell = ev.target;
    if (cell instanceof HTMLElement && cell.classList.contains('shard')) selectCb((cell.getAttribute('title') || '').replace(/\n/g, ' · '));
  };
  for (const g of grids) {
    g.root.addEventListener('focusin', onPoint);
    g.root.addEventListener('mouseover', onPoint);
  }
  return {
    element,
    onSelect(cb) {
      selectCb = cb;
    },
    /** Colour the squares from a health report; returns counts per state. */
    applyHealth(health) {
      const counts = colourShards(byPath, health);
      for (const g of grids) g.root.setAttribute('data-health', health.status);
      return counts;
    },
  };
}

/** Level-1 rows: per stripe its data squares, a divider, its parity squares. */
function level1Rows(manifest, summary) {
  const stripes = manifest && Array.isArray(manifest.stripes) ? manifest.stripes : [];
  const rowLabel = summary.tier >= 3 ? 'Block' : summary.tier === 2 ? 'Segment' : 'Stripe';
  const noun = rowLabel.toLowerCase();
  const rows = stripes.map((st) => {
    const data = (st.data || []).map((d) => ({
      shard: d,
      role: 'data',
      short: `data ${d.index}`,
      base: `Data shard (segment ${d.index}) of ${noun} ${st.index}\n${d.path}\n${formatBytes(d.size)} (${d.size} bytes) at offset ${d.offset}\nBLAKE3 ${d.hash}`,
    }));
    const parity = (st.parity || []).map((p) => ({
      shard: p,
      role: 'parity',
      short: `parity ${p.index}`,
      base: `Parity shard ${p.index} of ${noun} ${st.index}\n${p.path}\n${formatBytes(p.size)} (${p.size} bytes)\nBLAKE3 ${p.hash}`,
    }));
    return { label: `${rowLabel} ${st.index}`, attrs: { 'data-stripe': st.index }, groups: [data, parity] };
  });
  return { rows, label: `Stripe map: ${stripes.length} ${noun}${stripes.length === 1 ? '' : 's'}` };
}

/** Tier 4 level-2 rows, one per group: the parity squares of each (group, position) stripe in position order; null otherwise. */
function level2Rows(manifest) {
  const l2 = manifest && manifest.level2 && Array.isArray(manifest.level2.stripes) ? manifest.level2 : null;
  if (!l2 || l2.stripes.length === 0) return null;
  const byGroup = new Map();
  for (const st of l2.stripes) {
    if (!byGroup.has(st.group)) byGroup.set(st.group, []);
    for (const p of st.parity || []) {
      byGroup.get(st.group).push({
        shard: p,
        role: 'parity',
        short: `level-2 parity ${p.index} of position ${st.position}`,
        base: `Level-2 parity shard ${p.index} of group ${st.group}, position ${st.position} (level-2 stripe ${st.index})\n${p.path}\n${formatBytes(p.size)} (${p.size} bytes)\nBLAKE3 ${p.hash}`,
      });
    }
  }
  const rows = [...byGroup].map(([group, cells]) => ({ label: `Group ${group}`, attrs: { 'data-group': group }, groups: [cells] }));
  const what = l2.parity_shards === 1 ? 'the XOR of the segments at that position in each block of the group.' : `${l2.parity_shards} parity shards over the segments at that position in each block of the group.`;
  return { rows, label: `Level-2 map: ${rows.length} group${rows.length === 1 ? '' : 's'}, ${l2.stripes.length} stripes`, what };
}

/**
 * One grid: a row per spec, its cell groups separated by dividers. Registers each square in `byPath`.
 * Keyboard: the grid is one tab stop; arrow keys move between squares (roving tabindex).
 */
function buildGrid(rows, label, level, byPath) {
  const root = h('div', { class: 'stripe-map', role: 'grid', 'aria-label': label, 'data-level': level });
  /** @type {HTMLElement[][]} */
  const grid = [];
  const frag = document.createDocumentFragment();
  for (const spec of rows) {
    const row = h('div', { class: 'stripe', role: 'row', ...spec.attrs });
    row.append(h('span', { class: 'stripe-label', role: 'rowheader' }, spec.label));
    const cellsEl = h('span', { class: 'stripe-cells' });
    const rowCells = [];
    spec.groups.forEach((cells, i) => {
      if (i > 0 && cells.length) cellsEl.append(h('span', { class: 'divider', 'aria-hidden': 'true' }));
      for (const c of cells) {
        const cell = shardCell(c, level);
        byPath.set(c.shard.path, cell);
        rowCells.push(cell);
        cellsEl.append(cell);
      }
    });
    row.append(cellsEl);
    frag.append(row);
    grid.push(rowCells);
  }
  root.append(frag);
  if (grid[0] && grid[0][0]) grid[0][0].tabIndex = 0;
  gridKeys(root, grid);
  return { root };
}

function shardCell(c, level) {
  const cell = h('span', {
    class: `shard role-${c.role} state-unknown`,
    role: 'gridcell',
    tabindex: '-1',
    'data-path': c.shard.path,
    'data-role': c.role,
    'data-level': level,
    'data-state': 'unknown',
    title: `${c.base}\nState: not checked yet`,
    'aria-label': `${c.short}: not checked yet`,
  });
  cell.dataset.base = c.base;
  return cell;
}

/** Arrow keys, Home/End and PageUp/PageDown move the focus between the squares of one grid. */
function gridKeys(root, grid) {
  const position = (cell) => {
    for (let r = 0; r < grid.length; r++) {
      const c = grid[r].indexOf(cell);
      if (c >= 0) return [r, c];
    }
    return [0, 0];
  };
  const focusCell = (cell) => {
    for (const c of root.querySelectorAll('.shard[tabindex="0"]')) c.tabIndex = -1;
    cell.tabIndex = 0;
    cell.focus();
  };
  root.addEventListener('keydown', (ev) => {
    const cell = ev.target;
    if (!(cell instanceof HTMLElement) || !cell.classList.contains('shard')) return;
    let [r, c] = position(cell);
    switch (ev.key) {
      case 'ArrowRight': c++; break;
      case 'ArrowLeft': c--; break;
      case 'ArrowDown': r++; break;
      case 'ArrowUp': r--; break;
      case 'Home': c = 0; if (ev.ctrlKey) r = 0; break;
      case 'End': c = Infinity; if (ev.ctrlKey) r = grid.length - 1; break;
      case 'PageDown': r += 10; break;
      case 'PageUp': r -= 10; break;
      default: return;
    }
    ev.preventDefault();
    r = Math.max(0, Math.min(grid.length - 1, r));
    const row = grid[r];
    if (!row || row.length === 0) return;
    c = Math.max(0, Math.min(row.length - 1, c));
    focusCell(row[c]);
  });
}

/** Set each square's state from a health report (its shard list, else its problems); returns counts per state. */
function colourShards(byPath, health) {
  const counts = { ok: 0, missing: 0, truncated: 0, corrupt: 0 };
  const states = new Map();
  if (Array.isArray(health.shards)) {
    for (const sh of health.shards) states.set(sh.path, sh.state);
  }
  // Fallback for reports without a shard list: problems name the bad files, everything else is ok.
  const problemState = new Map();
  for (const p of Array.isArray(health.problems) ? health.problems : []) {
    if (p.kind === 'missing' || p.kind === 'truncated' || p.kind === 'corrupt') problemState.set(p.path, p.kind);
  }
  // With several stores: which store holds each shard, and which stores are down (lost, or not answering).
  const storeOf = new Map();
  if (Array.isArray(health.shards)) for (const sh of health.shards) storeOf.set(sh.path, sh.store);
  const stores = Array.isArray(health.stores) ? health.stores : [];
  const down = new Map(stores.filter((x) => x.state === 'lost' || x.state === 'unavailable').map((x) => [x.store, x.state]));
  for (const [path, cell] of byPath) {
    let state = states.get(path) ?? problemState.get(path) ?? (states.size === 0 ? 'ok' : 'unknown');
    if (!(state in STATE_LABEL)) state = 'unknown';
    if (state in counts) counts[state]++;
    cell.className = cell.className.replace(/\bstate-\S+/, `state-${state}`);
    cell.setAttribute('data-state', state);
    const store = storeOf.get(path);
    const where = stores.length > 1 && store ? `\nStore ${store}${down.has(store) ? ` (${down.get(store) === 'lost' ? 'lost' : 'not answering'})` : ''}` : '';
    if (store) cell.setAttribute('data-store', String(store));
    cell.classList.toggle('store-down', down.has(store));
    cell.setAttribute('title', `${cell.dataset.base}${where}\nState: ${STATE_LABEL[state]}`);
    cell.setAttribute('aria-label', `${cell.getAttribute('data-role')} ${cell.dataset.base.split('\n')[1]}: ${STATE_LABEL[state]}`);
  }
  return counts;
}

// ---------- start ----------

rendered = 1;
render();

/** An archive's margin: how many more shard losses it survives ("-1": beyond repair). */
function marginText(a) {
  if (typeof a.margin !== 'number') return '?';
  return a.margin < 0 ? 'none (lost)' : a.marginFrom === 'manifest' ? `${a.margin} (unchecked)` : String(a.margin);
}

function marginTitle(a) {
  return a.marginFrom === 'scrub' ? 'More shard losses it survives, as the last scrub found it' : 'More shard losses it survives with every shard present (not yet checked by a scrub)';
}
