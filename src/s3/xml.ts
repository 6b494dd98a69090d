// XML for the S3 wire format: escaping and building responses, and a small strict parser for request bodies.
import { s3Error } from './errors.js';

/** The namespace of every S3 response document (Amazon S3 API Reference). */
export const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** Escape text for element content and attribute values (& < > " ' and characters XML 1.0 cannot carry). */
export function esc(text: string): string {
  return text
    .replace(/[&<>"']/g, (c) => `&${({ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' } as const)[c as '&']};`)
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, (c) => `&#x${c.charCodeAt(0).toString(16)};`);
}

/** A value for `el`: text, a number, a boolean, nested elements, or a list (each item its own element). */
export type XmlValue = string | number | boolean | undefined | null | XmlTree | XmlValue[];
export interface XmlTree {
  [name: string]: XmlValue;
}

/** `<name>…</name>` for a value; undefined and null give nothing, arrays repeat the element. */
export function el(name: string, value: XmlValue): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map((v) => el(name, v)).join('');
  if (typeof value === 'object') return `<${name}>${Object.entries(value).map(([k, v]) => el(k, v)).join('')}</${name}>`;
  return `<${name}>${esc(String(value))}</${name}>`;
}

/** A whole response document with the S3 namespace on its root element. */
export function doc(root: string, body: XmlTree): string {
  const inner = Object.entries(body).map(([k, v]) => el(k, v)).join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${S3_NS}">${inner}</${root}>`;
}

/** A parsed element: its local name (prefix dropped), child elements in order, and its text. */
export interface XmlNode {
  name: string;
  children: XmlNode[];
  text: string;
}

/** First child named `name`, its text, or every child named `name`. */
export const child = (n: XmlNode, name: string): XmlNode | undefined => n.children.find((c) => c.name === name);
export const childText = (n: XmlNode, name: string): string | undefined => child(n, name)?.text;
export const children = (n: XmlNode, name: string): XmlNode[] => n.children.filter((c) => c.name === name);

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
/** Deeper nesting than this is refused (the documents S3 takes are three levels deep). */
const MAX_DEPTH = 16;

function malformed(why: string): Error {
  return s3Error('MalformedXML', `The XML you provided was not well-formed or did not validate against our published schema (${why})`);
}

function decodeText(raw: string): string {
  return raw.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);|&/g, (m, ent: string | undefined) => {
    if (!ent) throw malformed('a bare "&"');
    if (ent.startsWith('#')) {
      const cp = ent[1] === 'x' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
      if (!(cp > 0 && cp <= 0x10ffff) || (cp >= 0xd800 && cp <= 0xdfff)) throw malformed(`bad character reference ${m}`);
      return String.fromCodePoint(cp);
    }
    const v = ENTITIES[ent];
    if (v === undefined) throw malformed(`unknown entity ${m}`);
    return v;
  });
}

/**
 * Parse a request body of at most a few MiB into its root element. Strict and small: an XML declaration,
 * comments and whitespace around the root; elements with attributes (ignored), text, CDATA and the five
 * predefined entities. DOCTYPE (and so entity expansion) is refused, as are mismatched tags, text outside the
 * root, and nesting deeper than 16. Any failure is a MalformedXML error.
 */
export function parseXml(text: string): XmlNode {
  let i = 0;
  const n = text.length;
  const WS = /\s*/y;
  /** Move past whitespace at i (one sticky match, not a test per character). */
  const skipWs = () => {
    WS.lastIndex = i;
    WS.test(text);
    i = WS.lastIndex;
  };
  const skipMisc = () => {
    for (;;) {
      skipWs();
      if (text.startsWith('<?', i)) {
        const e = text.indexOf('?>', i);
        if (e < 0) throw malformed('unterminated processing instruction');
        i = e + 2;
      } else if (text.startsWith('<!--', i)) {
        const e = text.indexOf('-->', i + 4);
        if (e < 0) throw malformed('unterminated comment');
        i = e + 3;
      } else return;
    }
  };
  const NAME = /[A-Za-z_][\w.:-]*/y;
  const readName = (): string => {
    NAME.lastIndex = i;
    const m = NAME.exec(text);
    if (!m) throw malformed(`a tag name expected at offset ${i}`);
    i += m[0].length;
    return m[0];
  };
  const local = (q: string) => q.slice(q.indexOf(':') + 1);
  const parseElement = (depth: number): XmlNode => {
    if (depth > MAX_DEPTH) throw malformed('nested too deep');
    if (text[i] !== '<') throw malformed(`an element expected at offset ${i}`);
    i++;
    const qname = readName();
    // Attributes: name="value" or name='value'; namespaces are accepted and otherwise ignored.
    for (;;) {
      skipWs();
      if (text.startsWith('/>', i)) {
        i += 2;
        return { name: local(qname), children: [], text: '' };
      }
      if (text[i] === '>') {
        i++;
        break;
      }
      readName();
      skipWs();
      if (text[i] !== '=') throw malformed('an attribute without a value');
      i++;
      skipWs();
      const q = text[i];
      if (q !== '"' && q !== "'") throw malformed('an unquoted attribute value');
      const e = text.indexOf(q, i + 1);
      if (e < 0) throw malformed('an unterminated attribute value');
      decodeText(text.slice(i + 1, e));
      i = e + 1;
    }
    const node: XmlNode = { name: local(qname), children: [], text: '' };
    let textParts = '';
    for (;;) {
      if (i >= n) throw malformed(`<${qname}> is never closed`);
      if (text.startsWith('</', i)) {
        i += 2;
        const close = readName();
        if (close !== qname) throw malformed(`</${close}> closes <${qname}>`);
        skipWs();
        if (text[i] !== '>') throw malformed(`a bad closing tag </${close}`);
        i++;
        node.text = textParts;
        return node;
      }
      if (text.startsWith('<!--', i)) {
        const e = text.indexOf('-->', i + 4);
        if (e < 0) throw malformed('unterminated comment');
        i = e + 3;
      } else if (text.startsWith('<![CDATA[', i)) {
        const e = text.indexOf(']]>', i + 9);
        if (e < 0) throw malformed('unterminated CDATA');
        textParts += text.slice(i + 9, e);
        i = e + 3;
      } else if (text.startsWith('<!', i) || text.startsWith('<?', i)) {
        throw malformed('DOCTYPE and processing instructions are not accepted inside the document');
      } else if (text[i] === '<') {
        node.children.push(parseElement(depth + 1));
      } else {
        const e = text.indexOf('<', i);
        const raw = text.slice(i, e < 0 ? n : e);
        // Whitespace between child elements is no text of any element S3 reads: skipped without copying.
        if (node.children.length === 0 || /\S/.test(raw)) textParts += raw.includes('&') ? decodeText(raw) : raw;
        i += raw.length;
      }
    }
  };
  skipMisc();
  if (text.startsWith('<!', i)) throw malformed('DOCTYPE is not accepted');
  if (i >= n) throw malformed('the document is empty');
  const root = parseElement(1);
  skipMisc();
  if (i < n) throw malformed('content after the root element');
  return root;
}
