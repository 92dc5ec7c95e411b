/**
 * The long connection's wire format (protocols.md §5.3): protobuf2 `pbbp2.Frame`, hand-encoded because the schema is
 * tiny and this keeps 64-bit ids as plain numbers. All four required fields are always written, since clients using
 * protobufjs reject frames that lack them.
 */

export interface FrameHeader {
  key: string;
  value: string;
}

export interface Frame {
  SeqID: number;
  LogID: number;
  service: number;
  /** 0 = control (ping/pong), 1 = data (events and their acks). */
  method: number;
  headers: FrameHeader[];
  payloadEncoding?: string;
  payloadType?: string;
  payload?: Uint8Array;
  LogIDNew?: string;
}

export const METHOD_CONTROL = 0;
export const METHOD_DATA = 1;

function varint(value: number | bigint): number[] {
  // Negative int32s are sign-extended to 64 bits, as protobuf does.
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

const tag = (field: number, wireType: number): number[] => varint((field << 3) | wireType);

function bytesField(field: number, data: Uint8Array): number[] {
  return [...tag(field, 2), ...varint(data.length), ...data];
}

const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');

export function encodeFrame(frame: Frame): Buffer {
  const out: number[] = [
    ...tag(1, 0),
    ...varint(frame.SeqID),
    ...tag(2, 0),
    ...varint(frame.LogID),
    ...tag(3, 0),
    ...varint(frame.service),
    ...tag(4, 0),
    ...varint(frame.method),
  ];
  for (const h of frame.headers) out.push(...bytesField(5, Uint8Array.from([...bytesField(1, utf8(h.key)), ...bytesField(2, utf8(h.value))])));
  if (frame.payloadEncoding !== undefined) out.push(...bytesField(6, utf8(frame.payloadEncoding)));
  if (frame.payloadType !== undefined) out.push(...bytesField(7, utf8(frame.payloadType)));
  if (frame.payload !== undefined) out.push(...bytesField(8, frame.payload));
  if (frame.LogIDNew !== undefined) out.push(...bytesField(9, utf8(frame.LogIDNew)));
  return Buffer.from(out);
}

class Reader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const byte = this.buf[this.pos++] ?? 0;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error('varint too long');
    }
  }
  bytes(): Uint8Array {
    const len = Number(this.varint());
    if (this.pos + len > this.buf.length) throw new Error('truncated length-delimited field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.bytes();
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wireType}`);
  }
}

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
const int32 = (v: bigint): number => Number(BigInt.asIntN(32, v));

function decodeHeader(buf: Uint8Array): FrameHeader {
  const r = new Reader(buf);
  let key: string | undefined;
  let value: string | undefined;
  while (!r.done) {
    const t = Number(r.varint());
    if (t >>> 3 === 1 && (t & 7) === 2) key = text(r.bytes());
    else if (t >>> 3 === 2 && (t & 7) === 2) value = text(r.bytes());
    else r.skip(t & 7);
  }
  if (key === undefined || value === undefined) throw new Error('Header is missing a required field (key, value)');
  return { key, value };
}

/** Decodes one frame; throws on malformed bytes or a missing required field, as protobufjs does. */
export function decodeFrame(buf: Uint8Array): Frame {
  const r = new Reader(buf);
  const seen = new Set<number>();
  const frame: Frame = { SeqID: 0, LogID: 0, service: 0, method: 0, headers: [] };
  while (!r.done) {
    const t = Number(r.varint());
    const field = t >>> 3;
    const wire = t & 7;
    seen.add(field);
    if (field >= 1 && field <= 4 && wire === 0) {
      const v = r.varint();
      if (field === 1) frame.SeqID = Number(v);
      else if (field === 2) frame.LogID = Number(v);
      else if (field === 3) frame.service = int32(v);
      else frame.method = int32(v);
    } else if (field >= 5 && field <= 9 && wire === 2) {
      const b = r.bytes();
      if (field === 5) frame.headers.push(decodeHeader(b));
      else if (field === 6) frame.payloadEncoding = text(b);
      else if (field === 7) frame.payloadType = text(b);
      else if (field === 8) frame.payload = Uint8Array.from(b);
      else frame.LogIDNew = text(b);
    } else {
      r.skip(wire);
    }
  }
  const missing = [1, 2, 3, 4].filter((f) => !seen.has(f));
  if (missing.length) throw new Error(`Frame is missing required field(s) ${missing.map((f) => ['SeqID', 'LogID', 'service', 'method'][f - 1]).join(', ')}`);
  return frame;
}

export const headerOf = (frame: Frame, key: string): string | undefined => frame.headers.find((h) => h.key === key)?.value;
