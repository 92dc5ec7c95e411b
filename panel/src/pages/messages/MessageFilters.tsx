import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { statusLabel } from './StatusBadge';
import { INBOUND_STATUSES, type EntryInfo } from './types';

export interface FilterValues {
  entry: string;
  userId: string;
  status: string;
  /** Words the message contains. */
  text: string;
}

/** Entry, user id, status and text filters. Selects apply at once; the typed ones on Enter or "Apply". */
export function MessageFilters(props: FilterValues & { entries?: EntryInfo[]; onApply: (f: FilterValues) => void }) {
  const { t } = useTranslation('messages');
  const { entries, entry, status, onApply } = props;
  const [userId, setUserId] = useState(props.userId);
  const [text, setText] = useState(props.text);
  useEffect(() => setUserId(props.userId), [props.userId]);
  useEffect(() => setText(props.text), [props.text]);
  const apply = (change: Partial<FilterValues>) => onApply({ entry, userId: userId.trim(), status, text: text.trim(), ...change });
  return (
    <form
      className="msg-filters"
      aria-label={t('filters.label')}
      onSubmit={(e) => {
        e.preventDefault();
        apply({});
      }}
    >
      <label className="msg-field">
        <span>{t('filters.entry')}</span>
        <EntrySelect entries={entries} value={entry} onChange={(v) => apply({ entry: v })} />
      </label>
      <label className="msg-field">
        <span>{t('filters.userId')}</span>
        <input value={userId} onChange={(e) => setUserId(e.target.value)} placeholder={t('filters.anyUser')} autoComplete="off" spellCheck={false} maxLength={128} />
      </label>
      <label className="msg-field">
        <span>{t('filters.text')}</span>
        <input type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder={t('filters.textPlaceholder')} autoComplete="off" maxLength={200} />
      </label>
      <label className="msg-field">
        <span>{t('filters.status')}</span>
        <select value={status} onChange={(e) => apply({ status: e.target.value })}>
          <option value="">{t('filters.anyStatus')}</option>
          {INBOUND_STATUSES.map((s) => (
            <option key={s} value={s}>
              {statusLabel(t, s)}
            </option>
          ))}
        </select>
      </label>
      <div className="msg-filter-actions">
        <button type="submit" className="btn btn-secondary">
          {t('filters.apply')}
        </button>
        <button type="button" className="btn btn-secondary" onClick={() => onApply({ entry: '', userId: '', status: '', text: '' })} disabled={!entry && !props.userId && !status && !props.text}>
          {t('filters.clear')}
        </button>
        <a className="btn btn-secondary" href={exportHref({ entry, userId: props.userId, status, text: props.text })} download="cococat-messages.jsonl" title={t('filters.exportTitle')}>
          {t('filters.export')}
        </a>
      </div>
    </form>
  );
}

/** Every entry by key; an entry named in the URL but gone from the workspace stays selectable. */
export function EntrySelect({ entries, value, onChange }: { entries?: EntryInfo[]; value: string; onChange: (key: string) => void }) {
  const { t } = useTranslation('messages');
  return (
    <select value={value} onChange={(e) => onChange(e.target.value)}>
      <option value="">{t('filters.allEntries')}</option>
      {entries?.map((e) => (
        <option key={e.key} value={e.key}>
          {e.key}
        </option>
      ))}
      {value && entries && !entries.some((e) => e.key === value) && <option value={value}>{value}</option>}
    </select>
  );
}

/** The message log export (JSON Lines) for the applied filters; the session cookie authorizes it. */
export function exportHref(f: FilterValues): string {
  const query = new URLSearchParams();
  if (f.entry) query.set('entry', f.entry);
  if (f.userId) query.set('userId', f.userId);
  if (f.status) query.set('status', f.status);
  if (f.text) query.set('text', f.text);
  const q = query.toString();
  return `/api/admin/messages/export${q ? `?${q}` : ''}`;
}
