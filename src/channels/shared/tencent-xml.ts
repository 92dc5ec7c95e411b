import { SaxesParser } from 'saxes';
import { CocoError } from '../../core/errors.js';

/**
 * The flat `<xml>` documents Tencent pushes (WeChat Official Account, WeCom self-built app): the
 * encrypted envelope and the decrypted message alike.
 */

/** Tencent's messages are a few KB; anything near this is not from Tencent. */
export const MAX_XML_BYTES = 64 * 1024;

/** Entity and DTD tricks (billion laughs, external entities) have no place in Tencent's XML: refuse them outright. */
const DTD = /<!DOCTYPE|<!ENTITY/i;

/** The flat fields of an `<xml>` document (all values as strings). */
export type TencentXmlFields = Record<string, string>;

export interface TencentXmlOptions {
  /** The channel type put on errors. */
  channel?: string;
  /** Default MAX_XML_BYTES. */
  maxBytes?: number;
}

/**
 * Reads the text children of `<xml>` with a streaming, well-formedness-checking parser (saxes):
 * a few µs per message instead of building a document tree. Only the five predefined entities and
 * character references are decoded (DTDs are refused above). Nested elements (event sub-objects)
 * and repeated names are left out, as the flat fields never are either.
 */
export function parseTencentXml(body: string, options: TencentXmlOptions = {}): TencentXmlFields {
  const maxBytes = options.maxBytes ?? MAX_XML_BYTES;
  const invalid = (message: string) =>
    new CocoError('COCO_ERR_REQUEST_INVALID', `body: ${message}`, { statusCode: 400, field: 'body', ...(options.channel ? { channel: options.channel } : {}) });
  if (Buffer.byteLength(body, 'utf8') > maxBytes) {
    throw new CocoError('COCO_ERR_REQUEST_TOO_LARGE', `body is over ${maxBytes} bytes`, { statusCode: 413, ...(options.channel ? { channel: options.channel } : {}) });
  }
  if (DTD.test(body)) throw invalid('DOCTYPE and ENTITY declarations are not accepted');
  const fields: TencentXmlFields = {};
  // Per-document state in plain locals (no object per element): this runs for every webhook.
  let skipped: Set<string> | undefined;
  let root: string | undefined;
  let depth = 0;
  let name: string | undefined;
  let text = '';
  let nested = false;
  const parser = new SaxesParser();
  parser.on('opentag', (tag) => {
    depth++;
    if (depth === 1) root = tag.name;
    else if (depth === 2) {
      name = tag.name;
      text = '';
      nested = false;
    } else nested = true;
  });
  const onText = (t: string) => {
    if (depth === 2 && name !== undefined) text += t;
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  parser.on('closetag', () => {
    if (depth === 2 && name !== undefined) {
      // Object.hasOwn, not `in`: an element named like an Object.prototype member is still a field.
      if (nested || skipped?.has(name) || Object.hasOwn(fields, name)) {
        (skipped ??= new Set()).add(name);
        delete fields[name];
      } else {
        fields[name] = text;
      }
      name = undefined;
    }
    depth--;
  });
  try {
    parser.write(body).close();
  } catch (err) {
    throw invalid(`is not well-formed XML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (root !== 'xml') throw invalid('has no <xml> root element');
  return fields;
}
