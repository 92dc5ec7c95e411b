import { ChannelRegistry } from '../channels/registry.js';
import { CocoError } from '../core/errors.js';
import { resolveReferences, SecretVault } from './secrets.js';
import { agentProfileSchema } from './schema.js';
import { loadWorkspace, validate, type Problem, type WorkspaceSnapshot } from './workspace.js';

/**
 * Everything wrong with a workspace, as `cococat check` prints it: file problems, plus channel
 * configs and agent profiles checked with their references resolved (what start would do).
 */
export function checkWorkspace(
  root: string,
  env: Record<string, string | undefined>,
  registry = new ChannelRegistry(),
): { snapshot: WorkspaceSnapshot; problems: Problem[] } {
  const snapshot = loadWorkspace(root);
  const problems = [...snapshot.problems];
  const vault = new SecretVault(root);
  const resolve = (value: unknown, file: string, prefix?: string): unknown => {
    try {
      return resolveReferences(value, { env, vault, file });
    } catch (err) {
      const field = [prefix, err instanceof CocoError ? err.field : undefined].filter(Boolean).join('.') || undefined;
      if (err instanceof CocoError) problems.push({ file, field, message: err.message.split(': ').slice(2).join(': ') || err.message });
      return undefined;
    }
  };
  for (const agent of snapshot.agents.values()) validate(agentProfileSchema, resolve(agent.profile, agent.file), agent.file, problems);
  for (const entry of snapshot.entries) {
    const field = `entries.${entry.index}`;
    if (!registry.has(entry.channel)) {
      problems.push({ file: entry.file, field: `${field}.channel`, message: `unknown channel type "${entry.channel}"; known: ${registry.types().join(', ')}` });
      continue;
    }
    validate(registry.get(entry.channel).configSchema, resolve(entry.config, entry.file, `${field}.config`), entry.file, problems, `${field}.config`);
  }
  return { snapshot, problems };
}
