// `blockframe key add|list|remove`: the keyslots of encrypted archives (several passphrases or key files per archive).
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { BlockFrameError } from '../errors.js';
import { printable } from '../escape.js';
import { addKey, listKeys, removeKey } from '../engine/keys.js';
import type { KeyInput } from '../archive/keyring.js';
import { checkSecretFile, printJson, storeOpts, withCommon, type CommonOptions } from './common.js';

interface AddOpts extends CommonOptions {
  newKeyFile?: string;
  newPassphraseFile?: string;
}

/** The key to add: a key file, or a passphrase from a file's first line or $BLOCKFRAME_NEW_PASSPHRASE. */
function newKey(o: AddOpts): KeyInput {
  const given = [o.newKeyFile, o.newPassphraseFile, process.env.BLOCKFRAME_NEW_PASSPHRASE].filter((x) => x !== undefined && x !== '');
  if (given.length !== 1) throw new BlockFrameError('BF_USAGE', 'give exactly one new key: --new-key-file FILE, --new-passphrase-file FILE, or $BLOCKFRAME_NEW_PASSPHRASE', { field: 'key' });
  if (o.newKeyFile) return { keyFile: checkSecretFile(o.newKeyFile, 'key file') };
  if (o.newPassphraseFile) {
    checkSecretFile(o.newPassphraseFile, 'passphrase file');
    let line: string;
    try {
      line = readFileSync(o.newPassphraseFile, 'utf8').split(/\r?\n/)[0] ?? '';
    } catch (err) {
      throw new BlockFrameError('BF_KEYFILE_INVALID', `cannot read passphrase file ${o.newPassphraseFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { path: o.newPassphraseFile });
    }
    if (!line) throw new BlockFrameError('BF_KEYFILE_INVALID', `passphrase file ${o.newPassphraseFile} has an empty first line`, { path: o.newPassphraseFile });
    return { passphrase: line };
  }
  return { passphrase: process.env.BLOCKFRAME_NEW_PASSPHRASE! };
}

export function register(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  const key = program.command('key').description('manage the keyslots of encrypted archives (rewrites only the manifests, never the data)');

  withCommon(key.command('list'))
    .description('list the keyslots of an encrypted archive (no key needed; with one, shows which slot it opens)')
    .argument('<name>', 'archive directory, file name (with a key) or hash prefix')
    .option('--json', 'print one JSON document')
    .action((name: string, opts: CommonOptions) =>
      run(async () => {
        const r = await listKeys(name, storeOpts(opts));
        if (opts.json) return printJson(r), 0;
        for (const s of r.slots) process.stdout.write(`${s.id}\t${s.kind}\t${s.kdf}\t${s.createdAt}${s.opens ? '\t(opened by the key given)' : ''}\n`);
        return 0;
      }),
    );

  withCommon(key.command('add'))
    .description('add a keyslot: unlock with a current key (--key-file, --passphrase-file, $BLOCKFRAME_PASSPHRASE), add the new one')
    .argument('<name>', 'archive directory, file name or hash prefix')
    .option('--new-key-file <file>', 'the key file to add (32+ bytes; e.g. head -c 32 /dev/urandom > new.key)')
    .option('--new-passphrase-file <file>', "the passphrase to add, from the file's first line (or $BLOCKFRAME_NEW_PASSPHRASE)")
    .option('--json', 'print one JSON document')
    .action((name: string, opts: AddOpts) =>
      run(async () => {
        const r = await addKey(name, newKey(opts), storeOpts(opts));
        if (opts.json) return printJson(r), 0;
        process.stdout.write(`added keyslot ${r.slot.id} (${r.slot.kind}) to ${printable(r.dir)}\n`);
        return 0;
      }),
    );

  withCommon(key.command('remove'))
    .description('remove a keyslot (never the last one); the data key stays the same')
    .argument('<name>', 'archive directory, file name or hash prefix')
    .argument('<slot>', 'the keyslot id (see: blockframe key list)')
    .option('--json', 'print one JSON document')
    .action((name: string, slot: string, opts: CommonOptions) =>
      run(async () => {
        const r = await removeKey(name, slot, storeOpts(opts));
        if (opts.json) return printJson(r), 0;
        process.stdout.write(`removed keyslot ${r.removed} from ${printable(r.dir)} (${r.left} left)\n`);
        return 0;
      }),
    );
}
