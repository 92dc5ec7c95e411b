import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page, type Response } from 'playwright-core';

/** Debian's Chromium (`.ci/run` installs it); COCOCAT_CHROMIUM points elsewhere. */
export const CHROMIUM = process.env.COCOCAT_CHROMIUM ?? '/usr/bin/chromium';

/** Where the panel tests save screenshots for people to look at (git-ignored). */
export const SCREENSHOT_DIR = join(import.meta.dirname, '..', '..', 'test-output', 'screenshots');

export function chromiumMissing(): boolean {
  return !existsSync(CHROMIUM);
}

/**
 * Headless Chromium with no background traffic: this machine has no internet, and the panel must
 * not need any third-party host anyway (the tests assert every request stays on the gateway).
 */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

/** Every response a page received, with its body text when it is JSON or SSE, for leak checks. */
export interface Recorded {
  url: string;
  status: number;
  body: string;
}

export function recordResponses(page: Page): Recorded[] {
  const seen: Recorded[] = [];
  page.on('response', async (res: Response) => {
    const type = res.headers()['content-type'] ?? '';
    let body = '';
    if (type.includes('json') || type.includes('text/html') || type.includes('javascript')) body = await res.text().catch(() => '');
    seen.push({ url: res.url(), status: res.status(), body });
  });
  return seen;
}

/** Logs the page in through the panel's login page with the admin token, as an operator does; resolves once the main navigation shows. */
export async function logIn(page: Page, base: string, adminToken: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('Admin token').fill(adminToken);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
