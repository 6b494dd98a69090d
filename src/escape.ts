// Names in human output: control characters are escaped (as b3sum and coreutils do), so a file name can't split a
// row, add a column or drive the terminal. JSON output keeps names exact.

/** `s` with backslashes and control characters (C0, DEL, C1) written as escapes: \n, \t, \r, \\, \xHH. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\\\u0000-\u001f\u007f-\u009f]/g, (c) => {
    if (c === '\\') return '\\\\';
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}
