/**
 * Just enough of the long connection's `pbbp2.Frame` (protobuf2) for the supervisor: encode a ping,
 * and read the method, headers and payload of an inbound frame. Events and acks stay with the SDK.
 *
 *   Frame { 1 SeqID uint64; 2 LogID uint64; 3 service int32; 4 method int32; 5 headers Header[];
 *           6 payload_encoding; 7 payload_type; 8 payload bytes; 9 LogIDNew }   Header { 1 key; 2 value }
 */

export const METHOD_CONTROL = 0;
export const METHOD_DATA = 1;

export interface DecodedFrame {
  method: number;
  headers: Record<string, string>;
  payload?: Buffer;
}

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  do {
    let byte = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) byte += 128;
    out.push(byte);
  } while (v > 0);
  return out;
}

function bytesField(field: number, data: Uint8Array): number[] {
  return [...varint((field << 3) | 2), ...varint(data.length), ...data];
}

/** A control frame of type "ping" on `service` (the service_id of the connection URL). */
export function encodePing(service: number): Buffer {
  const header = Buffer.from([...bytesField(1, Buffer.from('type')), ...bytesField(2, Buffer.from('ping'))]);
  // All four required fields are written, zeros included: protobufjs decoders reject frames without them.
  return Buffer.from([0x08, 0, 0x10, 0, 0x18, ...varint(service), 0x20, METHOD_CONTROL, ...bytesField(5, header)]);
}

/** Reads a frame; throws on malformed input. 64-bit ids are skipped, not decoded. */
export function decodeFrame(buf: Uint8Array): DecodedFrame {
  const frame: DecodedFrame = { method: -1, headers: {} };
  for (const [field, value] of fields(buf)) {
    if (field === 4 && typeof value === 'number') frame.method = value;
    else if (field === 5 && value instanceof Uint8Array) {
      let key = '';
      let val = '';
      for (const [f, v] of fields(value)) {
        if (!(v instanceof Uint8Array)) continue;
        if (f === 1) key = Buffer.from(v).toString('utf8');
        else if (f === 2) val = Buffer.from(v).toString('utf8');
      }
      frame.headers[key] = val;
    } else if (field === 8 && value instanceof Uint8Array) frame.payload = Buffer.from(value.buffer, value.byteOffset, value.length); // a view, not a copy
  }
  return frame;
}

function* fields(buf: Uint8Array): Generator<[number, number | Uint8Array]> {
  let pos = 0;
  const readVarint = (): number => {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const byte = buf[pos++]!;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
      if (scale > 2 ** 70) throw new Error('varint too long');
    }
  };
  while (pos < buf.length) {
    const key = readVarint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) yield [field, readVarint()];
    else if (wire === 2) {
      const len = readVarint();
      if (pos + len > buf.length) throw new Error('truncated field');
      yield [field, buf.subarray(pos, pos + len)];
      pos += len;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}
