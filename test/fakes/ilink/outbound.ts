/** sendmessage, getconfig and sendtyping (protocols.md §7.4): checks, budgets and what was recorded. */
import { isRecord } from '../http.js';
import type { InboundLog } from './inbound.js';
import { ITEM_FIELD, ITEM_TYPE } from './items.js';
import type { MessageItem, SentMessage, TypingCall } from './types.js';
import { randomToken } from './wire.js';

export type ApiAnswer = Record<string, unknown>;

const fail = (ret: number, errmsg: string): ApiAnswer => ({ ret, errcode: ret, errmsg });
const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v !== '';

/** Checks an outbound image item against the CDN (upload.ts): the file it names, or why it is refused. */
export type ImageCheck = (imageItem: Record<string, unknown>, to: string) => { image: { data: Buffer; encryptQueryParam: string } } | { problem: string };

export class Outbound {
  readonly sent: SentMessage[] = [];
  readonly typing: TypingCall[] = [];
  readonly listeners = new Set<(m: SentMessage) => void>();
  private readonly tickets = new Set<string>();

  constructor(
    private readonly inbound: InboundLog,
    private readonly repliesPerToken: number,
    private readonly checkImage: ImageCheck,
  ) {}

  sendMessage(body: Record<string, unknown>): ApiAnswer {
    const msg = body.msg;
    if (!isRecord(msg)) return fail(-1, 'msg must be an object');
    const to = msg.to_user_id;
    if (!nonEmpty(to)) return fail(-1, 'msg.to_user_id must be a non-empty string');
    if (!this.inbound.knownUsers.has(to)) return fail(-1, `msg.to_user_id ${to} is not a user of this bot`);
    if (!nonEmpty(msg.client_id)) return fail(-1, 'msg.client_id must be a non-empty string');
    if (msg.message_type !== 2) return fail(-1, `msg.message_type must be 2 (BOT), got ${JSON.stringify(msg.message_type)}`);
    const items = msg.item_list;
    if (!Array.isArray(items) || items.length !== 1) {
      return fail(-1, `msg.item_list must hold exactly one item, got ${Array.isArray(items) ? items.length : typeof items}`);
    }
    const itemProblem = checkItem(items[0]);
    if (itemProblem) return fail(-1, itemProblem);
    const item = items[0] as MessageItem;
    const image = item.type === ITEM_TYPE.IMAGE ? this.checkImage(item.image_item as Record<string, unknown>, to) : undefined;
    if (image && 'problem' in image) return fail(-1, image.problem);

    const token = typeof msg.context_token === 'string' ? this.inbound.contextTokens.get(msg.context_token) : undefined;
    if (!token || token.user !== to) return fail(-2, 'context token invalid');
    if (token.replies >= this.repliesPerToken) return fail(-2, `context token used up (${this.repliesPerToken} replies)`);
    token.replies++;
    const sent: SentMessage = {
      to,
      clientId: msg.client_id,
      contextToken: msg.context_token as string,
      item: structuredClone(item),
      text: item.type === ITEM_TYPE.TEXT ? (item.text_item?.text ?? '') : '',
      ...(image ? { image: image.image } : {}),
      at: Date.now(),
    };
    this.sent.push(sent);
    for (const listener of this.listeners) listener(sent);
    // The real server answers success with an empty object.
    return {};
  }

  getConfig(body: Record<string, unknown>): ApiAnswer {
    if (!nonEmpty(body.ilink_user_id)) return fail(-1, 'ilink_user_id must be a non-empty string');
    if (body.context_token !== undefined && typeof body.context_token !== 'string') return fail(-1, 'context_token must be a string');
    const ticket = Buffer.from(randomToken(18)).toString('base64');
    this.tickets.add(ticket);
    return { ret: 0, typing_ticket: ticket };
  }

  sendTyping(body: Record<string, unknown>): ApiAnswer {
    const { ilink_user_id: user, typing_ticket: ticket, status } = body;
    if (!nonEmpty(user)) return fail(-1, 'ilink_user_id must be a non-empty string');
    if (status !== 1 && status !== 2) return fail(-1, `status must be 1 (typing) or 2 (cancel), got ${JSON.stringify(status)}`);
    if (typeof ticket !== 'string' || !this.tickets.has(ticket)) return fail(-1, 'typing_ticket invalid (get one from getconfig)');
    this.typing.push({ user, status, ticket, at: Date.now() });
    return { ret: 0 };
  }
}

/** Why an outbound item is malformed, or undefined. */
function checkItem(item: unknown): string | undefined {
  if (!isRecord(item)) return 'msg.item_list[0] must be an object';
  const field = typeof item.type === 'number' ? ITEM_FIELD[item.type] : undefined;
  if (!field) return `msg.item_list[0].type must be 1-5, got ${JSON.stringify(item.type)}`;
  const payload = item[field];
  if (!isRecord(payload)) return `msg.item_list[0].${field} must be an object for type ${String(item.type)}`;
  if (item.type === ITEM_TYPE.TEXT && !nonEmpty(payload.text)) return 'msg.item_list[0].text_item.text must be a non-empty string';
  return undefined;
}
