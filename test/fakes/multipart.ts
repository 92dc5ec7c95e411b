/**
 * A strict multipart/form-data reader for the fakes' upload endpoints (WeChat and WeCom media/upload,
 * Feishu im/v1/images), giving what a real server reads of each part, the bytes untouched.
 */

export interface FormPart {
  /** `name` of the Content-Disposition. */
  name: string;
  filename?: string;
  /** Any other Content-Disposition parameter (WeChat and WeCom document `filelength`). */
  params: Record<string, string>;
  contentType?: string;
  data: Buffer;
}

/** The parts of a multipart body; undefined when it is not multipart with the declared boundary (the platforms then find no media). */
export function parseMultipart(body: Buffer, contentType: string | undefined): FormPart[] | undefined {
  const match = /^multipart\/form-data\s*;.*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) return undefined;
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: FormPart[] = [];
  let at = body.indexOf(delimiter);
  if (at < 0) return undefined;
  for (;;) {
    at += delimiter.length;
    if (body.subarray(at, at + 2).toString('latin1') === '--') return parts; // the closing delimiter
    if (body.subarray(at, at + 2).toString('latin1') !== '\r\n') return undefined;
    const headEnd = body.indexOf('\r\n\r\n', at + 2);
    if (headEnd < 0) return undefined;
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headEnd + 4);
    if (next < 0) return undefined;
    const part = partOf(body.subarray(at + 2, headEnd).toString('utf8'), body.subarray(headEnd + 4, next));
    if (!part) return undefined;
    parts.push(part);
    at = next + 2;
  }
}

function partOf(head: string, data: Buffer): FormPart | undefined {
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const disposition = headers.get('content-disposition');
  if (!disposition || !/^form-data\b/i.test(disposition)) return undefined;
  const params: Record<string, string> = {};
  for (const m of disposition.matchAll(/;\s*([\w*-]+)=(?:"([^"]*)"|([^;]*))/g)) params[m[1]!.toLowerCase()] = (m[2] ?? m[3] ?? '').trim();
  const { name, filename, ...rest } = params;
  if (name === undefined) return undefined;
  return { name, ...(filename === undefined ? {} : { filename }), params: rest, contentType: headers.get('content-type'), data: Buffer.from(data) };
}
