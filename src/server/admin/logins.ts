import type { FastifyInstance } from 'fastify';
import { loginPending, type LoginFlow } from '../../channels/login.js';
import { join } from 'node:path';
import { resolveReferences } from '../../config/secrets.js';
import { readEntriesRaw, targetDir, type TargetKind } from '../../config/workspace-writer.js';
import { CocoError, describeError, isCocoError } from '../../core/errors.js';
import { assertValidId, entryKey } from '../../core/ids.js';
import type { Gateway } from '../../gateway.js';
import { findEntry, prepare, save, target } from './entries.js';
import { LoginMirror, type PresentedLogin } from './login-mirror.js';

type Params = { kind: string; id: string; entryId: string };

interface Running {
  flow: LoginFlow;
  channel: string;
  /** The copy of its status kept in a shared store. */
  mirrored?: { id: string; stop: () => void };
  /** Set when the confirmed credentials could not be written into the entry. */
  failure?: string;
}

/**
 * QR-code logins of entries whose channel has one (`ChannelDefinition.login`): start, watch, cancel.
 * A confirmed login is written into the entry (secrets into the vault) and the entry restarts.
 * One login per entry at a time; starting another cancels the first.
 */
export function registerLoginRoutes(app: FastifyInstance, gateway: Gateway): void {
  const logins = new Map<string, Running>();
  // Other gateway processes sharing the store answer for the logins this one runs, and the other way round.
  const mirror = gateway.store.shared ? new LoginMirror(gateway.store, gateway.clock, gateway.log) : undefined;
  app.addHook('onClose', async () => {
    for (const running of logins.values()) {
      running.mirrored?.stop();
      running.flow.cancel();
    }
  });

  app.post<{ Params: Params }>('/:kind/:id/entries/:entryId/login', async (request) => {
    const { kind, id, entryId, key, raw } = entryOf(gateway, request.params);
    const channel = String(raw.channel ?? '');
    const def = gateway.registry.get(channel);
    if (!def.login) {
      throw new CocoError('COCO_ERR_REQUEST_INVALID', `channel "${channel}" has no QR login; set its credentials in the entry's config`, { statusCode: 400, field: 'channel' });
    }
    const previous = logins.get(key);
    if (previous) previous.flow.cancel();
    else await mirror?.requestCancel(key); // one another process may be running
    logins.delete(key);
    const log = gateway.log.child({ entry: key });
    const config = resolvedConfig(gateway, kind, id, raw);
    let flow: LoginFlow;
    try {
      flow = await def.login(config, { clock: gateway.clock, log });
    } catch (cause) {
      throw new CocoError('COCO_ERR_LOGIN_FAILED', `${channel}: no QR code: ${describeError(cause)}`, { statusCode: 502, cause });
    }
    // Another POST for this entry may have finished while this one waited for its code: the last one wins.
    logins.get(key)?.flow.cancel();
    const running: Running = { flow, channel };
    logins.set(key, running);
    running.mirrored = mirror?.follow(() => present(key, running), () => flow.cancel());
    void flow.result.then((fields) => {
      if (!fields || logins.get(key) !== running) return;
      try {
        writeLogin(gateway, kind, id, entryId, channel, changedFields(fields, config));
        log.info({ account: flow.status().account }, 'login confirmed; entry restarts with its new credentials');
      } catch (err) {
        running.failure = `logged in, but the entry could not be updated: ${describeError(err)}`;
        log.error({ err: describeError(err) }, 'login confirmed but not saved');
      }
    });
    return present(key, running);
  });

  app.get<{ Params: Params }>('/:kind/:id/entries/:entryId/login', async (request) => {
    const { key } = entryOf(gateway, request.params);
    const running = logins.get(key);
    if (running && loginPending(running.flow.status().state)) return present(key, running);
    // Once this process's login is over, a newer one started on another process is the one to show.
    const elsewhere = await mirror?.read(key, running?.mirrored?.id);
    if (elsewhere) return elsewhere;
    if (running) return present(key, running);
    throw new CocoError('COCO_ERR_NOT_FOUND', `no login was started for entry "${key}"`, { statusCode: 404 });
  });

  app.delete<{ Params: Params }>('/:kind/:id/entries/:entryId/login', async (request, reply) => {
    const { key } = entryOf(gateway, request.params);
    const running = logins.get(key);
    if (running) running.flow.cancel();
    else await mirror?.requestCancel(key);
    return reply.code(204).send();
  });
}

/** The entry's config with its ${ENV} and ${secret:…} references resolved, as the channel would run with it. */
function resolvedConfig(gateway: Gateway, kind: TargetKind, id: string, raw: Record<string, unknown>): Record<string, unknown> {
  const file = join(targetDir(gateway.root, kind, id), 'entries.json');
  try {
    return resolveReferences((raw.config ?? {}) as Record<string, unknown>, { env: gateway.env, vault: gateway.vault, file });
  } catch (err) {
    if (isCocoError(err)) throw new CocoError(err.code, err.message, { statusCode: 400, field: err.field, file });
    throw err;
  }
}

/** The login's fields that differ from the config it started with: an unchanged value keeps its ${ENV} reference. */
function changedFields(fields: Record<string, unknown>, started: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([name, value]) => started[name] !== value));
}

function entryOf(gateway: Gateway, params: Params) {
  const { kind, id } = target(gateway, params);
  const entryId = assertValidId(params.entryId, 'entry');
  const entries = readEntriesRaw(gateway.root, kind, id);
  const raw = entries[findEntry(entries, entryId, id)]!;
  return { kind, id, entryId, key: entryKey(id, entryId), raw };
}

function present(key: string, running: Running): PresentedLogin {
  const status = running.flow.status();
  const shown = running.failure ? { state: 'failed' as const, message: running.failure, ...(status.account ? { account: status.account } : {}) } : status;
  return { key, channel: running.channel, ...shown };
}

/** Merges the login's fields into the entry as it is now (it may have been edited meanwhile). */
function writeLogin(gateway: Gateway, kind: TargetKind, id: string, entryId: string, channel: string, fields: Record<string, unknown>): void {
  const entries = readEntriesRaw(gateway.root, kind, id);
  const index = findEntry(entries, entryId, id);
  const previous = entries[index]!;
  if (previous.channel !== channel) throw new Error(`the entry is now a "${String(previous.channel)}" entry`);
  const config = { ...((previous.config ?? {}) as Record<string, unknown>), ...fields };
  const body = { channel, enabled: previous.enabled !== false, config };
  const prepared = prepare(gateway, kind, id, entryId, body, previous);
  entries[index] = prepared.entry;
  save(gateway, kind, id, entries, prepared.vaultDeletes);
}
