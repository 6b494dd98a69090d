// The OpenAPI 3.1 description of every route of `blockframe serve`, served at /openapi.json.
import { VERSION } from '../version.js';

const name = { name: 'name', in: 'path', required: true, description: 'file name, archive directory name or hash prefix (≥ 4 hex digits), URL-encoded', schema: { type: 'string' } };
const err = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
const json = (description: string, schema: object = { type: 'object' }) => ({ description, content: { 'application/json': { schema } } });
const rangeHeaders = [
  { name: 'Range', in: 'header', required: false, description: 'RFC 9110 byte ranges: a-b, a-, -n, several separated by commas (at most 100)', schema: { type: 'string' } },
  { name: 'If-Range', in: 'header', required: false, description: 'an ETag or HTTP-date; when it does not match the whole file is sent', schema: { type: 'string' } },
  { name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' } },
  { name: 'If-Modified-Since', in: 'header', required: false, schema: { type: 'string' } },
];
const fileResponses = {
  '200': { description: 'the whole file, verified (Accept-Ranges, ETag, Last-Modified, Content-Disposition)', content: { '*/*': { schema: { type: 'string', format: 'binary' } } } },
  '206': { description: 'one range (Content-Range) or several (multipart/byteranges)', content: { '*/*': { schema: { type: 'string', format: 'binary' } } } },
  '304': { description: 'not modified (If-None-Match / If-Modified-Since)' },
  '404': err('no archive matches the name'),
  '409': err('the name matches several archives; error.candidates lists them'),
  '416': err('no range overlaps the file; Content-Range: bytes */SIZE'),
};
const bearer = [{ bearer: [] }];

/** The raw-shard routes (level 1 and level 2 share parameters and responses). */
function shardRoute(summary: string, stripe: string, roles: string[]) {
  return {
    get: {
      summary,
      parameters: [
        name,
        { name: 'stripe', in: 'path', required: true, description: stripe, schema: { type: 'integer', minimum: 0 } },
        { name: 'role', in: 'path', required: true, schema: { enum: roles } },
        { name: 'index', in: 'path', required: true, description: 'data: position in the stripe; parity: parity row', schema: { type: 'integer', minimum: 0 } },
        rangeHeaders[0],
      ],
      responses: {
        '200': { description: 'the shard bytes', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
        '206': { description: 'a range of the shard' },
        '400': err('stripe or index is not an integer'),
        '404': err('no such archive, stripe, role or shard'),
        '416': err('range outside the shard'),
        '500': err('the shard file is missing (BF_SHARD_MISSING) or not a regular file'),
      },
    },
  };
}

export const OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'BlockFrame HTTP API',
    version: VERSION,
    description: 'Byte-range access to erasure-coded archives: every byte served is verified (and rebuilt from parity when a shard is damaged).',
  },
  servers: [{ url: '/' }],
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'the token given to `blockframe serve --token` (writes only)' } },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
      },
      ShardHealth: {
        type: 'object',
        properties: {
          path: { type: 'string' },
          role: { enum: ['data', 'parity'] },
          level: { enum: [1, 2], description: '2 for Tier 4 level-2 parity shards, 1 for every other shard' },
          stripe: { type: 'integer', description: 'index of the stripe within its level (manifest stripes[] or level2.stripes[])' },
          index: { type: 'integer' },
          size: { type: 'integer' },
          state: { enum: ['ok', 'missing', 'truncated', 'corrupt'] },
        },
      },
    },
  },
  paths: {
    '/': { get: { summary: 'the web UI', responses: { '200': { description: 'index.html', content: { 'text/html': {} } }, '404': err('the UI is not installed') } } },
    '/ui/{file}': {
      get: {
        summary: 'a web UI asset (only files present in the UI directory)',
        parameters: [{ name: 'file', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'the asset' }, '404': err('no such asset') },
      },
    },
    '/openapi.json': { get: { summary: 'this document', responses: { '200': json('OpenAPI 3.1') } } },
    '/files/{name}': {
      get: { summary: 'download or stream a file (byte ranges supported); ?download=1 for Content-Disposition: attachment', parameters: [name, ...rangeHeaders, { name: 'download', in: 'query', required: false, schema: { type: 'string' } }], responses: fileResponses },
      head: { summary: 'the headers of GET without a body (Range is ignored)', parameters: [name], responses: { '200': { description: 'headers only' }, '404': err('no archive matches') } },
      put: {
        summary: 'upload and commit a file under {name} (needs --allow-upload and the bearer token)',
        security: bearer,
        parameters: [name],
        requestBody: { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
        responses: {
          '201': json('archived: the commit result with its manifest'),
          '200': json('already archived (same content under the same name)'),
          '400': err('the name contains "/", "\\\\", NUL or is "." or ".."'),
          '401': err('missing or wrong bearer token (WWW-Authenticate: Bearer)'),
          '403': err('uploads are disabled'),
        },
      },
    },
    '/files/{name}/repair': {
      post: {
        summary: 'repair one archive (needs --allow-upload and the bearer token)',
        security: bearer,
        parameters: [name],
        responses: { '200': json('the repair report'), '401': err('missing or wrong bearer token'), '403': err('writes are disabled'), '404': err('no archive matches') },
      },
    },
    '/files/{tree}/{path}': {
      get: {
        summary: "a file of a folder archive: TREE's latest snapshot, or .snapshots/TREE/TIME_ID12/PATH for one snapshot (ranges, ETag = blob hash); 400 for a directory",
        parameters: [{ name: 'tree', in: 'path', required: true, schema: { type: 'string' } }, { name: 'path', in: 'path', required: true, description: 'one or more /-separated, percent-encoded segments', schema: { type: 'string' } }, ...rangeHeaders],
        responses: fileResponses,
      },
    },
    '/api/tree/{path}': {
      get: {
        summary: 'the directory at PATH of the tree WebDAV shows (empty: the top): {path, entries: [{name, kind, size, mtime, hash?}]}',
        parameters: [{ name: 'path', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': json('{path, entries}'), '404': err('no such directory') },
      },
    },
    '/api/stores': { get: { summary: "each store's state from the background checks (store: 1-based, kind: local or s3, state: up or down, checkedAt), and how many stores the set may lose", responses: { '200': json('{stores, failures}') } } },
    '/metrics': {
      get: {
        summary: 'Prometheus text format 0.0.4: requests, store calls, latency, bytes, store states, heals on read, alerts (needs the bearer token when the server has one)',
        responses: { '200': { description: 'text/plain; version=0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } }, '401': err('the server has a token and the request lacks it') },
      },
    },
    '/healthz': { get: { summary: 'liveness: 200 {"status":"ok"} while the process answers', responses: { '200': json('{status: "ok"}') } } },
    '/readyz': {
      get: {
        summary: 'readiness: checks the stores; 200 {status: "ready"|"degraded", stores}, or 503 {status: "unready", reason, stores} when more stores are down than the set may lose',
        responses: { '200': json('{status, stores}'), '503': json('{status: "unready", reason, stores}') },
      },
    },
    '/api/archives': { get: { summary: 'every archive with its summary (health: null), the damaged ones, and the stores that could not be listed', responses: { '200': json('{archives, damaged, unlisted}') } } },
    '/api/archives/{name}': { get: { summary: 'one archive: summary and full manifest', parameters: [name], responses: { '200': json('{summary, manifest}; summary.overhead counts all parity, summary.level2 describes Tier 4 level-2 parity (null for tiers 1 to 3)'), '404': err('no archive matches'), '409': err('ambiguous name') } } },
    '/api/archives/{name}/health': {
      get: {
        summary: 'verify the archive now: status, problems and the state of every shard',
        parameters: [name],
        responses: {
          '200': json('{status, problems, shards}', {
            type: 'object',
            properties: {
              status: { enum: ['healthy', 'repairable', 'unrecoverable'] },
              problems: { type: 'array', items: { type: 'object' } },
              shards: { type: 'array', items: { $ref: '#/components/schemas/ShardHealth' } },
            },
          }),
          '404': err('no archive matches'),
        },
      },
    },
    '/api/archives/{name}/shards/{stripe}/{role}/{index}': shardRoute(
      'a level-1 shard file exactly as stored, with X-BlockFrame-Hash (its BLAKE3 in the manifest); one Range supported',
      'index of the stripe in the manifest\'s stripes[]',
      ['data', 'parity'],
    ),
    '/api/archives/{name}/level2/{stripe}/{role}/{index}': shardRoute(
      'a Tier 4 level-2 parity shard file exactly as stored, with X-BlockFrame-Hash; one Range supported (its data shards are level-1 segments: use /shards/)',
      'index of the stripe in the manifest\'s level2.stripes[]',
      ['parity'],
    ),
  },
} as const;
