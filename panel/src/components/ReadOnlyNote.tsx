import { useTranslation } from 'react-i18next';

/** Shown where an operator would have found the admin's controls. */
export function ReadOnlyNote() {
  const { t } = useTranslation();
  return <p className="muted read-only-note">{t('readOnlyNote')}</p>;
}
