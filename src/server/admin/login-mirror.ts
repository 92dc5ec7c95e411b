import { randomUUID } from 'node:crypto';
import { loginPending, type LoginStatus } from '../../channels/login.js';
import type { Clock } from '../../core/clock.js';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Store } from '../../store/store.js';

/** What the admin API answers about a login. */
export type PresentedLogin = LoginStatus & { key: string; channel: string };

type Mirrored = PresentedLogin & { id: string; updatedAt: number };

/** Channel-state names the admin API keeps a login under (apart from the channel's own). */
const STATUS = 'admin:login';
const CANCEL = 'admin:login-cancel';
const MIRROR_MS = 500;
/** A login still waiting whose process has not written for this long went down with that process. */
const STALE_MS = 5_000;

/**
 * With several gateway processes on one store, a login runs in the process that started it, while
 * the panel's next request may reach another. This keeps a copy of each running login's status in
 * the store for the others to answer from, and passes a cancel asked of another process on to it.
 */
export class LoginMirror {
  constructor(
    private readonly store: Pick<Store, 'getChannelState' | 'setChannelState'>,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /**
   * Mirrors a login run here until it ends (its last state included); cancels it when another
   * process asks. The returned stop ends the mirroring at once (this process is closing): the
   * others then take the login as gone once its copy is stale.
   */
  follow(present: () => PresentedLogin, cancel: () => void): { id: string; stop: () => void } {
    const id = randomUUID();
    const { key } = present();
    let last = '';
    let lastWrite = 0;
    let busy = false;
    let stopTimer = () => {};
    const tick = async () => {
      if (busy) return;
      busy = true;
      try {
        // Cancelled from elsewhere: the asking process wrote the outcome (or its own new login) already.
        if ((await this.store.getChannelState(key, CANCEL)) === id) {
          stopTimer();
          cancel();
          return;
        }
        const status = present();
        const json = JSON.stringify(status);
        const now = this.clock.now();
        // Rewritten now and then while pending, so the others can tell it is still alive.
        if (json !== last || now - lastWrite >= STALE_MS / 2) {
          await this.store.setChannelState(key, STATUS, JSON.stringify({ ...status, id, updatedAt: now } satisfies Mirrored), now);
          last = json;
          lastWrite = now;
        }
        if (!loginPending(status.state)) stopTimer();
      } catch (err) {
        this.log.warn({ err: describeError(err) }, 'login status not shared through the store');
      } finally {
        busy = false;
      }
    };
    stopTimer = this.clock.every(MIRROR_MS, () => void tick());
    void tick();
    return { id, stop: () => stopTimer() };
  }

  /** The login another process runs (or ran) for this entry, as it last wrote it; not the one with id `own`. */
  async read(key: string, own?: string): Promise<PresentedLogin | undefined> {
    const mirrored = await this.mirrored(key);
    if (!mirrored || mirrored.id === own) return undefined;
    const { id: _id, updatedAt, ...status } = mirrored;
    if (loginPending(status.state) && this.clock.now() - updatedAt > STALE_MS) {
      return { key: status.key, channel: status.channel, state: 'failed', message: 'the gateway process that ran this login stopped; start it again' };
    }
    return status;
  }

  /** Asks the process running this entry's login to cancel it, and records it as cancelled for everyone. */
  async requestCancel(key: string): Promise<void> {
    const mirrored = await this.mirrored(key);
    if (!mirrored || !loginPending(mirrored.state)) return;
    const now = this.clock.now();
    await this.store.setChannelState(key, CANCEL, mirrored.id, now);
    const { qrContent: _code, expiresAt: _until, ...rest } = mirrored;
    await this.store.setChannelState(key, STATUS, JSON.stringify({ ...rest, state: 'cancelled', message: 'cancelled', updatedAt: now } satisfies Mirrored), now);
  }

  private async mirrored(key: string): Promise<Mirrored | undefined> {
    const raw = await this.store.getChannelState(key, STATUS);
    if (!raw) return undefined;
    try {
      return JSON.parse(raw) as Mirrored;
    } catch {
      return undefined;
    }
  }
}
