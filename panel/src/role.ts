import { createContext, useContext } from 'react';

/**
 * Who is logged in: the admin changes anything; an operator reads and answers people. The gateway
 * refuses an operator's change of the setup either way (403); the panel does not offer one.
 */
export type Role = 'admin' | 'operator';

export const RoleContext = createContext<Role>('admin');

/** Whether this session may change agents, scenes, entries and settings. */
export function useCanChangeSetup(): boolean {
  return useContext(RoleContext) === 'admin';
}

/** Shown where an operator would have found the admin's controls. */
export const READ_ONLY_NOTE = 'Read only: changing agents, scenes and entries needs the admin token.';
