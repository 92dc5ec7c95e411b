/**
 * Card entities of the fake Feishu (cardkit/v1): created from a card JSON 2.0, sent once as an interactive message
 * naming the card_id, then changed in place, each change with a `sequence` larger than the card's last. What a user
 * sees of a card is `textOf(card)`, and `history` keeps every accepted change in order.
 */
import { randomInt } from 'node:crypto';
import { isRecord, parseJson } from '../http.js';

export type CardCallKind = 'create' | 'content' | 'update';

/** One accepted change of a card: what the user saw appear. */
export interface CardChange {
  kind: CardCallKind;
  sequence?: number;
  elementId?: string;
  /** The whole text of the card after the change. */
  text: string;
  /** Streaming mode after the change. */
  streaming: boolean;
  /** Wall-clock milliseconds. */
  at: number;
  /** Shared with the messages' seq: "the card was finished after/before that message". */
  seq: number;
}

export interface FakeCard {
  cardId: string;
  /** The card JSON as it is now. */
  card: Record<string, unknown>;
  streaming: boolean;
  /** Fake-clock time streaming mode was last turned on (it ends by itself STREAMING_LIMIT_MS later). */
  streamingSince: number;
  sequence: number;
  /** The message showing the card, once sent. */
  messageId?: string;
  history: CardChange[];
}

/** Every card call, accepted or not. */
export interface CardCall {
  kind: CardCallKind;
  cardId?: string;
  elementId?: string;
  sequence?: number;
  status: number;
  code: number;
  at: number;
}

/** Streaming mode ends by itself this long after it was turned on. */
export const STREAMING_LIMIT_MS = 10 * 60_000;
/** Card and element calls on one card within any second. */
export const CARD_CALLS_PER_SECOND = 10;
/** Error codes of the card API as this fake answers them (not documented where we could read them: see README). */
export const CARD_ERRORS = { notFound: 300300, invalid: 300301, elementNotFound: 300302, streamingClosed: 300309, sequence: 300317 } as const;

/** Table components one card may hold (表格组件: 单张卡片最多支持放置五个表格组件); markdown tables count as such. */
export const MAX_TABLES_PER_CARD = 5;
/** Feishu's answer to a card with more: the message API's "Failed to create card content" with the renderer's ErrCode. */
export const TABLE_LIMIT_REFUSAL: CardRefusal = {
  code: 230099,
  msg: 'Failed to create card content, ext=ErrCode: 11310; ErrMsg: card table number over limit; ErrorValue: table; ',
  status: 400,
};

const TOP_LEVEL_KEYS = new Set(['schema', 'config', 'card_link', 'header', 'body']);
const CONFIG_KEYS = new Set(['streaming_mode', 'streaming_config', 'summary', 'locales', 'enable_forward', 'update_multi', 'width_mode', 'use_custom_translation', 'enable_forward_interaction', 'style']);
const ELEMENT_ID = /^[A-Za-z][A-Za-z0-9_]{0,19}$/;

/** A refusal: code and message; the API half turns it into an answer. */
export interface CardRefusal {
  code: number;
  msg: string;
  status?: number;
}

const refuse = (code: number, msg: string, status?: number): CardRefusal => ({ code, msg, ...(status === undefined ? {} : { status }) });

export class FakeCards {
  readonly cards = new Map<string, FakeCard>();
  readonly calls: CardCall[] = [];
  private readonly recentCalls = new Map<string, number[]>();

  constructor(
    private readonly now: () => number,
    private readonly nextSeq: () => number,
  ) {}

  /** POST /open-apis/cardkit/v1/cards: `{type: "card_json", data}` → `{card_id}`. */
  create(req: Record<string, unknown>): { cardId: string } | CardRefusal {
    if (req.type !== 'card_json') return refuse(99992402, 'field validation failed: type must be card_json');
    const read = readCard(req.data);
    if ('refusal' in read) return read.refusal;
    const card = read.card;
    const cardId = `7${String(randomInt(1e9)).padStart(9, '0')}${String(randomInt(1e9)).padStart(9, '0')}`;
    const streaming = streamingOf(card);
    const entry: FakeCard = { cardId, card, streaming, streamingSince: this.now(), sequence: 0, history: [] };
    this.cards.set(cardId, entry);
    this.record(entry, 'create');
    return { cardId };
  }

  /** PUT …/cards/:card_id/elements/:element_id/content: `{content, sequence}`; the card must be streaming. */
  content(cardId: string, elementId: string, req: Record<string, unknown>): CardRefusal | undefined {
    const card = this.cards.get(cardId);
    if (!card) return refuse(CARD_ERRORS.notFound, 'card not found');
    const limited = this.rateLimited(cardId);
    if (limited) return limited;
    if (typeof req.content !== 'string') return refuse(99992402, 'field validation failed: content must be a string');
    const badSequence = this.checkSequence(card, req.sequence);
    if (badSequence) return badSequence;
    this.endStreamingIfDue(card);
    if (!card.streaming) return refuse(CARD_ERRORS.streamingClosed, 'the card is not in streaming mode');
    const element = elementsOf(card.card).find((e) => e.element_id === elementId);
    if (!element) return refuse(CARD_ERRORS.elementNotFound, `no element ${elementId} in the card`);
    if (element.tag !== 'markdown' && element.tag !== 'plain_text') return refuse(CARD_ERRORS.invalid, `element ${elementId} is a ${String(element.tag)}, not markdown or plain_text`);
    const before = element.content;
    element.content = req.content;
    if (tablesIn(card.card) > MAX_TABLES_PER_CARD) {
      element.content = before;
      return TABLE_LIMIT_REFUSAL;
    }
    card.sequence = req.sequence as number;
    this.record(card, 'content', elementId);
    return undefined;
  }

  /** PUT /open-apis/cardkit/v1/cards/:card_id: `{card: {type: "card_json", data}, sequence}` replaces the whole card. */
  update(cardId: string, req: Record<string, unknown>): CardRefusal | undefined {
    const card = this.cards.get(cardId);
    if (!card) return refuse(CARD_ERRORS.notFound, 'card not found');
    const limited = this.rateLimited(cardId);
    if (limited) return limited;
    const body = isRecord(req.card) ? req.card : undefined;
    if (!body || body.type !== 'card_json') return refuse(99992402, 'field validation failed: card.type must be card_json');
    const read = readCard(body.data);
    if ('refusal' in read) return read.refusal;
    const next = read.card;
    const badSequence = this.checkSequence(card, req.sequence);
    if (badSequence) return badSequence;
    this.endStreamingIfDue(card);
    const streaming = streamingOf(next);
    if (streaming && !card.streaming) card.streamingSince = this.now();
    card.card = next;
    card.streaming = streaming;
    card.sequence = req.sequence as number;
    this.record(card, 'update');
    return undefined;
  }

  /** An interactive message `{type: "card", data: {card_id}}`: the card must exist and not be shown yet. */
  checkSendable(cardId: unknown): string | undefined {
    if (typeof cardId !== 'string') return 'card content needs data.card_id';
    const card = this.cards.get(cardId);
    if (!card) return `card ${cardId} does not exist`;
    if (card.messageId !== undefined) return `card ${cardId} was sent already (a card entity is sent once)`;
    return undefined;
  }

  /** The card is shown by `messageId`. */
  sent(cardId: string, messageId: string): void {
    const card = this.cards.get(cardId);
    if (card) card.messageId = messageId;
  }

  /** The card a message shows, if it shows one. */
  ofMessage(messageId: string): FakeCard | undefined {
    for (const card of this.cards.values()) if (card.messageId === messageId) return card;
    return undefined;
  }

  /** Streaming mode ends by itself after STREAMING_LIMIT_MS on the fake clock. */
  private endStreamingIfDue(card: FakeCard): void {
    if (card.streaming && this.now() - card.streamingSince >= STREAMING_LIMIT_MS) card.streaming = false;
  }

  private checkSequence(card: FakeCard, sequence: unknown): CardRefusal | undefined {
    if (typeof sequence !== 'number' || !Number.isInteger(sequence) || sequence < 1) return refuse(99992402, 'field validation failed: sequence must be a positive integer');
    if (sequence <= card.sequence) return refuse(CARD_ERRORS.sequence, `sequence ${sequence} is not above the card's last (${card.sequence})`);
    return undefined;
  }

  private rateLimited(cardId: string): CardRefusal | undefined {
    const at = Date.now();
    const recent = (this.recentCalls.get(cardId) ?? []).filter((t) => at - t < 1000);
    if (recent.length >= CARD_CALLS_PER_SECOND) {
      this.recentCalls.set(cardId, recent);
      return refuse(99991400, 'request trigger frequency limit', 429);
    }
    recent.push(at);
    this.recentCalls.set(cardId, recent);
    return undefined;
  }

  private record(card: FakeCard, kind: CardCallKind, elementId?: string): void {
    card.history.push({
      kind,
      ...(kind === 'create' ? {} : { sequence: card.sequence }),
      ...(elementId === undefined ? {} : { elementId }),
      text: textOf(card.card),
      streaming: card.streaming,
      at: Date.now(),
      seq: this.nextSeq(),
    });
  }
}

/** The text a card shows: its elements' markdown and plain text, one per line. */
export function textOf(card: Record<string, unknown>): string {
  return elementsOf(card)
    .map((e) => (typeof e.content === 'string' ? e.content : isRecord(e.text) && typeof e.text.content === 'string' ? e.text.content : ''))
    .filter((t) => t !== '')
    .join('\n');
}

function elementsOf(card: Record<string, unknown>): Record<string, unknown>[] {
  const body = isRecord(card.body) ? card.body : {};
  return Array.isArray(body.elements) ? body.elements.filter(isRecord) : [];
}

function streamingOf(card: Record<string, unknown>): boolean {
  return isRecord(card.config) && card.config.streaming_mode === true;
}

/** A card JSON 2.0 string, checked: documented top-level and config keys only, element ids well formed and unique, five tables at most. */
function readCard(data: unknown): { card: Record<string, unknown> } | { refusal: CardRefusal } {
  const checked = checkCard(data);
  if ('code' in checked) return { refusal: checked };
  return tablesIn(checked.card) > MAX_TABLES_PER_CARD ? { refusal: TABLE_LIMIT_REFUSAL } : { card: checked.card };
}

/**
 * Table components a card (JSON 1.0 or 2.0) would render: `table` elements, and the GFM tables of its
 * markdown elements (a row with pipes over a delimiter row, outside fenced code).
 */
export function tablesIn(card: Record<string, unknown>): number {
  const elements = isRecord(card.body) && Array.isArray(card.body.elements) ? card.body.elements : Array.isArray(card.elements) ? card.elements : [];
  let n = 0;
  for (const e of elements) {
    if (!isRecord(e)) continue;
    if (e.tag === 'table') n++;
    else if (e.tag === 'markdown' && typeof e.content === 'string') n += markdownTables(e.content);
  }
  return n;
}

/** `|---|:-:|`, `--- | ---`: dashes with optional colons, cells parted by pipes. */
const isDelimiterRow = (line: string) => line.includes('|') && line.includes('-') && /^\s*\|?(\s*:?-+:?\s*\|?)+\s*$/.test(line);

function markdownTables(markdown: string): number {
  const lines = markdown.split('\n');
  let n = 0;
  let fenced = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^\s{0,3}(```|~~~)/.test(line)) fenced = !fenced;
    else if (!fenced && line.includes('|') && isDelimiterRow(lines[i + 1] ?? '')) {
      n++;
      // The rows that follow belong to this table.
      i++;
      while (i + 1 < lines.length && lines[i + 1]!.trim() !== '' && lines[i + 1]!.includes('|')) i++;
    }
  }
  return n;
}

function checkCard(data: unknown): { card: Record<string, unknown> } | CardRefusal {
  if (typeof data !== 'string') return refuse(99992402, 'field validation failed: data must be a string');
  const card = parseJson(data);
  if (!card) return refuse(CARD_ERRORS.invalid, 'card JSON is not a JSON object');
  if (card.schema !== '2.0') return refuse(CARD_ERRORS.invalid, 'card entities take card JSON 2.0 only');
  const unknown = Object.keys(card).find((k) => !TOP_LEVEL_KEYS.has(k));
  if (unknown) return refuse(CARD_ERRORS.invalid, `unknown card field ${unknown}`);
  if (card.config !== undefined) {
    if (!isRecord(card.config)) return refuse(CARD_ERRORS.invalid, 'config must be an object');
    const key = Object.keys(card.config).find((k) => !CONFIG_KEYS.has(k));
    if (key) return refuse(CARD_ERRORS.invalid, `unknown config field ${key}`);
    if (card.config.update_multi === false) return refuse(CARD_ERRORS.invalid, 'card entities cannot be exclusive cards (update_multi false)');
  }
  if (!isRecord(card.body) || !Array.isArray(card.body.elements)) return refuse(CARD_ERRORS.invalid, 'body.elements must be an array');
  const ids = new Set<string>();
  for (const element of card.body.elements) {
    if (!isRecord(element) || typeof element.tag !== 'string') return refuse(CARD_ERRORS.invalid, 'every element needs a tag');
    if (element.element_id === undefined) continue;
    if (typeof element.element_id !== 'string' || !ELEMENT_ID.test(element.element_id)) return refuse(CARD_ERRORS.invalid, `element_id ${String(element.element_id)}: a letter, then letters, digits or _, 20 at most`);
    if (ids.has(element.element_id)) return refuse(CARD_ERRORS.invalid, `element_id ${element.element_id} is used twice`);
    ids.add(element.element_id);
  }
  return { card };
}
