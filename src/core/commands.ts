/** Whether `message` is one of `commands`: the whole text, ignoring case and surrounding spaces; text messages only. */
import type { ChatMessage } from './message.js';

export function isCommand(commands: readonly string[], message: Pick<ChatMessage, 'content' | 'msgType'>): boolean {
  if (message.msgType !== 'text' || commands.length === 0) return false;
  const text = message.content.trim().toLowerCase();
  return commands.some((command) => command.toLowerCase() === text);
}
