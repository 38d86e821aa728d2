import type { Page } from 'playwright-core';
import type { ProjectRole } from '../../server/db/schema';
import { createUser, setProjectRole } from '../../server/users/user-service';
import { signedInHeaders } from '../support/auth';
import { type SeededHistory, seedMetricsHistory } from '../support/metrics-history';
import type { TestApp } from '../support/test-server';
import { testPassword } from './dashboard-browser';

/** A JUnit report of the 1.11.0 build: one pass, one failure (a CI defect), one skip; requirements in tags. */
export const junitReport = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="checkout" tests="3" failures="1" skipped="1">
    <testcase classname="checkout.spec" name="pays with a card [REQ:SHOP-12]" time="0.5"/>
    <testcase classname="checkout.spec" name="applies a coupon [REQ:SHOP-13]" time="0.25">
      <failure message="expected 90 to be 81" type="AssertionError">AssertionError: expected 90 to be 81
    at checkout.spec.ts:12:5</failure>
    </testcase>
    <testcase classname="search.spec" name="finds by name" time="0.1"><skipped/></testcase>
  </testsuite>
</testsuites>`;

export interface QualityFixture {
  history: SeededHistory;
  projectId: string;
  emails: Record<ProjectRole, string>;
  /** Cookie + CSRF headers of a triager, for seeding through the real API. */
  triager: Record<string, string>;
  runId: string;
}

/**
 * The hand-built metrics history of test/support/metrics-history.ts (defects, releases, test
 * cases, runs and links through the services), plus, through the real HTTP API, a JUnit run of
 * 1.11.0, a manual test case with steps and a requirement, and registered requirements.
 */
export async function seedQualityProject(app: TestApp, keyPrefix: string): Promise<QualityFixture> {
  const { db } = app.database;
  const history = await seedMetricsHistory(db, keyPrefix);
  const projectId = history.projectId;
  const emails = {} as Record<ProjectRole, string>;
  for (const role of ['admin', 'triager', 'viewer'] as const) {
    emails[role] = `${role}-${keyPrefix.toLowerCase()}@example.com`;
    const user = await createUser(db, { email: emails[role], password: testPassword });
    await setProjectRole(db, projectId, user.id, role);
  }
  const triager = (await signedInHeaders(db, { projectId, role: 'triager' })).headers;
  const base = `/api/v1/projects/${projectId}`;
  const send = async (method: string, path: string, body: string, type: string) => {
    const response = await app.request(`${base}${path}`, { method, headers: { ...triager, 'content-type': type }, body });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response.json();
  };
  const run = await send('POST', '/test-runs?release=1.11.0&build=1.11.0%2B7&commit=0a1b2c3d4e5f&environment=staging', junitReport, 'application/xml');
  await send(
    'POST',
    '/test-cases',
    JSON.stringify({
      title: 'Guest checkout with a saved address',
      suite: 'Checkout',
      component: 'checkout',
      priority: 'high',
      tags: ['smoke'],
      steps: [
        { action: 'Add a product to the cart', expected: 'The cart shows 1 item' },
        { action: 'Check out as a guest', expected: 'The address form is pre-filled' },
      ],
      expectedResult: 'The order is placed',
      requirements: ['SHOP-12'],
    }),
    'application/json',
  );
  await send(
    'PUT',
    '/requirements',
    JSON.stringify({ requirements: [{ key: 'SHOP-12', title: 'Pay by card' }, { key: 'SHOP-13', title: 'Coupons' }, { key: 'SHOP-14', title: 'Gift wrapping' }] }),
    'application/json',
  );
  return { history, projectId, emails, triager, runId: run.runId };
}

/** Signs in through the form as `email` and waits for the inbox. */
export async function signInAs(page: Page, app: TestApp, email: string): Promise<void> {
  await page.goto(`${app.url}/`);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', testPassword);
  await page.click('button[type=submit]');
  await page.waitForSelector('h1:text("Inbox")');
}

/** Calls the API from inside the page (its session cookie), as the dashboard does. */
export function apiFromPage<T>(page: Page, path: string): Promise<T> {
  return page.evaluate(async (url) => {
    const response = await fetch(url, { headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    return response.json();
  }, `/api/v1${path}`) as Promise<T>;
}

/** The text of an API answer fetched from inside the page (CSV exports). */
export function textFromPage(page: Page, path: string): Promise<string> {
  return page.evaluate(async (url) => (await fetch(url)).text(), `/api/v1${path}`);
}

/** Values drawn by a chart for one series (`data-value` of its bars or points), in label order. */
export async function chartSeries(page: Page, chartId: string, series: string): Promise<{ label: string; value: string }[]> {
  return page.$$eval(`#${chartId} [data-series="${series}"]`, (nodes) => nodes.map((node) => ({ label: node.getAttribute('data-label') ?? '', value: node.getAttribute('data-value') ?? '' })));
}

/** The cells of a table's body rows, as text. */
export function tableRows(page: Page, selector: string): Promise<string[][]> {
  return page.$$eval(`${selector} tbody tr`, (rows) => rows.map((row) => [...row.querySelectorAll('td')].map((cell) => (cell.textContent ?? '').trim())));
}

/** Waits for the inbox to settle and returns the keys of its rows. */
export async function inboxKeys(page: Page): Promise<string[]> {
  await page.waitForSelector('h1:text("Inbox")');
  await page.waitForFunction(() => !document.querySelector('.state-loading') && (document.querySelector('.inbox-row') || document.querySelector('.state-empty')));
  return page.$$eval('.inbox-row .key', (cells) => cells.map((cell) => cell.textContent ?? ''));
}

/**
 * Clicks a chart point. Bars are SVG lines whose box is zero pixels wide, which Playwright treats
 * as invisible, so the click event is dispatched on the element itself.
 */
export async function clickChart(page: Page, selector: string): Promise<void> {
  await page.locator(selector).dispatchEvent('click');
}
