import { useEffect, useState } from 'react';
import { api } from '../../api';
import { i18n } from '../../i18n';
import type { ChannelType, JsonSchema } from '../../components/types';

export type TargetKind = 'agent' | 'scene';

export interface Schemas {
  agentProfile: JsonSchema;
  scene: JsonSchema;
}

/** Path of an agent or scene under /api/admin. */
export function targetPath(kind: TargetKind, id: string): string {
  return `/${kind}s/${encodeURIComponent(id)}`;
}

// Schemas and the catalog change only with the gateway's version: fetched once per page load.
let schemas: Promise<Schemas> | undefined;
let catalog: Promise<ChannelType[]> | undefined;

function useOnce<T>(get: () => Promise<T>, clear: () => void): { value?: T; error?: unknown } {
  const [state, setState] = useState<{ value?: T; error?: unknown }>({});
  useEffect(() => {
    let live = true;
    get().then(
      (value) => live && setState({ value }),
      (error) => {
        clear();
        if (live) setState({ error });
      },
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return state;
}

export function useSchemas() {
  return useOnce(
    () => (schemas ??= api<Schemas>('GET', '/schemas')),
    () => (schemas = undefined),
  );
}

export function useChannelTypes() {
  return useOnce(
    () => (catalog ??= api<{ channelTypes: ChannelType[] }>('GET', '/channel-types').then((r) => r.channelTypes)),
    () => (catalog = undefined),
  );
}

export function validId(id: string): string | undefined {
  if (!id) return i18n.t('agents:id.required');
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(id)) return i18n.t('agents:id.invalid');
  return undefined;
}
