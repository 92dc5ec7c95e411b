import { i18n } from '../../i18n';

/**
 * Timeline stages the store records (src/store/sqlite: getMessage, recordEvent and the outbox
 * operations), with words for people (messages:stages). Unknown stages show as they are.
 */
const STAGES = {
  received: 'info',
  claimed: 'info',
  waiting: 'info',
  retry: 'warn',
  agent_error: 'bad',
  media_error: 'warn',
  quote_error: 'warn',
  replied: 'ok',
  fallback: 'warn',
  dead: 'bad',
  revived: 'info',
  operator_reply: 'info',
  agent_later_reply: 'info',
  sent: 'ok',
  send_retry: 'warn',
  send_dead: 'bad',
  send_revived: 'info',
} as const satisfies Record<string, 'ok' | 'warn' | 'bad' | 'info'>;

export function stageInfo(stage: string): { label: string; tone: 'ok' | 'warn' | 'bad' | 'info' } {
  if (!Object.hasOwn(STAGES, stage)) return { label: stage, tone: 'info' };
  const known = stage as keyof typeof STAGES;
  return { label: i18n.t(`messages:stages.${known}`), tone: STAGES[known] };
}
