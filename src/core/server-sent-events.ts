/** One event of a Server-Sent Events body: its name ("message" when unnamed) and its data lines joined. */
export interface ServerSentEvent {
  event: string;
  data: string;
}

/**
 * Reads a Server-Sent Events body (an agent service's streamed answer, the gateway's own answer
 * stream for the CLI) as it arrives. Follows the format's line rules: LF, CRLF or CR line ends, an
 * optional space after the colon, `data` lines joined with "\n"; comments, `id` and `retry` lines
 * and events without data are skipped.
 */
export async function* serverSentEvents(body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  /** Takes one line; returns the event a blank line completes. */
  const take = (line: string): ServerSentEvent | undefined => {
    if (line === '') {
      const done = data.length > 0 ? { event: event || 'message', data: data.join('\n') } : undefined;
      event = '';
      data = [];
      return done;
    }
    const colon = line.indexOf(':');
    if (colon === 0) return undefined; // a comment
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1));
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    return undefined;
  };
  for await (const bytes of piecesOf(body)) {
    buffer += decoder.decode(bytes, { stream: true });
    // A CR at the very end may be the first half of a CRLF: it waits for the next piece, or the end.
    const complete = buffer.endsWith('\r') ? buffer.length - 1 : buffer.length;
    const lines = buffer.slice(0, complete).split(/\r\n|\r|\n/);
    buffer = lines.pop()! + buffer.slice(complete);
    for (const line of lines) {
      const e = take(line);
      if (e) yield e;
    }
  }
  // The held CR ended a line after all; an event still without its blank line is dropped.
  if (buffer.endsWith('\r')) {
    const e = take(buffer.slice(0, -1));
    if (e) yield e;
  }
}

/** A fetch body read piece by piece (the DOM's ReadableStream type, which the panel's build checks against, is not iterable). */
async function* piecesOf(body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (!('getReader' in body)) return yield* body;
  const reader = body.getReader();
  let ended = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        ended = true;
        return;
      }
      yield value;
    }
  } finally {
    // A reader that stops early (a malformed event) lets go of the connection too.
    if (!ended) reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
