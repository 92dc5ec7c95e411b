import i18n from 'i18next';
import LanguageDetector from 'i18next-browser-languagedetector';
import { initReactI18next } from 'react-i18next';
import { resources } from './resources';

/** The panel's languages, in the order the switcher lists them, each named in itself, with its BCP 47 tag. */
export const LANGUAGES = [
  { code: 'en', name: 'English', tag: 'en' },
  { code: 'zh', name: '中文', tag: 'zh-CN' },
] as const;
export type Language = (typeof LANGUAGES)[number]['code'];

/** Where a language chosen in the panel is kept, so the next visit opens in it. */
export const LANGUAGE_STORAGE_KEY = 'cococat.language';

void i18n
  .use(LanguageDetector)
  .use(initReactI18next)
  .init({
    resources,
    defaultNS: 'common',
    fallbackLng: 'en',
    supportedLngs: LANGUAGES.map((l) => l.code),
    // zh-CN, zh-TW and zh-Hans all open the Chinese panel; en-GB the English one.
    nonExplicitSupportedLngs: true,
    load: 'languageOnly',
    // React escapes what it renders; escaping here too would show "&lt;" in the page.
    interpolation: { escapeValue: false },
    detection: {
      order: ['localStorage', 'navigator'],
      lookupLocalStorage: LANGUAGE_STORAGE_KEY,
      // Only a choice made in the switcher is kept (setLanguage); a browser's language is read each visit.
      caches: [],
    },
    // Resources are bundled: ready before the first render.
    initAsync: false,
    returnNull: false,
  });

/** The language the panel shows, one of LANGUAGES (a browser's zh-CN is `zh`). */
export function currentLanguage(): Language {
  const lang = i18n.resolvedLanguage ?? i18n.language;
  return LANGUAGES.some((l) => l.code === lang) ? (lang as Language) : 'en';
}

/** Switches the panel's language and remembers the choice in this browser. */
export function setLanguage(lang: Language): void {
  try {
    localStorage.setItem(LANGUAGE_STORAGE_KEY, lang);
  } catch {
    // Storage refused (a private window's quota): the choice lasts for this visit.
  }
  void i18n.changeLanguage(lang);
}

/** The `lang` of the page follows the panel's language, for screen readers, fonts and line breaking. */
function markDocument(): void {
  document.documentElement.lang = locale();
}
markDocument();
i18n.on('languageChanged', markDocument);

export { i18n };

/** The BCP 47 tag of a language (the panel's by default): the page's `lang`, and the locale of its dates and numbers. */
export function locale(lang: Language = currentLanguage()): string {
  return LANGUAGES.find((l) => l.code === lang)!.tag;
}
