import { createContext, useContext } from 'react';

/**
 * Who is logged in: the admin changes anything; an operator reads and answers people, and of that
 * only what their `can` allows (operator_tokens in cococat.yaml). The gateway refuses the rest
 * either way (403); the panel does not offer it.
 */
export type Role = 'admin' | 'operator';

/** What an operator may do besides reading; the gateway's OPERATOR_PERMISSIONS. */
export type Permission = 'reply' | 'handoff' | 'pairing' | 'senders' | 'retry' | 'chat';

export interface Access {
  role: Role;
  /** An operator's permissions; undefined: all of them (the admin, or an operator without `can`). */
  can?: readonly Permission[];
}

export const RoleContext = createContext<Access>({ role: 'admin' });

/** Whether this session may change agents, scenes, entries and settings. */
export function useCanChangeSetup(): boolean {
  return useContext(RoleContext).role === 'admin';
}

/** Whether this session may do `what` (answer people, hand over, retry…). */
export function useCan(what: Permission): boolean {
  const { can } = useContext(RoleContext);
  return can === undefined || can.includes(what);
}
