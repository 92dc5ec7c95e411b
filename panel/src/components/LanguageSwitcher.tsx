import { useTranslation } from 'react-i18next';
import { currentLanguage, LANGUAGES, setLanguage, type Language } from '../i18n';

/** English / 中文: the panel's language, kept in this browser. Each language is named in itself. */
export function LanguageSwitcher() {
  const { t } = useTranslation('app');
  return (
    <select className="language-switcher" aria-label={t('language')} value={currentLanguage()} onChange={(e) => setLanguage(e.target.value as Language)}>
      {LANGUAGES.map((l) => (
        <option key={l.code} value={l.code} lang={l.tag}>
          {l.name}
        </option>
      ))}
    </select>
  );
}
