import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { describeChannel } from '../../channels/define.js';
import { maskSecrets, secretFields } from '../../config/masking.js';
import { idSchema } from '../../config/schema.js';
import {
  mergeSecrets,
  readEntriesRaw,
  targetDir,
  targetFile,
  validateWithPending,
  writeEntriesRaw,
  type TargetKind,
} from '../../config/workspace-writer.js';
import { CocoError } from '../../core/errors.js';
import type { EntryStatus } from '../../core/entry-status.js';
import { assertValidId, entryKey } from '../../core/ids.js';
import type { Gateway } from '../../gateway.js';
import { publicBase, webhookUrl } from './dashboard.js';
import { parseInput } from './parse-input.js';
import { asObject } from './targets.js';

const entryBodySchema = z
  .object({
    id: idSchema.optional(),
    channel: z.string().min(1),
    enabled: z.boolean().default(true),
    config: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

type Params = { kind: string; id: string; entryId: string };

/** An entry's live status by its key; 404 for an entry the workspace does not have. */
export function entryOr404(gateway: Gateway, key: string): EntryStatus {
  const status = gateway.keeper.statusOf(key);
  if (!status) throw new CocoError('COCO_ERR_NOT_FOUND', `entry "${key}" does not exist`, { statusCode: 404 });
  return status;
}

/** Channel catalog, entry status, and entries.json editing for agents and scenes. */
export function registerEntryRoutes(app: FastifyInstance, gateway: Gateway): void {
  app.get('/channel-types', async () => ({ channelTypes: gateway.registry.all().map(describeChannel) }));

  app.get('/entries', async () => ({ entries: gateway.keeper.status() }));

  app.get<{ Params: { key: string } }>('/entries/:key/status', async (request) => entryOr404(gateway, request.params.key));

  /** Stops and starts one entry now, skipping the backoff of an entry in error ("reconnect"). */
  app.post<{ Params: { key: string } }>('/entries/:key/restart', async (request) => {
    if (!gateway.keeper.reconnect(request.params.key)) {
      throw new CocoError('COCO_ERR_NOT_FOUND', `entry "${request.params.key}" does not exist`, { statusCode: 404 });
    }
    return { restarting: true, key: request.params.key };
  });

  app.get<{ Params: Omit<Params, 'entryId'> }>('/:kind/:id/entries', async (request) => {
    const { kind, id } = target(gateway, request.params);
    return { entries: readEntriesRaw(gateway.root, kind, id).map((raw, index) => present(gateway, request, kind, id, raw, index)) };
  });

  app.post<{ Params: Omit<Params, 'entryId'>; Body: unknown }>('/:kind/:id/entries', async (request, reply) => {
    const { kind, id } = target(gateway, request.params);
    const entries = readEntriesRaw(gateway.root, kind, id);
    const body = parseEntryBody(request.body);
    const entryId = body.id ?? body.channel;
    if (entries.some((e) => (e.id ?? e.channel) === entryId)) {
      throw new CocoError('COCO_ERR_ID_CONFLICT', `entry "${entryId}" already exists on ${kind} "${id}"; give the new one an "id"`, { statusCode: 409, field: 'id' });
    }
    const { entry } = prepare(gateway, kind, id, entryId, body, undefined);
    entries.push(entry);
    save(gateway, kind, id, entries);
    return reply.code(201).send(present(gateway, request, kind, id, entry, entries.length - 1));
  });

  app.put<{ Params: Params; Body: unknown }>('/:kind/:id/entries/:entryId', async (request) => {
    const { kind, id } = target(gateway, request.params);
    const entryId = assertValidId(request.params.entryId, 'entry');
    const entries = readEntriesRaw(gateway.root, kind, id);
    const index = findEntry(entries, entryId, id);
    const body = parseEntryBody({ ...asObject(request.body), id: entryId });
    const prepared = prepare(gateway, kind, id, entryId, body, entries[index]);
    entries[index] = prepared.entry;
    save(gateway, kind, id, entries, prepared.vaultDeletes);
    return present(gateway, request, kind, id, entries[index]!, index);
  });

  for (const [action, enabled] of [['enable', true], ['disable', false]] as const) {
    app.post<{ Params: Params }>(`/:kind/:id/entries/:entryId/${action}`, async (request) => {
      const { kind, id } = target(gateway, request.params);
      const entryId = assertValidId(request.params.entryId, 'entry');
      const entries = readEntriesRaw(gateway.root, kind, id);
      const index = findEntry(entries, entryId, id);
      entries[index] = { ...entries[index], enabled };
      save(gateway, kind, id, entries);
      return present(gateway, request, kind, id, entries[index]!, index);
    });
  }

  app.delete<{ Params: Params }>('/:kind/:id/entries/:entryId', async (request, reply) => {
    const { kind, id } = target(gateway, request.params);
    const entryId = assertValidId(request.params.entryId, 'entry');
    const entries = readEntriesRaw(gateway.root, kind, id);
    const index = findEntry(entries, entryId, id);
    const [removed] = entries.splice(index, 1);
    const channel = String(removed?.channel ?? '');
    const secrets = gateway.registry.has(channel) ? secretFields(gateway.registry.get(channel).configSchema) : [];
    save(gateway, kind, id, entries, secrets.map((f) => `${entryKey(id, entryId)}.${f}`));
    return reply.code(204).send();
  });
}

export function target(gateway: Gateway, params: { kind: string; id: string }): { kind: TargetKind; id: string } {
  const kind = params.kind === 'agents' ? 'agent' : params.kind === 'scenes' ? 'scene' : undefined;
  if (!kind) throw new CocoError('COCO_ERR_NOT_FOUND', `no route for "${params.kind}"; use agents or scenes`, { statusCode: 404 });
  const id = assertValidId(params.id, kind);
  if (!existsSync(join(targetDir(gateway.root, kind, id), targetFile(kind)))) {
    throw new CocoError('COCO_ERR_NOT_FOUND', `${kind} "${id}" does not exist`, { statusCode: 404 });
  }
  return { kind, id };
}

export function findEntry(entries: Record<string, unknown>[], entryId: string, targetId: string): number {
  const index = entries.findIndex((e) => (e.id ?? e.channel) === entryId);
  if (index < 0) throw new CocoError('COCO_ERR_NOT_FOUND', `entry "${entryId}" does not exist on "${targetId}"`, { statusCode: 404 });
  return index;
}

function parseEntryBody(body: unknown) {
  return parseInput(entryBodySchema, asObject(body), 'body');
}

/** Validates the channel config (secrets merged, references resolved) and returns the entry to store. */
export function prepare(
  gateway: Gateway,
  kind: TargetKind,
  id: string,
  entryId: string,
  body: z.infer<typeof entryBodySchema>,
  previous: Record<string, unknown> | undefined,
): { entry: Record<string, unknown>; vaultDeletes: string[] } {
  const def = gateway.registry.get(body.channel);
  const previousConfig = previous?.channel === body.channel ? (previous.config as Record<string, unknown> | undefined) : undefined;
  const key = entryKey(id, entryId);
  const { value, vaultWrites, vaultDeletes } = mergeSecrets(body.config, previousConfig, secretFields(def.configSchema), gateway.vault, key);
  const file = join(targetDir(gateway.root, kind, id), 'entries.json');
  validateWithPending(def.configSchema, value, vaultWrites, { env: gateway.env, vault: gateway.vault, file }, 'config.');
  for (const [name, secret] of vaultWrites) gateway.vault.put(name, secret);
  const entry: Record<string, unknown> = { type: 'channel', channel: body.channel, enabled: body.enabled, config: value };
  if (entryId !== body.channel) entry.id = entryId;
  return { entry, vaultDeletes };
}

/** Writes entries.json, then drops secrets it no longer references (never the other way round). */
export function save(gateway: Gateway, kind: TargetKind, id: string, entries: Record<string, unknown>[], vaultDeletes: string[] = []): void {
  writeEntriesRaw(gateway.root, kind, id, entries);
  gateway.vault.delete(vaultDeletes);
  gateway.reload();
}

function present(gateway: Gateway, request: FastifyRequest, kind: TargetKind, id: string, raw: Record<string, unknown>, index: number) {
  const channel = String(raw.channel ?? '');
  const entryId = String(raw.id ?? channel);
  const config = (raw.config ?? {}) as Record<string, unknown>;
  const fields = gateway.registry.has(channel) ? secretFields(gateway.registry.get(channel).configSchema) : Object.keys(config);
  const masked = maskSecrets(config, fields);
  const key = entryKey(id, entryId);
  return {
    key,
    id: entryId,
    index,
    channel,
    enabled: raw.enabled !== false,
    config: masked.config,
    secrets: masked.secrets,
    status: gateway.keeper.statusOf(key) ?? null,
    webhookUrl: webhookUrl(gateway, { key, channel, config }, publicBase(gateway, request)),
  };
}
