// `blockframe serve`: run the HTTP byte-range server until SIGINT/SIGTERM.
import type { Command } from 'commander';
import { BlockFrameError, EXIT } from '../errors.js';
import { logLine } from '../log.js';
import { openServeOps, withServeOps, type ServeOpsOptions } from './serve-ops.js';
import { createBlockFrameServer, untilStopSignal } from '../server/server.js';
import { startS3, type S3CliOptions } from './serve-s3.js';
import { anonymousVisibility, loadAnonymousVisibility } from '../s3/visibility.js';
import { storeOpts, withCommon, type CommonOptions } from './common.js';
import { parseCompress } from '../engine/options.js';
import { startPatrol, type Patrol } from '../engine/patrol.js';
import { ledgerDir } from '../engine/ledger.js';
import type { Serving } from '../engine/serving.js';
import { printable } from '../escape.js';
import { parseDuration } from '../units.js';
import { coverageLine, scrubOptions } from './scrub.js';

/** The background patrol with the command line's options; each event and run is one line on stderr. */
function startServePatrol(shared: Serving, opts: ServeOptions): Patrol {
  const so = scrubOptions({ rate: opts.patrolRate, period: opts.patrolPeriod, budget: opts.patrolBudget, ledger: opts.ledger });
  const ledger = ledgerDir(shared.repo.resolved, opts.ledger);
  // The JSON API's listing reads margins from the same ledger.
  process.env.BLOCKFRAME_LEDGER = ledger;
  const log = (line: string) => process.stderr.write(`blockframe: patrol: ${line}\n`);
  log(`on: ${opts.patrolRate}, runs of at most ${opts.patrolBudget} every ${opts.patrolInterval}, ledger ${ledger}`);
  return startPatrol(shared, {
    ...so,
    ledger,
    intervalMs: parseDuration(opts.patrolInterval ?? '1m', 'patrol-interval'),
    onEvent: (e) => log(`${e.kind}: ${printable(JSON.stringify(e))}`),
    onRun: (r) => log(`run ${r.stoppedBy}: ${r.checked.stripes} stripes, ${r.checked.bytes} bytes; ${coverageLine(r.coverage)}`),
    onError: (err) => log(`run failed: ${printable(err instanceof Error ? err.message : String(err))}`),
  });
}

interface ServeOptions extends CommonOptions, S3CliOptions, ServeOpsOptions {
  host: string;
  port: string;
  allowUpload?: boolean;
  token?: string;
  compress?: string;
  encrypt?: boolean;
  patrol?: boolean;
  patrolRate?: string;
  patrolPeriod?: string;
  patrolBudget?: string;
  patrolInterval?: string;
  ledger?: string;
  webdav: boolean;
}

export function register(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  withServeOps(withCommon(program.command('serve')))
    .description('serve the archives over HTTP: verified byte ranges, a JSON API and a web UI (read-only unless --allow-upload)')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '8080')
    .option('--allow-upload', 'accept PUT /files/NAME and POST /files/NAME/repair (needs --token)')
    .option('--token <token>', "bearer token for writes, and to see S3 buckets' private archives over HTTP (default: $BLOCKFRAME_TOKEN)")
    .option('--compress <how>', 'uploads: compress as commit --compress does (zstd, zstd:LEVEL, auto)')
    .option('--encrypt', "uploads: encrypt with the server's keys (--key-file, --passphrase-file, $BLOCKFRAME_PASSPHRASE)")
    .option('--no-webdav', 'do not serve the archives read-only over WebDAV at /dav/ (on by default; see docs/webdav.md)')
    .option('--s3-port <port>', 'also serve the S3 API on this port (see docs/s3.md)')
    .option('--s3-user <access:secret>', 'an S3 user (repeatable; also $BLOCKFRAME_S3_USERS="A:S,A2:S2" and "s3" in the config file)', (v: string, all: string[] = []) => [...all, v])
    .option('--s3-grant <bucket:access:read|write>', "give an S3 user access to another user's bucket (repeatable)", (v: string, all: string[] = []) => [...all, v])
    .option('--s3-domain <domain>', 'virtual-hosted style: Host BUCKET.DOMAIN addresses BUCKET (path style always works)')
    .option('--s3-region <region>', 'region reported to S3 clients', 'us-east-1')
    .option('--patrol', 'scrub in the background: prove the stalest stripes first and repair what is found (off by default; see blockframe scrub)')
    .option('--patrol-rate <bytes/s>', 'the patrol\'s read limit, e.g. 10MB/s', '10MB/s')
    .option('--patrol-period <time>', 'the patrol\'s coverage target: every stripe proven once per period', '30d')
    .option('--patrol-budget <time>', 'longest patrol run before it pauses', '10m')
    .option('--patrol-interval <time>', 'pause between patrol runs', '1m')
    .option('--ledger <dir>', 'where the patrol keeps its ledger (default: as blockframe scrub; sets $BLOCKFRAME_LEDGER for the server)')
    .option('--s3-rebuild-index', "rebuild the S3 key index from the archives' manifests before serving (reads every new object once)")
    .option('--s3-no-packs', 'store every S3 object as its own archive, as before format v3 (small objects are otherwise packed: docs/s3.md)')
    .action((opts: ServeOptions) =>
      run(async () => {
        if (!/^\d{1,5}$/.test(opts.port) || Number(opts.port) > 65535) throw new BlockFrameError('BF_USAGE', `--port must be 0-65535, not ${JSON.stringify(opts.port)}`);
        // Bad patrol options fail before anything listens.
        if (opts.patrol) scrubOptions({ rate: opts.patrolRate, period: opts.patrolPeriod, budget: opts.patrolBudget }), parseDuration(opts.patrolInterval ?? '1m', 'patrol-interval');
        const token = opts.token ?? (process.env.BLOCKFRAME_TOKEN || undefined);
        const uploads = { compress: opts.compress === undefined ? undefined : parseCompress(opts.compress), encrypt: opts.encrypt };
        const log = (line: string) => logLine('warn', line);
        const ops = await openServeOps(opts, log);
        let bf;
        try {
          // Archives of S3 buckets are hidden from the start: until the catalogue is loaded, nothing is shown to a
          // client without the token; then the buckets' rule applies (see docs/http-api.md, "S3 buckets").
          bf = createBlockFrameServer({ ...storeOpts(opts), allowUpload: opts.allowUpload, token, uploads, visibility: () => false, accessLog: ops.accessLog, notifier: ops.notifier, storeWatch: { intervalMs: ops.storeCheckMs }, log, webdav: opts.webdav });
        } catch (err) {
          await ops.close();
          throw err;
        }
        const server = bf;
        const fail = async (err: unknown): Promise<never> => {
          await server.close();
          await ops.notifier.close(0);
          await ops.close();
          throw err;
        };
        // Store markers first: an unmounted disk is never written to, a swapped one is used where it is.
        await bf.shared.repo.checkMarkers((line) => logLine('warn', `blockframe: warning: ${line}`)).catch(fail);
        if (opts.s3Port === undefined) bf.setVisibility(await loadAnonymousVisibility(bf.shared.repo.set).catch(fail));
        const url = await bf.listen(opts.host, Number(opts.port), '--port').catch(fail);
        process.stdout.write(`blockframe: serving ${bf.root} at ${url}\n`);
        if (opts.allowUpload) process.stdout.write('blockframe: uploads and repair are ON (bearer token required)\n');
        const s3 = opts.s3Port === undefined ? undefined : await startS3(opts, bf, ops.accessLog).catch(fail);
        if (s3) bf.setVisibility(anonymousVisibility(s3.context.catalog));
        const patrol = opts.patrol ? startServePatrol(bf.shared, opts) : undefined;
        await untilStopSignal();
        logLine('info', `blockframe: stopping (requests in flight get ${ops.graceMs / 1000} s)`);
        await patrol?.stop();
        // Both endpoints drain together; the archives they share close after both.
        await Promise.all([s3?.close(ops.graceMs), bf.stop(ops.graceMs)]);
        await bf.close();
        await ops.notifier.close();
        await ops.close();
        return EXIT.OK;
      }),
    );
}
