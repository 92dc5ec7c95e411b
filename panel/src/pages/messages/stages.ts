/**
 * Timeline stages the store records (src/store/sqlite: getMessage, recordEvent and the outbox
 * operations), with words for people. Unknown stages show as they are.
 */
const STAGES: Record<string, { label: string; tone: 'ok' | 'warn' | 'bad' | 'info' }> = {
  received: { label: 'Received', tone: 'info' },
  claimed: { label: 'Picked up for the agent', tone: 'info' },
  waiting: { label: 'Waiting for the user to pause', tone: 'info' },
  retry: { label: 'Failed, queued again', tone: 'warn' },
  agent_error: { label: 'Agent error', tone: 'bad' },
  media_error: { label: 'Image not passed to the agent', tone: 'warn' },
  quote_error: { label: 'Quoted message not passed to the agent', tone: 'warn' },
  replied: { label: 'Agent replied', tone: 'ok' },
  fallback: { label: 'Fallback reply used', tone: 'warn' },
  dead: { label: 'Dead-lettered', tone: 'bad' },
  revived: { label: 'Retried from dead letters', tone: 'info' },
  operator_reply: { label: 'Reply sent by hand', tone: 'info' },
  agent_later_reply: { label: 'Later reply from the agent', tone: 'info' },
  sent: { label: 'Sent', tone: 'ok' },
  send_retry: { label: 'Send failed, will retry', tone: 'warn' },
  send_dead: { label: 'Reply dead-lettered', tone: 'bad' },
  send_revived: { label: 'Reply retried from dead letters', tone: 'info' },
};

export function stageInfo(stage: string): { label: string; tone: 'ok' | 'warn' | 'bad' | 'info' } {
  return STAGES[stage] ?? { label: stage, tone: 'info' };
}
