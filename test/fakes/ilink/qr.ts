/** The QR login state machine: get_bot_qrcode and the get_qrcode_status long poll (protocols.md §7.2). */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Holds } from './holds.js';
import { fullUserId } from './items.js';
import type { QrSession, QrStatus } from './types.js';

interface QrState {
  session: QrSession;
  /** The status the last poll of this qrcode was told; a poll holds while nothing changed since. */
  reported: QrStatus;
  user?: string;
  botToken?: string;
  ttlTimer: NodeJS.Timeout;
}

const isFinal = (s: QrStatus): boolean => s === 'confirmed' || s === 'expired';

export class QrLogin {
  readonly sessions: QrSession[] = [];
  private readonly states = new Map<string, QrState>();

  constructor(
    private readonly opts: {
      ttlMs: number;
      pollMs: number;
      holds: Holds;
      botId: string;
      baseUrl: () => string;
      /** Installs a new bot token for the scanning user and returns it. */
      issueBotToken: (user: string) => string;
    },
  ) {}

  issue(): { ret: 0; qrcode: string; qrcode_img_content: string } {
    const qrcode = randomBytes(16).toString('hex');
    const imgContent = `https://liteapp.weixin.qq.com/q/${randomBytes(6).toString('base64url')}?qrcode=${qrcode}&bot_type=3`;
    const session: QrSession = { qrcode, imgContent, status: 'wait', createdAt: Date.now() };
    const ttlTimer = setTimeout(() => {
      if (!isFinal(session.status)) this.set(qrcode, 'expired');
    }, this.opts.ttlMs);
    this.sessions.push(session);
    this.states.set(qrcode, { session, reported: 'wait', ttlTimer });
    return { ret: 0, qrcode, qrcode_img_content: imgContent };
  }

  /** The status answer, held while nothing changed; undefined when the client left or the fake closed. */
  async poll(qrcode: string, res: ServerResponse): Promise<Record<string, unknown> | undefined> {
    const state = this.states.get(qrcode);
    if (!state) return { status: 'expired' };
    // Final statuses are repeated at once: there is nothing left to wait for.
    const end = await this.opts.holds.hold(res, this.opts.pollMs, () => state.session.status !== state.reported || isFinal(state.session.status));
    if (end === 'gone') return undefined;
    if (end === 'timeout') return { status: 'wait' };
    state.reported = state.session.status;
    if (state.session.status !== 'confirmed') return { status: state.session.status };
    return {
      status: 'confirmed',
      bot_token: state.botToken,
      ilink_bot_id: this.opts.botId,
      ilink_user_id: state.user,
      baseurl: this.opts.baseUrl(),
    };
  }

  scan(qrcode?: string): void {
    const state = this.pick(qrcode, 'scan');
    if (state.session.status !== 'wait') throw new Error(`fake iLink: cannot scan QR ${state.session.qrcode}: it is ${state.session.status}`);
    this.set(state.session.qrcode, 'scaned');
  }

  confirm(qrcode: string | undefined, user = 'owner'): string {
    const state = this.pick(qrcode, 'confirm');
    if (isFinal(state.session.status)) throw new Error(`fake iLink: cannot confirm QR ${state.session.qrcode}: it is ${state.session.status}`);
    state.user = fullUserId(user);
    state.botToken = this.opts.issueBotToken(state.user);
    this.set(state.session.qrcode, 'confirmed');
    return state.botToken;
  }

  expire(qrcode?: string): void {
    this.set(this.pick(qrcode, 'expire').session.qrcode, 'expired');
  }

  close(): void {
    for (const s of this.states.values()) clearTimeout(s.ttlTimer);
  }

  private pick(qrcode: string | undefined, what: string): QrState {
    const code = qrcode ?? this.sessions.at(-1)?.qrcode;
    const state = code === undefined ? undefined : this.states.get(code);
    if (!state) throw new Error(`fake iLink: ${what}: ${code === undefined ? 'no QR code issued yet' : `unknown QR code ${code}`}`);
    return state;
  }

  private set(qrcode: string, status: QrStatus): void {
    const state = this.states.get(qrcode);
    if (!state) return;
    state.session.status = status;
    if (isFinal(status)) clearTimeout(state.ttlTimer);
    this.opts.holds.wake();
  }
}
