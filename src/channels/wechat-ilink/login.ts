import { z } from 'zod';
import { loginPending, type LoginContext, type LoginFlow, type LoginStatus } from '../login.js';
import { describeError } from '../../core/errors.js';
import { IlinkApi } from './api.js';
import { ilinkConfigSchema } from './config.js';

/** A QR code works 5 minutes; iLink lets a login refresh it up to 3 times. */
const QR_TTL_MS = 300_000;
const MAX_QR_CODES = 3;
/** get_qrcode_status holds ~35 s; the client waits a little longer. */
const STATUS_POLL_MS = 40_000;
const RETRY_MS = 2_000;
const API_TIMEOUT_MS = 15_000;

/** The one field the login needs, checked as the entry's config checks it; the rest is ignored. */
const loginConfig = z.object({ base_url: ilinkConfigSchema.shape.base_url });

/**
 * The iLink QR login (protocols: personal WeChat, login): get a QR code, long-poll its status until
 * the user scans and confirms in WeChat, and hand back the bot token, the bot's id and the address
 * WeChat names for it. Resolves once the first QR code is there; rejects when iLink gives none.
 */
export async function startIlinkLogin(config: Record<string, unknown>, ctx: LoginContext): Promise<LoginFlow> {
  const parsed = loginConfig.safeParse(config);
  if (!parsed.success) throw new Error(`base_url: ${parsed.error.issues[0]?.message ?? 'is not valid'}`);
  const base = parsed.data.base_url;
  const login = new IlinkLogin(base, ctx);
  await login.newQrcode();
  return login;
}

class IlinkLogin implements LoginFlow {
  private current: LoginStatus = { state: 'waiting' };
  private api: IlinkApi;
  private qrcode = '';
  private codes = 0;
  private readonly cancelled = new AbortController();
  readonly result: Promise<Record<string, unknown> | undefined>;
  private settle!: (value: Record<string, unknown> | undefined) => void;

  constructor(
    private base: string,
    private readonly ctx: LoginContext,
  ) {
    this.api = new IlinkApi({ baseUrl: base, timeoutMs: API_TIMEOUT_MS });
    this.result = new Promise((resolve) => (this.settle = resolve));
  }

  status(): LoginStatus {
    return { ...this.current };
  }

  cancel(): void {
    if (this.cancelled.signal.aborted) return;
    this.cancelled.abort();
    if (loginPending(this.current.state)) this.end({ state: 'cancelled', message: 'cancelled' });
  }

  async newQrcode(): Promise<void> {
    const qr = await this.api.getQrcode();
    this.codes++;
    this.qrcode = qr.qrcode;
    this.current = { state: 'waiting', qrContent: qr.imgContent, expiresAt: this.ctx.clock.now() + QR_TTL_MS, message: 'scan the QR code with WeChat' };
    if (this.codes === 1) void this.poll();
  }

  private async poll(): Promise<void> {
    const signal = this.cancelled.signal;
    while (!signal.aborted && loginPending(this.current.state)) {
      let answer: Record<string, unknown>;
      try {
        if (this.ctx.clock.now() >= (this.current.expiresAt ?? 0)) answer = { status: 'expired' };
        else answer = await this.api.qrcodeStatus(this.qrcode, STATUS_POLL_MS, signal);
      } catch (err) {
        if (signal.aborted) return;
        this.ctx.log.warn({ err: describeError(err) }, 'wechat_ilink login: get_qrcode_status failed; retrying');
        await this.ctx.clock.sleep(RETRY_MS, signal).catch(() => undefined);
        continue;
      }
      await this.handle(answer);
    }
  }

  private async handle(answer: Record<string, unknown>): Promise<void> {
    const status = typeof answer.status === 'string' ? answer.status : 'wait';
    switch (status) {
      case 'wait':
        return;
      case 'scaned':
        this.current = { ...this.current, state: 'scanned', message: 'scanned: confirm the login in WeChat' };
        return;
      case 'scaned_but_redirect': {
        // WeChat serves this account from another host: keep polling there.
        const host = typeof answer.redirect_host === 'string' ? answer.redirect_host : '';
        if (/^[a-z0-9.-]+(:\d+)?$/i.test(host)) {
          this.base = `${new URL(this.base).protocol}//${host}/`;
          this.api = new IlinkApi({ baseUrl: this.base, timeoutMs: API_TIMEOUT_MS });
        }
        this.current = { ...this.current, state: 'scanned', message: 'scanned: confirm the login in WeChat' };
        return;
      }
      case 'expired':
        if (this.codes >= MAX_QR_CODES) return this.end({ state: 'expired', message: `the QR code expired ${MAX_QR_CODES} times; start the login again` });
        try {
          await this.newQrcode();
        } catch (err) {
          this.end({ state: 'failed', message: `a new QR code could not be had: ${describeError(err)}` });
        }
        return;
      case 'confirmed':
        return this.confirmed(answer);
      case 'binded_redirect':
        return this.end({ state: 'failed', message: 'this WeChat account is already bound to another bot; unbind it in WeChat first' });
      case 'need_verifycode':
      case 'verify_code_blocked':
        return this.end({ state: 'failed', message: `WeChat asks for a verification code (${status}); log in again later` });
      default:
        this.ctx.log.warn({ status }, 'wechat_ilink login: unknown QR status; still waiting');
    }
  }

  private confirmed(answer: Record<string, unknown>): void {
    const token = typeof answer.bot_token === 'string' ? answer.bot_token : '';
    if (!token) return this.end({ state: 'failed', message: 'iLink confirmed the login without a bot token' });
    const botId = typeof answer.ilink_bot_id === 'string' ? answer.ilink_bot_id : undefined;
    const baseUrl = typeof answer.baseurl === 'string' && /^https?:\/\//.test(answer.baseurl) ? answer.baseurl : this.base;
    this.end({ state: 'confirmed', message: 'logged in', ...(botId ? { account: botId } : {}) }, { bot_token: token, base_url: baseUrl, ...(botId ? { bot_id: botId } : {}) });
  }

  private end(status: LoginStatus, result?: Record<string, unknown>): void {
    this.current = status;
    this.settle(result);
  }
}
