// Archive directory names: "{file name}_{BLAKE3 hex}", made safe so a name can never leave the archive root.

/**
 * The file-name part of an archive directory. Path separators, NUL and other control characters become "_";
 * a name of "." or ".." or one starting with "." (hidden, or our own staging) gets a leading "_".
 * The result is one path component, so joining it to the archive root can never escape it.
 */
export function safeNameComponent(name: string): string {
  // eslint-disable-next-line no-control-regex
  let s = name.replace(/[/\\\u0000-\u001f\u007f]/g, '_');
  if (s.length === 0) s = '_';
  if (s.startsWith('.')) s = `_${s}`;
  // Keep the directory name within common 255-byte limits: 64 hex + "_" leaves 190 bytes for the name.
  const utf8 = new TextEncoder();
  let chars = Array.from(s);
  while (utf8.encode(chars.join('')).length > 190) chars = chars.slice(0, -1);
  s = chars.join('');
  return s;
}

/** The name part of an encrypted archive's directory, `encrypted_{archive_id}` (docs/FORMAT.md §12.4). */
export const ENCRYPTED_DIR_NAME = 'encrypted';

export function archiveDirName(name: string, originalHash: string): string {
  return `${safeNameComponent(name)}_${originalHash}`;
}

/**
 * Split "{name}_{64 hex}" into its parts, or null when the directory is not an archive name. A nested directory
 * (format v3: "packs/ab/pack_{p}", "blobs/ab/blob_{h}") is named by its last component.
 */
export function parseArchiveDirName(dir: string): { name: string; hash: string } | null {
  const m = /^(.*)_([0-9a-f]{64})$/.exec(dir.slice(dir.lastIndexOf('/') + 1));
  return m ? { name: m[1]!, hash: m[2]! } : null;
}
