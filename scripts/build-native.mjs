// Optional build of the ISA-L addon (native/isal) with node-gyp, offline; never fails the install.
//
// Needs libisal-dev (the isa-l/erasure_code.h header and libisal.so), a C compiler, make and python3. Node's
// headers are taken from /usr (Debian's nodejs ships them in /usr/include/node), so node-gyp never downloads
// anything; nothing prebuilt is ever fetched. Skipped with BLOCKFRAME_NATIVE_CODEC=0. On any failure it prints
// one line and exits 0: the WebAssembly kernel is then used (docs/codec.md, "Kernels").
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'native', 'isal');
const note = (why) => console.log(`build-native: ISA-L addon not built (${why}); the WebAssembly kernel will be used`);

function nodeGyp() {
  // npm puts its bundled node-gyp on PATH for scripts and names it in npm_config_node_gyp.
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  try {
    return createRequire(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return null;
  }
}

function headersDir() {
  for (const d of [process.env.npm_config_nodedir, '/usr', dirname(dirname(process.execPath))]) {
    if (d && existsSync(join(d, 'include', 'node', 'node_api.h')) && existsSync(join(d, 'include', 'node', 'common.gypi'))) return d;
  }
  return null;
}

function main() {
  if (process.env.BLOCKFRAME_NATIVE_CODEC === '0') return note('BLOCKFRAME_NATIVE_CODEC=0');
  if (process.platform !== 'linux' && process.platform !== 'darwin') return note(`unsupported platform ${process.platform}`);
  const header = ['/usr/include', '/usr/local/include'].find((d) => existsSync(join(d, 'isa-l', 'erasure_code.h')));
  if (!header) return note('libisal-dev is not installed: apt-get install -y libisal-dev');
  const gyp = nodeGyp();
  if (!gyp) return note('node-gyp (bundled with npm) was not found');
  const nodedir = headersDir();
  if (!nodedir) return note('Node headers (include/node/node_api.h) were not found; node-gyp would try to download them');
  rmSync(join(dir, 'build'), { recursive: true, force: true });
  try {
    execFileSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--loglevel=error'], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, npm_config_nodedir: nodedir },
    });
  } catch (err) {
    const first = String(err.stderr ?? err.message).split('\n').find((l) => /error/i.test(l)) ?? 'node-gyp failed';
    rmSync(join(dir, 'build'), { recursive: true, force: true });
    return note(first.trim().slice(0, 160));
  }
  console.log('build-native: native/isal/build/Release/blockframe_isal.node (ISA-L kernel)');
}

main();
