/**
 * Tells people when something needs them (`notify` in cococat.yaml): a user asked for a person, a
 * stranger asks to be let in, a message or a reply was given up on, an entry or an agent is down or
 * users are kept waiting (ops/health-watch.ts). The panel shows all of it, but nobody watches a
 * panel all day; a team watches its group chat. So a notice goes to a WeCom group robot, a Feishu
 * custom bot, or any URL as signed JSON, in the team's language (ops/notice-texts.ts).
 *
 * Best effort, by design: notices wait in memory (at most MAX_WAITING), go out one at a time, and a
 * failed one is tried three times, then logged and dropped. What they announce is in the store
 * either way; a notice lost with the process costs a ping, not a message.
 */
import { createHmac } from 'node:crypto';
import type { NotifySettings } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { signatureHeaders } from '../core/signature.js';
import type { GatewayMetrics } from './metrics.js';
import { noticeText, type Localized } from './notice-texts.js';

export type NotifyEvent = NotifySettings['events'][number];

export interface Notice {
  event: NotifyEvent;
  /** One or two lines for a person, in each language (ops/notice-texts.ts); `notify.language` picks one. */
  text: Localized;
  entryKey?: string;
  messageId?: string;
  /** The panel page the notice links to (`agents/desk`) when it is about no message. */
  panelPath?: string;
  /** An outage or a wait is over (entry_down, agent_down, waiting): a `json` receiver closes what it opened. */
  resolved?: boolean;
}

/** A waiting notice, with how many dead letters of its entry came after it (one notice says them all). */
type Waiting = Notice & { more: number };

const MAX_WAITING = 200;
const ATTEMPTS = 3;
/** Between attempts: a group robot's limit is per minute (WeCom 20, Feishu 100), so the last wait is long. */
const WAITS_MS = [2_000, 30_000];
const TIMEOUT_MS = 10_000;

export interface NotifierDeps {
  /** Read for every notice: an edit of cococat.yaml applies to the next one. */
  settings: () => { notify?: NotifySettings; publicUrl?: string };
  clock: Clock;
  log: Logger;
  /** Counts what became of each notice (`cococat_notices_total`): a revoked robot key shows as failures. */
  metrics?: Pick<GatewayMetrics, 'notices'>;
}

export class Notifier {
  private readonly waiting: Waiting[] = [];
  private sending: Promise<void> | undefined;

  constructor(private readonly deps: NotifierDeps) {}

  /** Queues a notice when `notify` asks for its event; returns at once. */
  notify(notice: Notice): void {
    const { notify } = this.deps.settings();
    if (!notify || !notify.events.includes(notice.event)) return;
    // An entry that is down dead-letters reply after reply: the team needs one ping, not fifty.
    const same = notice.event === 'dead_letter' ? this.waiting.find((w) => w.event === 'dead_letter' && w.entryKey === notice.entryKey) : undefined;
    if (same) {
      same.more++;
      return;
    }
    if (this.waiting.length >= MAX_WAITING) {
      const dropped = this.waiting.shift()!;
      this.deps.metrics?.notices.inc({ event: dropped.event, outcome: 'dropped' });
      this.deps.log.warn({ event: notice.event }, 'notice dropped: too many waiting for the notify URL');
    }
    this.waiting.push({ ...notice, more: 0 });
    this.sending ??= this.drain().finally(() => (this.sending = undefined));
  }

  /** Resolves when every queued notice went out or was given up on. */
  async idle(): Promise<void> {
    while (this.sending) await this.sending;
  }

  private async drain(): Promise<void> {
    for (let notice = this.waiting.shift(); notice; notice = this.waiting.shift()) await this.deliver(notice);
  }

  private async deliver(waiting: Waiting): Promise<void> {
    const { more, text: texts, ...notice } = waiting;
    for (let attempt = 1; ; attempt++) {
      const { notify, publicUrl } = this.deps.settings();
      if (!notify) return;
      const said = texts[notify.language];
      const text = more > 0 ? `${said}\n${noticeText.more(more, notice.entryKey ?? '')[notify.language]}` : said;
      try {
        await post(notify, withLink({ ...notice, text }, publicUrl), this.deps.clock.now());
        this.deps.metrics?.notices.inc({ event: notice.event, outcome: 'sent' });
        return;
      } catch (err) {
        // The URL holds the robot's key: never logged.
        const log = { event: notice.event, entry: notice.entryKey, messageId: notice.messageId, attempt, err: describeError(err) };
        if (attempt >= ATTEMPTS) {
          this.deps.log.warn(log, 'notice not delivered to the notify URL; given up');
          this.deps.metrics?.notices.inc({ event: notice.event, outcome: 'failed' });
          return;
        }
        this.deps.log.debug(log, 'notice not delivered to the notify URL; trying again');
        await this.deps.clock.sleep(WAITS_MS[attempt - 1]!);
      }
    }
  }
}

/** A notice as it goes out: in the team's language. */
type Outgoing = Omit<Notice, 'text'> & { text: string };

function withLink(notice: Outgoing, publicUrl: string | undefined): Outgoing & { link?: string } {
  const path = notice.messageId ? `messages?id=${encodeURIComponent(notice.messageId)}` : notice.panelPath;
  if (!publicUrl || !path) return notice;
  const link = `${publicUrl.replace(/\/+$/, '')}/#/${path}`;
  return { ...notice, text: `${notice.text}\n${link}`, link };
}

/** One POST in the format of the receiver; throws when it did not take the notice. */
async function post(settings: NotifySettings, notice: Outgoing & { link?: string }, now: number): Promise<void> {
  const text = `[CocoCat] ${notice.text}`;
  const everyone = settings.mention_all.includes(notice.event);
  let body: string;
  let headers: Record<string, string> = { 'content-type': 'application/json' };
  if (settings.format === 'wecom') {
    body = JSON.stringify({ msgtype: 'text', text: { content: text, ...(everyone ? { mentioned_list: ['@all'] } : {}) } });
  } else if (settings.format === 'feishu') {
    const content = { text: everyone ? `<at user_id="all">所有人</at> ${text}` : text };
    body = JSON.stringify({ ...feishuSign(settings.secret, now), msg_type: 'text', content });
  } else {
    const { event, entryKey, messageId, link, resolved } = notice;
    body = JSON.stringify({ event, text: notice.text, entryKey, messageId, link, resolved: resolved === true, at: new Date(now).toISOString() });
    headers = { ...headers, ...signatureHeaders(settings.secret, now, body) };
  }
  const res = await fetch(settings.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(TIMEOUT_MS) });
  const answer = (await res.json().catch(() => undefined)) as { errcode?: number; errmsg?: string; code?: number; msg?: string } | undefined;
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  // Robots answer 200 with their own error codes (WeCom 93000 a wrong key, 45009 over the limit; Feishu 19021 a bad sign).
  const code = settings.format === 'wecom' ? answer?.errcode : settings.format === 'feishu' ? answer?.code : 0;
  if (code !== 0) throw new Error(`refused: ${code ?? 'no code'} ${answer?.errmsg ?? answer?.msg ?? ''}`.trim());
}

/** A Feishu custom bot's signature check (签名校验): HMAC-SHA256 keyed by `timestamp + "\n" + secret` over nothing, base64. */
export function feishuSign(secret: string | undefined, now: number): { timestamp?: string; sign?: string } {
  if (!secret) return {};
  const timestamp = Math.floor(now / 1000).toString();
  return { timestamp, sign: createHmac('sha256', `${timestamp}\n${secret}`).update('').digest('base64') };
}
