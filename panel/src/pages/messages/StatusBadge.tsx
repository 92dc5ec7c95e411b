import { useTranslation } from 'react-i18next';
import type { TFunction } from 'i18next';

const KNOWN = ['queued', 'leased', 'done', 'fallback', 'dead', 'pending', 'sent'] as const;

/** A message or reply status in the panel's language; an unknown one as it is. */
export function statusLabel(t: TFunction<'messages'>, status: string): string {
  return (KNOWN as readonly string[]).includes(status) ? t(`status.${status as (typeof KNOWN)[number]}`) : status;
}

/** A message or reply status as a coloured word (the word itself carries the meaning, not the colour). */
export function StatusBadge({ status }: { status: string }) {
  const { t } = useTranslation('messages');
  return <span className={`msg-badge msg-badge-${status}`}>{statusLabel(t, status)}</span>;
}
