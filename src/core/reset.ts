/**
 * A user's reset (`reset` in an agent's profile): a message that is one of its commands, say
 * `/reset`, makes the agent forget the conversation so far. The history is what the agent is given
 * of earlier turns; clearing it is the whole of a reset.
 */
import type { Reset } from '../config/schema.js';
import { isCommand } from './commands.js';
import type { ChatMessage } from './message.js';

/** Whether `message` is one of the profile's reset commands (see `isCommand`). */
export function isResetCommand(reset: Reset | undefined, message: Pick<ChatMessage, 'content' | 'msgType'>): boolean {
  return reset !== undefined && isCommand(reset.commands, message);
}
