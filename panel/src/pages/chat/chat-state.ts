/**
 * The transcript shown on the chat page: the turns loaded from the server, the messages sent from
 * this tab (shown at once, before the server has them), replies shown while the agent writes them
 * (`partial` events), and replies streaming in chunk by chunk. A pure reducer, so the merging rules
 * (dedup by seq, one bubble per answered message, the reply replaces its partial) stay in one place.
 */

export interface TranscriptTurn {
  role: 'user' | 'assistant';
  text: string;
  at: number;
  messageId?: string;
  format?: 'text' | 'markdown';
  /** Assistant turns: the reply chunk's feed seq. */
  seq?: number;
  /** User turns: the message's status; queued or leased means no answer yet. */
  status?: string;
  /** Assistant turns: an image chunk (a data: URL or the agent's URL); `text` is then its alt text. */
  image?: { url: string };
}

/** One SSE `reply` event: one chunk of the answer to `messageId`. */
export interface ReplyEvent {
  seq: number;
  messageId: string;
  text: string;
  format: 'text' | 'markdown';
  chunk?: { index: number; count: number };
  at?: number;
  /** An image chunk (a data: URL or the agent's URL); `text` is then its alt text. */
  image?: { url: string };
}

/**
 * One SSE `partial` event: the whole reply to `messageId` so far, while a streaming agent writes it.
 * Not stored and never replayed; a retry may start over with shorter text; the `reply` events replace it.
 */
export interface PartialEvent {
  messageId: string;
  text: string;
}

export interface UserBubble {
  key: string;
  role: 'user';
  text: string;
  at: number;
  messageId?: string;
  /** sending: POST in flight; waiting: accepted, no reply yet; done: answered or loaded from history. */
  state: 'sending' | 'waiting' | 'done' | 'failed';
  error?: string;
  /** Images sent from this tab (data URLs), shown for the session; the transcript has `[image]` in the text instead. */
  images?: SentImage[];
}

export interface SentImage {
  url: string;
  name: string;
}

/** An image in the answer, in its place among the chunks. */
export interface ImageChunk {
  url: string;
  alt: string;
}

/** One chunk of an answer: its text, or an image. */
export type Chunk = string | ImageChunk;

export interface AssistantBubble {
  key: string;
  role: 'assistant';
  at: number;
  messageId?: string;
  format: 'text' | 'markdown';
  /** Chunks by index; holes are chunks not arrived yet. */
  chunks: (Chunk | undefined)[];
  count: number;
  /**
   * The reply so far while the agent writes it (no chunk has arrived yet; then `chunks` is empty).
   * The first reply chunk clears it: the reply replaces what was written so far.
   */
  partial?: string;
  /** Loaded with the transcript (its chunks' seqs are in `seen`, so replayed events are dropped). */
  fromTranscript: boolean;
}

export type Bubble = UserBubble | AssistantBubble;

export interface ChatState {
  bubbles: Bubble[];
  /** Highest reply seq seen: where the event stream resumes. */
  lastSeq: number;
  seen: ReadonlySet<number>;
}

export type ChatAction =
  | { type: 'reset' }
  | { type: 'loaded'; turns: TranscriptTurn[]; lastSeq?: number }
  | { type: 'sending'; key: string; text: string; at: number; images?: SentImage[] }
  | { type: 'accepted'; key: string; messageId: string }
  | { type: 'failed'; key: string; error: string }
  | { type: 'reply'; event: ReplyEvent }
  /** `at`: when it arrived, the time of a bubble it starts. */
  | { type: 'partial'; event: PartialEvent; at: number };

export const emptyChat: ChatState = { bubbles: [], lastSeq: 0, seen: new Set() };

export function bubbleText(b: Bubble): string {
  if (b.role === 'user') return b.text;
  return b.partial ?? b.chunks.filter((c) => typeof c === 'string').join('\n');
}

/** The answer's images, in order (none while it is being written). */
export function bubbleImages(b: AssistantBubble): ImageChunk[] {
  if (b.partial !== undefined) return [];
  return b.chunks.filter((c): c is ImageChunk => typeof c === 'object');
}

/**
 * The URL an <img> may load: an image as a data: URL, or http(s). Anything else the agent sent
 * (javascript:, file:, a data: URL of another type) is not shown.
 */
export function showableImageUrl(url: string): string | undefined {
  return /^data:image\/(png|jpeg|gif|webp|bmp);base64,/i.test(url) || /^https?:\/\//i.test(url) ? url : undefined;
}

/** What a reply event or transcript turn adds to its bubble. */
function chunkOf(e: { text: string; image?: { url: string } }): Chunk {
  return e.image ? { url: e.image.url, alt: e.text } : e.text;
}

/** Still arriving: being written (partial) or some chunks of the reply missing. */
export function isStreaming(b: AssistantBubble): boolean {
  return b.partial !== undefined || b.chunks.filter((c) => c !== undefined).length < b.count;
}

/** The messages whose answer is being written now (their assistant bubble shows partial text). */
export function beingWritten(bubbles: Bubble[]): Set<string> {
  return new Set(bubbles.flatMap((b) => (b.role === 'assistant' && b.partial !== undefined && b.messageId !== undefined ? [b.messageId] : [])));
}

export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case 'reset':
      return emptyChat;
    case 'loaded':
      return loaded(state, action.turns, action.lastSeq);
    case 'sending': {
      const bubble: UserBubble = { key: action.key, role: 'user', text: action.text, at: action.at, state: 'sending' };
      if (action.images?.length) bubble.images = action.images;
      return { ...state, bubbles: [...state.bubbles, bubble] };
    }
    case 'accepted':
      return updateUser(state, action.key, (b) => {
        // The reply may have streamed in before the POST answered (echo agents are quick).
        const answered = hasAnswer(state, action.messageId);
        return { ...b, messageId: action.messageId, state: answered ? 'done' : 'waiting' };
      });
    case 'failed':
      return updateUser(state, action.key, (b) => ({ ...b, state: 'failed', error: action.error }));
    case 'reply':
      return reply(state, action.event);
    case 'partial':
      return partial(state, action.event, action.at);
  }
}

function loaded(state: ChatState, turns: TranscriptTurn[], lastSeq: number | undefined): ChatState {
  const bubbles: Bubble[] = [];
  const seen = new Set(state.seen);
  // The server keeps no thumbnails: images sent from this tab stay on their message when it is reloaded.
  const sentImages = new Map(state.bubbles.flatMap((b) => (b.role === 'user' && b.images && b.messageId ? [[b.messageId, b.images] as const] : [])));
  turns.forEach((t, i) => {
    if (t.seq !== undefined) seen.add(t.seq);
    if (t.role === 'user') {
      const pending = t.status === 'queued' || t.status === 'leased';
      const bubble: UserBubble = { key: `t${i}`, role: 'user', text: t.text, at: t.at, messageId: t.messageId, state: pending ? 'waiting' : 'done' };
      const images = t.messageId === undefined ? undefined : sentImages.get(t.messageId);
      if (images) bubble.images = images;
      bubbles.push(bubble);
      return;
    }
    // The transcript lists a reply chunk by chunk: the chunks of one answer make one bubble.
    const prev = bubbles[bubbles.length - 1];
    if (prev?.role === 'assistant' && prev.messageId === t.messageId) {
      bubbles[bubbles.length - 1] = { ...prev, chunks: [...prev.chunks, chunkOf(t)], count: prev.count + 1 };
    } else {
      bubbles.push({ key: `t${i}`, role: 'assistant', at: t.at, messageId: t.messageId, format: t.format ?? 'markdown', chunks: [chunkOf(t)], count: 1, fromTranscript: true });
    }
  });
  // Keep what this tab sent or received meanwhile that the loaded transcript does not hold yet.
  const known = new Set(turns.map((t) => `${t.role}:${t.messageId}`));
  const live = state.bubbles.filter((b) => b.key.startsWith('live') && !(b.messageId && known.has(`${b.role}:${b.messageId}`)));
  const next: ChatState = { bubbles: [...bubbles, ...live], seen, lastSeq: Math.max(state.lastSeq, lastSeq ?? 0) };
  return { ...next, bubbles: next.bubbles.map((b) => (b.role === 'user' && b.state === 'waiting' && hasAnswer(next, b.messageId) ? { ...b, state: 'done' } : b)) };
}

/** A reply (some chunk of it) is in: text being written does not count. */
function hasAnswer(state: ChatState, messageId: string | undefined): boolean {
  return messageId !== undefined && state.bubbles.some((b) => b.role === 'assistant' && b.messageId === messageId && b.partial === undefined);
}

function updateUser(state: ChatState, key: string, change: (b: UserBubble) => UserBubble): ChatState {
  return { ...state, bubbles: state.bubbles.map((b) => (b.key === key && b.role === 'user' ? change(b) : b)) };
}

function reply(state: ChatState, e: ReplyEvent): ChatState {
  // Seen: in the loaded transcript, or replayed after the stream reconnected.
  if (state.seen.has(e.seq)) return state;
  const seen = new Set(state.seen).add(e.seq);
  const base = { ...state, seen, lastSeq: Math.max(state.lastSeq, e.seq) };
  const index = e.chunk?.index ?? 0;
  const count = e.chunk?.count ?? 1;
  const existing = state.bubbles.findIndex((b) => b.role === 'assistant' && b.messageId === e.messageId);
  let bubbles = state.bubbles.slice();
  if (existing >= 0) {
    const b = bubbles[existing] as AssistantBubble;
    if (b.partial !== undefined) {
      // The reply replaces the text shown while it was written (same bubble, so it stays in place).
      const chunks: (Chunk | undefined)[] = new Array(count).fill(undefined);
      chunks[index] = chunkOf(e);
      const { partial: _written, ...rest } = b;
      bubbles[existing] = { ...rest, format: e.format, chunks, count };
    } else {
      const chunks = b.chunks.slice();
      chunks[index] = chunkOf(e);
      bubbles[existing] = { ...b, chunks, count: Math.max(b.count, count) };
    }
  } else {
    const chunks: (Chunk | undefined)[] = new Array(count).fill(undefined);
    chunks[index] = chunkOf(e);
    const bubble: AssistantBubble = { key: `live-a${e.seq}`, role: 'assistant', at: e.at ?? Date.now(), messageId: e.messageId, format: e.format, chunks, count, fromTranscript: false };
    insertAnswer(bubbles, bubble);
  }
  bubbles = bubbles.map((b) => (b.role === 'user' && b.messageId === e.messageId && b.state === 'waiting' ? { ...b, state: 'done' } : b));
  return { ...base, bubbles };
}

/**
 * The reply so far: shown in the message's assistant bubble (made like a reply's when there is
 * none yet), newest text wins, shorter included (a retry starts over). Once a reply chunk is in,
 * partials are late and dropped. The question stays waiting: nothing is answered until the reply.
 */
function partial(state: ChatState, e: PartialEvent, at: number): ChatState {
  if (e.text === '') return state;
  const existing = state.bubbles.findIndex((b) => b.role === 'assistant' && b.messageId === e.messageId);
  const bubbles = state.bubbles.slice();
  if (existing >= 0) {
    const b = bubbles[existing] as AssistantBubble;
    if (b.partial === undefined || b.partial === e.text) return state;
    bubbles[existing] = { ...b, partial: e.text };
  } else {
    // Agents that stream write markdown (the reply says which format it is in; until then, markdown).
    insertAnswer(bubbles, { key: `live-p${e.messageId}`, role: 'assistant', at, messageId: e.messageId, format: 'markdown', chunks: [], count: 0, partial: e.text, fromTranscript: false });
  }
  return { ...state, bubbles };
}

/** Right after the question it answers, when that is on screen; else at the end. */
function insertAnswer(bubbles: Bubble[], answer: AssistantBubble): void {
  const question = bubbles.findIndex((b) => b.role === 'user' && b.messageId === answer.messageId);
  bubbles.splice(question >= 0 ? question + 1 : bubbles.length, 0, answer);
}
