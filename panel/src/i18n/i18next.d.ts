import type { en } from './resources.js';

// Keys passed to t() are checked against the English catalog at compile time.
declare module 'i18next' {
  interface CustomTypeOptions {
    defaultNS: 'common';
    resources: typeof en;
  }
}
