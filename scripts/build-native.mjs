// Optional builds of the native addons with node-gyp, offline; never fails the install.
//
// native/isal (Reed-Solomon through ISA-L) needs libisal-dev (the isa-l/erasure_code.h header and libisal.so);
// skipped with BLOCKFRAME_NATIVE_CODEC=0 (docs/codec.md, "Kernels"). native/blake3cv (BLAKE3 chaining values)
// compiles BLAKE3's official C sources from the c/ directory of the optional registry package
// @c4312/blake3-native (docs/hashing.md); nothing of them is kept in this repository. Both need a C compiler,
// make and python3. Node's headers are taken from /usr (Debian's nodejs ships them in /usr/include/node), so
// node-gyp never downloads anything; nothing prebuilt is ever fetched. On any failure it prints one line per
// addon and exits 0: the WebAssembly kernel is then used.
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const note = (what, why) => console.log(`build-native: ${what} addon not built (${why}); the WebAssembly kernel will be used`);

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

/** node-gyp rebuild in native/NAME; returns null when built, else the first error line. */
function gypBuild(name, gyp, nodedir, env = {}) {
  const dir = join(root, 'native', name);
  rmSync(join(dir, 'build'), { recursive: true, force: true });
  try {
    execFileSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--loglevel=error'], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...env, npm_config_nodedir: nodedir },
    });
    return null;
  } catch (err) {
    const first = String(err.stderr ?? err.message).split('\n').find((l) => /error/i.test(l)) ?? 'node-gyp failed';
    rmSync(join(dir, 'build'), { recursive: true, force: true });
    return first.trim().slice(0, 160);
  }
}

/** The c/ directory of @c4312/blake3-native (BLAKE3's official C sources), or null when it is not installed. */
function blake3Sources() {
  try {
    const c = join(dirname(createRequire(join(root, 'package.json')).resolve('@c4312/blake3-native/package.json')), 'c');
    return ['blake3.c', 'blake3_dispatch.c', 'blake3_portable.c', 'blake3_impl.h'].every((f) => existsSync(join(c, f))) ? c : null;
  } catch {
    return null;
  }
}

function isal(gyp, nodedir) {
  const what = 'ISA-L';
  if (process.env.BLOCKFRAME_NATIVE_CODEC === '0') return note(what, 'BLOCKFRAME_NATIVE_CODEC=0');
  const header = ['/usr/include', '/usr/local/include'].find((d) => existsSync(join(d, 'isa-l', 'erasure_code.h')));
  if (!header) return note(what, 'libisal-dev is not installed: apt-get install -y libisal-dev');
  const failed = gypBuild('isal', gyp, nodedir);
  if (failed) return note(what, failed);
  console.log('build-native: native/isal/build/Release/blockframe_isal.node (ISA-L kernel)');
}

function blake3cv(gyp, nodedir) {
  const what = 'BLAKE3 chaining-value';
  const c = blake3Sources();
  if (!c) return note(what, 'the optional package @c4312/blake3-native (BLAKE3 C sources) is not installed');
  // Relative to the addon's directory: gyp's make output cannot name sources by absolute path.
  const failed = gypBuild('blake3cv', gyp, nodedir, { BLAKE3_C_DIR: relative(join(root, 'native', 'blake3cv'), c) });
  if (failed) return note(what, failed);
  console.log('build-native: native/blake3cv/build/Release/blockframe_blake3cv.node (BLAKE3 chaining values)');
}

function main() {
  if (process.platform !== 'linux' && process.platform !== 'darwin') return note('native', `unsupported platform ${process.platform}`);
  const gyp = nodeGyp();
  if (!gyp) return note('native', 'node-gyp (bundled with npm) was not found');
  const nodedir = headersDir();
  if (!nodedir) return note('native', 'Node headers (include/node/node_api.h) were not found; node-gyp would try to download them');
  isal(gyp, nodedir);
  blake3cv(gyp, nodedir);
}

main();
