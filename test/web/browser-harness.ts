// The shared setup of the browser tests: the real daemon with its admin API
// (test/api/client.ts), Debian's Chromium driven by playwright-core, headless
// with a fresh profile, a logged-in page, and screenshots into
// test-output/screenshots/. Each browser test file calls openBrowser() in its
// `before` and gets what it needs; the skip says why when Chromium or the
// built web UI is missing (a failure as root).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROOT, type Relay } from '../smtp/harness.ts';
import { startWithApi, type ApiClient, type Caller } from '../api/client.ts';
import { missingComponent } from '../support/requires.ts';

export const CHROMIUM = '/usr/bin/chromium';
const DIST = join(ROOT, 'web', 'dist', 'index.html');
export const SHOTS = join(ROOT, 'test-output', 'screenshots');

/** false, or why the browser tests cannot run here. */
export const browserSkip: string | false = !existsSync(CHROMIUM)
  ? missingComponent('chromium', `${CHROMIUM} is not installed (make test installs Debian's chromium when run as root)`)
  : !existsSync(DIST)
    ? missingComponent('web UI build', 'web/dist is not built (make test runs make web first)')
    : false;

export interface BrowserRig {
  relay: Relay;
  api: ApiClient;
  /** The first admin's password. */
  password: string;
  /** The first admin, logged in over the API. */
  me: Caller;
  /** https://127.0.0.1:PORT/ of the admin listener. */
  base: string;
  adminPort: number;
  context: BrowserContext;
  page: Page;
  shot(name: string): Promise<void>;
  /** An API call as the first admin that must answer `expect`; its JSON. */
  call(method: string, path: string, body?: unknown, expect?: number): Promise<any>;
  /** Logs the page in as the first admin and waits for the dashboard. */
  logIn(): Promise<void>;
  close(): Promise<void>;
}

/** Starts the daemon with `settings` (merged into the test defaults) and a browser on its admin listener. */
export async function openBrowser(settings: Record<string, unknown> = {}, viewport = { width: 1280, height: 800 }): Promise<BrowserRig> {
  const hooks: (() => void | Promise<void>)[] = [];
  const started = await startWithApi({ after: (fn) => void hooks.push(fn) }, settings);
  const { relay, api, password } = started;
  const me = await api.login('admin', password);
  const base = `https://127.0.0.1:${started.adminPort}/`;
  const profile = mkdtempSync(join(tmpdir(), 'mailwarden-chromium-'));
  mkdirSync(SHOTS, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    ignoreHTTPSErrors: true,
    viewport,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    relay,
    api,
    password,
    me,
    base,
    adminPort: started.adminPort,
    context,
    page,
    shot: async (name) => void (await page.screenshot({ path: join(SHOTS, `${name}.png`) })),
    async call(method, path, body, expect = 200) {
      const r = await api.call(method, path, { body, as: me });
      assert.equal(r.status, expect, `${method} ${path}: ${r.text}`);
      return r.json;
    },
    async logIn() {
      await page.goto(base);
      await page.getByLabel('Name').fill('admin');
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByTestId('whoami').waitFor();
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
      for (const fn of hooks.reverse()) await fn();
    },
  };
}
