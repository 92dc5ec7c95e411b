/**
 * The shape a translation must have: the same keys as the English catalog, nested alike, every leaf
 * a string. `satisfies Catalog<typeof en>` makes a missing or extra key a type error, so the
 * languages cannot drift apart; test/panel/i18n-catalogs.test.ts checks the placeholders.
 */
export type Catalog<T> = { [K in keyof T]: T[K] extends string ? string : Catalog<T[K]> };
