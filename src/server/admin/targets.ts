import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { maskSecrets, secretFields } from '../../config/masking.js';
import { agentNotifySchema, agentProfileSchema, sceneSchema } from '../../config/schema.js';
import {
  mergeSecrets,
  readRaw,
  removeTarget,
  targetDir,
  targetFile,
  validateWithPending,
  writeYaml,
  type TargetKind,
} from '../../config/workspace-writer.js';
import { failoverProblems } from '../../config/workspace.js';
import { CocoError } from '../../core/errors.js';
import { assertValidId } from '../../core/ids.js';
import type { Gateway } from '../../gateway.js';

const PROFILE_SECRETS = secretFields(agentProfileSchema);
/** An agent's or a scene's own team chat holds secrets too (the robot's key is in its URL): masked and kept like the top-level ones. */
const NOTIFY_SECRETS = secretFields(agentNotifySchema);

/** Masks a profile's or a scene's secrets (`top`), `notify`'s included (named `notify.url` in `secrets`). */
function maskTarget(target: Record<string, unknown>, top: string[]) {
  const { config, secrets } = maskSecrets(target, top);
  const notify = target.notify;
  if (!notify || typeof notify !== 'object') return { config, secrets };
  const inner = maskSecrets(notify as Record<string, unknown>, NOTIFY_SECRETS);
  const named = Object.fromEntries(Object.entries(inner.secrets).map(([field, state]) => [`notify.${field}`, state]));
  return { config: { ...config, notify: inner.config }, secrets: { ...secrets, ...named } };
}

/** mergeSecrets for a profile or a scene, then for its `notify` (a notify removed takes its stored secrets along). */
function mergeTargetSecrets(body: Record<string, unknown>, previous: Record<string, unknown> | undefined, top: string[], gateway: Gateway, prefix: string) {
  const merged = mergeSecrets(body, previous, top, gateway.vault, prefix);
  const asRecord = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
  const next = asRecord(body.notify);
  const before = asRecord(previous?.notify);
  if (!next && !before) return merged;
  // No notify any more: each of its secrets cleared (null), so mergeSecrets lets the stored ones go from the vault.
  const cleared = Object.fromEntries(NOTIFY_SECRETS.map((f) => [f, null]));
  const inner = mergeSecrets(next ?? cleared, before, NOTIFY_SECRETS, gateway.vault, `${prefix}.notify`);
  if (next) merged.value.notify = inner.value;
  return { value: merged.value, vaultWrites: [...merged.vaultWrites, ...inner.vaultWrites], vaultDeletes: [...merged.vaultDeletes, ...inner.vaultDeletes] };
}

/** CRUD for agents (`profile.yaml`) and scenes (`scene.yaml`). */
export function registerTargetRoutes(app: FastifyInstance, gateway: Gateway): void {
  /** JSON Schemas of the agent profile (one branch per provider) and the scene, for generated forms. */
  app.get('/schemas', async () => ({
    agentProfile: z.toJSONSchema(agentProfileSchema, { io: 'input', unrepresentable: 'any' }),
    scene: z.toJSONSchema(sceneSchema, { io: 'input', unrepresentable: 'any' }),
  }));

  for (const kind of ['agent', 'scene'] as const) {
    const plural = `${kind}s`;

    app.get(`/${plural}`, async () => ({ [plural]: list(gateway, kind) }));

    app.get<{ Params: { id: string } }>(`/${plural}/:id`, async (request) => {
      const id = assertValidId(request.params.id, kind);
      const item = list(gateway, kind).find((t) => t.id === id);
      if (!item) throw new CocoError('COCO_ERR_NOT_FOUND', `${kind} "${id}" does not exist`, { statusCode: 404 });
      return item;
    });

    app.put<{ Params: { id: string }; Body: unknown }>(`/${plural}/:id`, async (request, reply) => {
      const id = assertValidId(request.params.id, kind);
      const body = asObject(request.body);
      const dir = targetDir(gateway.root, kind, id);
      const file = join(dir, targetFile(kind));
      const other = kind === 'agent' ? gateway.snapshot.scenes : gateway.snapshot.agents;
      if (other.has(id)) throw new CocoError('COCO_ERR_ID_CONFLICT', `"${id}" is already a ${kind === 'agent' ? 'scene' : 'agent'} id`, { statusCode: 409, field: 'id' });
      const existed = existsSync(file);
      const previous = existed ? (readRaw(file) as Record<string, unknown>) : undefined;
      const { value, vaultWrites, vaultDeletes } = mergeTargetSecrets(body, previous, kind === 'agent' ? PROFILE_SECRETS : [], gateway, `${kind}.${id}`);
      if (kind === 'agent') {
        validateWithPending(agentProfileSchema, value, vaultWrites, { env: gateway.env, vault: gateway.vault, file });
        const [problem] = failoverProblems(id, value.failover as string[] | undefined, gateway.snapshot.agents);
        if (problem) throw new CocoError('COCO_ERR_CONFIG_INVALID', `${problem.field}: ${problem.message}`, { statusCode: 400, field: problem.field });
      } else {
        validateWithPending(sceneSchema, value, vaultWrites, { env: gateway.env, vault: gateway.vault, file });
        const missing = (value.roster as string[]).findIndex((agentId) => !gateway.snapshot.agents.has(agentId));
        if (missing >= 0) {
          throw new CocoError('COCO_ERR_CONFIG_INVALID', `roster.${missing}: agent "${(value.roster as string[])[missing]}" does not exist`, {
            statusCode: 400,
            field: `roster.${missing}`,
          });
        }
      }
      for (const [name, secret] of vaultWrites) gateway.vault.put(name, secret);
      writeYaml(file, value);
      gateway.vault.delete(vaultDeletes);
      gateway.reload();
      return reply.code(existed ? 200 : 201).send(list(gateway, kind).find((t) => t.id === id));
    });

    app.delete<{ Params: { id: string } }>(`/${plural}/:id`, async (request, reply) => {
      const id = assertValidId(request.params.id, kind);
      if (!existsSync(targetDir(gateway.root, kind, id))) throw new CocoError('COCO_ERR_NOT_FOUND', `${kind} "${id}" does not exist`, { statusCode: 404 });
      if (kind === 'agent') {
        const usedBy = [...gateway.snapshot.scenes.values()].filter((s) => s.scene.roster.includes(id)).map((s) => s.id);
        if (usedBy.length > 0) {
          throw new CocoError('COCO_ERR_ID_CONFLICT', `agent "${id}" is in the roster of scene(s) ${usedBy.join(', ')}; remove it there first`, { statusCode: 409 });
        }
        const backedUp = [...gateway.snapshot.agents.values()].filter((a) => a.profile.failover?.includes(id)).map((a) => a.id);
        if (backedUp.length > 0) {
          throw new CocoError('COCO_ERR_ID_CONFLICT', `agent "${id}" is the failover of agent(s) ${backedUp.join(', ')}; remove it there first`, { statusCode: 409 });
        }
      }
      removeTarget(gateway.root, kind, id);
      const top = kind === 'agent' ? PROFILE_SECRETS : [];
      gateway.vault.delete([...top.map((f) => `${kind}.${id}.${f}`), ...NOTIFY_SECRETS.map((f) => `${kind}.${id}.notify.${f}`)]);
      gateway.reload();
      return reply.code(204).send();
    });
  }
}

function list(gateway: Gateway, kind: TargetKind) {
  const snapshot = gateway.snapshot;
  const entriesOf = (id: string) => gateway.keeper.status().filter((s) => s.target.kind === kind && s.target.id === id);
  if (kind === 'agent') {
    return [...snapshot.agents.values()].map((a) => {
      const { config, secrets } = maskTarget(a.profile as Record<string, unknown>, PROFILE_SECRETS);
      return { id: a.id, file: a.file, profile: config, secrets, entries: entriesOf(a.id) };
    });
  }
  return [...snapshot.scenes.values()].map((s) => {
    const { config, secrets } = maskTarget(s.scene as Record<string, unknown>, []);
    return { id: s.id, file: s.file, scene: config, secrets, entries: entriesOf(s.id) };
  });
}

export function asObject(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new CocoError('COCO_ERR_REQUEST_INVALID', 'body: send a JSON object', { statusCode: 400, field: 'body' });
  }
  return body as Record<string, unknown>;
}
