// A real S3 server for tests: a one-node Ceph cluster (memstore OSD, cephx auth) with radosgw on 127.0.0.1,
// started from Debian's packages in a private directory on free ports, and stopped by the pids it started.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

export const CEPH_BINARIES = ['ceph-authtool', 'monmaptool', 'ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph'];

/** Why the S3 tests can't run here, or null when every Ceph binary is installed. */
export function cephMissing(): string | null {
  const missing = CEPH_BINARIES.filter((b) => spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0);
  return missing.length ? `Ceph is not installed (missing ${missing.join(', ')}; Debian packages radosgw ceph-mon ceph-osd ceph-mgr)` : null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface CephS3 {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Stop radosgw (the S3 endpoint dies; the cluster keeps the data). */
  stopGateway(): Promise<void>;
  /** Start radosgw again and wait until it answers. */
  startGateway(): Promise<void>;
  /** Run radosgw-admin against this cluster (say, `gc process --include-all`); throws on a non-zero exit. */
  admin(...args: string[]): void;
  stop(): Promise<void>;
}

export interface CephOptions {
  /** Capacity of the in-memory OSD in bytes (default 2 GiB; the data lives in ceph-osd's memory). */
  memstoreBytes?: number;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
}

async function waitFor(what: string, ms: number, probe: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await probe().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`${what} did not come up within ${ms} ms`);
}

/** Start the cluster and the gateway; resolves once S3 answers and a user with the returned keys exists. */
export async function startCeph(opts: CephOptions = {}): Promise<CephS3> {
  const dir = await mkdtemp(join(tmpdir(), 'bf-ceph-'));
  const [monV2, monV1, rgwPort] = [await freePort(), await freePort(), await freePort()];
  for (const d of ['mon', 'osd/osd.0', 'run', 'log', 'rgw']) await mkdir(join(dir, d), { recursive: true });
  const conf = join(dir, 'ceph.conf');
  const keyring = join(dir, 'keyring');
  const fsid = randomUUID();
  await writeFile(
    conf,
    [
      '[global]',
      `fsid = ${fsid}`,
      `mon host = [v2:127.0.0.1:${monV2},v1:127.0.0.1:${monV1}]`,
      'osd pool default size = 1',
      'osd pool default min size = 1',
      'osd pool default pg num = 8',
      'osd pool default pgp num = 8',
      'osd pool default pg autoscale mode = off',
      'mon allow pool size one = true',
      'mon warn on pool no redundancy = false',
      'osd crush chooseleaf type = 0',
      `run dir = ${dir}/run`,
      `log file = ${dir}/log/$name.log`,
      `admin socket = ${dir}/run/$name.asok`,
      `keyring = ${keyring}`,
      `mon data = ${dir}/mon/$name`,
      `osd data = ${dir}/osd/$name`,
      'osd objectstore = memstore',
      `memstore device bytes = ${opts.memstoreBytes ?? 2 * 1024 ** 3}`,
      'mon max pg per osd = 1000',
      '[osd]',
      'keyring = $osd_data/keyring',
      '[client.rgw]',
      `rgw frontends = beast endpoint=127.0.0.1:${rgwPort}`,
      `rgw data = ${dir}/rgw`,
      '',
    ].join('\n'),
  );
  run('ceph-authtool', ['--create-keyring', keyring, '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
  run('ceph-authtool', [keyring, '--gen-key', '-n', 'client.admin', '--cap', 'mon', 'allow *', '--cap', 'osd', 'allow *', '--cap', 'mgr', 'allow *']);
  run('ceph-authtool', [keyring, '--gen-key', '-n', 'client.rgw', '--cap', 'mon', 'allow rw', '--cap', 'osd', 'allow rwx']);
  run('ceph-authtool', [keyring, '--gen-key', '-n', 'osd.0', '--cap', 'mon', 'allow profile osd', '--cap', 'osd', 'allow *']);
  run('ceph-authtool', ['--create-keyring', join(dir, 'osd/osd.0/keyring'), '--import-keyring', keyring]);
  run('monmaptool', ['--create', '--addv', 'a', `[v2:127.0.0.1:${monV2},v1:127.0.0.1:${monV1}]`, '--fsid', fsid, join(dir, 'monmap')]);
  run('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap'), '-c', conf]);
  const procs: ChildProcess[] = [];
  const daemon = (cmd: string, args: string[]): ChildProcess => {
    const p = spawn(cmd, [...args, '-f', '-c', conf], { stdio: 'ignore' });
    procs.push(p);
    return p;
  };
  daemon('ceph-mon', ['-i', 'a']);
  run('ceph', ['-c', conf, '--connect-timeout', '20', 'osd', 'create']);
  run('ceph-osd', ['-i', '0', '--mkfs', '-c', conf]);
  daemon('ceph-osd', ['-i', '0']);
  const endpoint = `http://127.0.0.1:${rgwPort}`;
  let rgw: ChildProcess | undefined;
  const startGateway = async () => {
    rgw = daemon('radosgw', ['-n', 'client.rgw']);
    await waitFor('radosgw', 60_000, async () => (await fetch(endpoint, { signal: AbortSignal.timeout(1000) })).status < 500);
  };
  const stopGateway = async () => {
    const p = rgw;
    rgw = undefined;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  };
  const stop = async () => {
    await stopGateway();
    for (const p of procs.reverse()) if (p.exitCode === null) p.kill('SIGKILL');
    await sleep(200);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await startGateway();
    const accessKeyId = 'BFTESTKEY';
    const secretAccessKey = 'BFTESTSECRET';
    run('radosgw-admin', ['-c', conf, 'user', 'create', '--uid=bf', '--display-name=bf', `--access-key=${accessKeyId}`, `--secret=${secretAccessKey}`]);
    return { endpoint, accessKeyId, secretAccessKey, stopGateway, startGateway, admin: (...args) => run('radosgw-admin', ['-c', conf, ...args]), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
