import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCaseDetailResponse, TestCaseListResponse, TestRun, TestRunDetailResponse, TraceabilityResponse } from '../../shared/quality-api';
import { startTestApp, type TestApp } from '../support/test-server';
import { browserAvailability, launchChromium, saveScreenshot } from './dashboard-browser';
import { type QualityFixture, apiFromPage, seedQualityProject, signInAs, tableRows, textFromPage } from './quality-fixtures';

const availability = browserAvailability();

/** A TestRail export: ID, Title, Section, Priority, steps and expected results, References. */
const testRailCsv = [
  'ID,Title,Section,Priority,Type,Steps (Step),Steps (Expected Result),References',
  'C101,Refund a paid order,Orders,High,Automated,Open the order,The refund button is shown,SHOP-20',
  'C102,"Cancel an order, then reorder",Orders,Medium,Manual,Cancel the order,The order is cancelled,"SHOP-20, SHOP-21"',
].join('\r\n');

describe.skipIf(!availability.run)('dashboard: test cases, runs and traceability in Chromium', () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  let fixture: QualityFixture;
  let base: string;

  beforeAll(async () => {
    app = await startTestApp();
    fixture = await seedQualityProject(app, 'TST');
    base = `${app.url}/p/${fixture.projectId}`;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 900 }, acceptDownloads: true });
    await signInAs(page, app, fixture.emails.triager);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  /**
   * The first cell of each row, polled until it equals what is expected: after a filter changes
   * the URL, the old rows stay on screen until the new answer arrives, and the loading state may
   * not have appeared yet when the URL has changed, so waiting for it alone can read the old rows.
   */
  const expectRowKeys = (expected: string[]) =>
    expect.poll(async () => (await tableRows(page, '.test-cases-table')).map((row) => row[0]), { timeout: 10_000 }).toEqual(expected);

  it('lists the catalog as the API does and narrows it with filters kept in the URL', async () => {
    await page.goto(`${base}/test-cases`);
    await page.waitForSelector('.test-case-row');
    const all = await apiFromPage<TestCaseListResponse>(page, `/projects/${fixture.projectId}/test-cases?limit=50`);
    expect((await tableRows(page, '.test-cases-table')).map((row) => row[0])).toEqual(all.items.map((testCase) => testCase.key));
    await page.selectOption('select[aria-label=Component]', 'cart');
    await page.waitForURL((url) => url.searchParams.get('component') === 'cart');
    const cart = await apiFromPage<TestCaseListResponse>(page, `/projects/${fixture.projectId}/test-cases?component=cart`);
    await expectRowKeys(cart.items.map((testCase) => testCase.key));
    expect(cart.items.map((testCase) => testCase.key).sort()).toEqual(['CART-1', 'CART-2']);
    await page.selectOption('select[aria-label=Priority]', 'urgent');
    await page.waitForURL((url) => url.searchParams.get('priority') === 'urgent');
    await expectRowKeys(['CART-2']);
    await page.goto(`${base}/test-cases?archived=only`);
    await page.waitForSelector('.test-case-row');
    expect((await tableRows(page, '.test-cases-table')).map((row) => row[0])).toEqual(['SRCH-1']);
    await page.goto(`${base}/test-cases?q=nothing-matches-this`);
    await page.waitForSelector('.state-empty');
    expect(await page.locator('.state-empty strong').textContent()).toBe('No test case matches these filters');
    await page.goto(`${base}/test-cases`);
    await page.waitForSelector('.test-case-row');
    await saveScreenshot(page, 'dashboard-test-cases');
  });

  it('creates a test case with steps through the form, then edits it, and the history shows the change', async () => {
    await page.goto(`${base}/test-cases`);
    await page.click('a:text("New test case")');
    await page.waitForSelector('h1:text("New test case")');
    await page.fill('input[name=title]', 'Pay with a voucher');
    await page.fill('input[name=component]', 'checkout');
    await page.fill('input[name=priority]', 'high');
    await page.fill('input[name=tags]', 'smoke, vouchers');
    await page.fill('input[name=requirements]', 'SHOP-13');
    await page.fill('[aria-label="Step 1 action"]', 'Enter the voucher code');
    await page.fill('[aria-label="Step 1 expected"]', 'The total drops by 10%');
    await page.click('button:text("Add step")');
    await page.fill('[aria-label="Step 2 action"]', 'Pay');
    // Adding a step re-renders the form: what was typed stays.
    expect(await page.locator('input[name=title]').inputValue()).toBe('Pay with a voucher');
    await page.click('button:text("Create test case")');
    await page.waitForSelector('.test-case-page h1:text("Pay with a voucher")');
    const caseId = new URL(page.url()).pathname.split('/').at(-1)!;
    const stored = await apiFromPage<TestCaseDetailResponse>(page, `/projects/${fixture.projectId}/test-cases/${caseId}`);
    expect(stored).toMatchObject({ component: 'checkout', priority: 'high', tags: ['smoke', 'vouchers'], requirements: ['SHOP-13'], kind: 'manual' });
    expect(stored.steps).toEqual([{ action: 'Enter the voucher code', expected: 'The total drops by 10%' }, { action: 'Pay', expected: null }]);
    expect(await tableRows(page, '.steps-table')).toEqual([['1', 'Enter the voucher code', 'The total drops by 10%'], ['2', 'Pay', '']]);

    await page.click('button:text("Edit")');
    await page.fill('input[name=priority]', 'urgent');
    await page.click('button:text("Save changes")');
    await page.waitForSelector('.notice:text("Saved")');
    await page.waitForSelector('.revisions > li:has-text("priority")');
    expect(await page.locator('.revisions > li:has-text("priority")').textContent()).toContain('high → urgent');
  });

  it('shows a test case’s latest result per release, linked defects and requirements, and archives it', async () => {
    page.once('dialog', (dialog) => void dialog.accept());
    const list = await apiFromPage<TestCaseListResponse>(page, `/projects/${fixture.projectId}/test-cases?q=CART-2`);
    const cart2 = list.items[0];
    await page.goto(`${base}/test-cases/${cart2.id}`);
    await page.waitForSelector('.latest-by-release');
    const detail = await apiFromPage<TestCaseDetailResponse>(page, `/projects/${fixture.projectId}/test-cases/${cart2.id}`);
    const rows = await tableRows(page, '.latest-by-release');
    expect(rows.map((row) => [row[0], row[1], row[2]])).toEqual(detail.latestByRelease.map((result) => [result.release, result.status, result.build ?? 'run']));
    // CART-2 failed on both 1.10.0 builds; the latest is 1.10.0+2.
    expect(rows[0].slice(0, 3)).toEqual(['1.10.0', 'failed', '1.10.0+2']);
    await saveScreenshot(page, 'dashboard-test-case');

    const cart1 = (await apiFromPage<TestCaseListResponse>(page, `/projects/${fixture.projectId}/test-cases?q=CART-1`)).items[0];
    // The shape ticket content links to: /p/:projectId/test-cases/:testCaseId.
    await page.goto(`${base}/test-cases/${cart1.id}`);
    await page.waitForSelector('.linked-defects');
    expect((await tableRows(page, '.linked-defects'))[0][1]).toContain(fixture.history.defects.d1.key);
    await page.click('button:text("Archive")');
    await page.waitForSelector('.page-head .tag:has-text("archived")');
    const archived = await apiFromPage<TestCaseDetailResponse>(page, `/projects/${fixture.projectId}/test-cases/${cart1.id}`);
    expect(archived.archivedAt).not.toBeNull();
    await page.click('button:text("Restore")');
    await page.waitForFunction(() => !document.querySelector('.page-head .tag'));
  });

  it('answers an unknown test case with a not-found page, not a crash', async () => {
    await page.goto(`${base}/test-cases/NOPE-999`);
    await page.waitForSelector('.state-empty');
    expect(await page.locator('.state-empty strong').textContent()).toBe('Test case not found');
  });

  it('imports a TestRail CSV: previews the detected columns and cases, takes a changed mapping, then imports', async () => {
    await page.goto(`${base}/test-cases`);
    await page.click('a:text("Import CSV")');
    await page.waitForSelector('h1:text("Import test cases from CSV")');
    await page.setInputFiles('input[name=csv]', { name: 'testrail.csv', mimeType: 'text/csv', buffer: Buffer.from(testRailCsv) });
    await page.click('button:text("Preview")');
    await page.waitForSelector('.csv-preview');
    expect(await page.locator('.csv-import h2').textContent()).toContain('2 test case(s) · read as testrail');
    expect(await page.locator('select[name="map.suite"] option').first().textContent()).toBe('Detected: Section');
    expect((await tableRows(page, '.csv-preview')).map((row) => row.slice(0, 4))).toEqual([
      ['C101', 'Refund a paid order', 'Orders', 'High'],
      ['C102', 'Cancel an order, then reorder', 'Orders', 'Medium'],
    ]);
    // Map the suite to another column: the preview follows.
    await page.selectOption('select[name="map.suite"]', 'Type');
    await page.click('button:text("Preview again")');
    await page.waitForFunction(() => document.querySelector('.csv-preview tbody tr td:nth-child(3)')?.textContent === 'Automated');
    await saveScreenshot(page, 'dashboard-test-case-import');
    await page.selectOption('select[name="map.suite"]', '');
    await page.click('button:text("Preview again")');
    await page.waitForFunction(() => document.querySelector('.csv-preview tbody tr td:nth-child(3)')?.textContent === 'Orders');
    await page.click('button:text("Import 2 test case(s)")');
    await page.waitForSelector('.import-result');
    expect(await page.locator('.import-result').textContent()).toContain('2 created, 0 updated, 0 unchanged');
    const imported = await apiFromPage<TestCaseListResponse>(page, `/projects/${fixture.projectId}/test-cases?suite=Orders`);
    expect(imported.items.map((testCase) => [testCase.key, testCase.requirements])).toEqual([
      ['C101', ['SHOP-20']],
      ['C102', ['SHOP-20', 'SHOP-21']],
    ]);
  });

  it('shows a CSV the server refuses with its message', async () => {
    await page.goto(`${base}/test-cases/import`);
    await page.setInputFiles('input[name=csv]', { name: 'bad.csv', mimeType: 'text/csv', buffer: Buffer.from('Title,Priority\n"never closed,High\n') });
    await page.click('button:text("Preview")');
    await page.waitForSelector('.notice-error');
    expect(await page.locator('.notice-error').textContent()).toContain('quoted field');
  });

  it('lists test runs with their counts and opens a run’s failed results with messages', async () => {
    await page.goto(`${base}/test-runs`);
    await page.waitForSelector('.test-run-row');
    const runs = await apiFromPage<{ items: TestRun[] }>(page, `/projects/${fixture.projectId}/test-runs`);
    const rows = await tableRows(page, '.test-runs-table');
    expect(rows.map((row) => [row[1], row[2], ...row.slice(5)])).toEqual(
      runs.items.map((run) => [run.release ?? '—', run.build ?? '—', String(run.total), String(run.passed), String(run.failed), String(run.skipped), String(run.flaky)]),
    );
    await saveScreenshot(page, 'dashboard-test-runs');
    await page.click(`.test-run-row:has-text("1.11.0+7") td:first-child a`);
    await page.waitForSelector('.run-result-row');
    const detail = await apiFromPage<TestRunDetailResponse>(page, `/projects/${fixture.projectId}/test-runs/${fixture.runId}?status=failed,error&flaky=true`);
    const results = await tableRows(page, '.run-results');
    expect(results.map((row) => row[0])).toEqual(detail.results.map((result) => result.status));
    expect(results).toHaveLength(1);
    expect(results[0][4]).toContain('expected 90 to be 81');
    expect(await page.locator('.run-counts [data-figure="Failed"] .figure-value').textContent()).toBe('1');
    await saveScreenshot(page, 'dashboard-test-run');
    await page.selectOption('select[aria-label="Results shown"]', 'all');
    await page.waitForURL((url) => url.searchParams.get('show') === 'all');
    await page.waitForFunction(() => document.querySelectorAll('.run-result-row').length === 3);
  });

  it('traces requirements on a release, uncovered and failing first, and exports the same as CSV', async () => {
    await page.goto(`${base}/traceability?release=1.11.0`);
    await page.waitForSelector('.trace-row');
    const view = await apiFromPage<TraceabilityResponse>(page, `/projects/${fixture.projectId}/traceability?release=1.11.0`);
    const shown = await page.$$eval('.trace-row', (rows) => rows.map((row) => [row.getAttribute('data-requirement'), row.querySelector('.trace-status')?.textContent]));
    const labels = { no_tests: 'No tests', failing: 'Failing', not_run: 'Not run', passing: 'Passing' };
    expect(shown).toEqual(view.requirements.map((row) => [row.requirement, labels[row.status]]));
    // SHOP-14 has no test, SHOP-13's test failed on 1.11.0, SHOP-12's passed there.
    expect(view.requirements.find((row) => row.requirement === 'SHOP-14')?.status).toBe('no_tests');
    expect(view.requirements.find((row) => row.requirement === 'SHOP-13')?.status).toBe('failing');
    expect(shown[0][1]).toBe('No tests');
    const failing = page.locator('.trace-row[data-requirement="SHOP-13"]');
    expect(await failing.locator('.result-failed').count()).toBeGreaterThan(0);
    // The CI defect the failing run opened is linked to the failing test.
    expect(await failing.locator('.tag:text("ci")').count()).toBe(1);
    await saveScreenshot(page, 'dashboard-traceability');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('a:text("Export CSV")')]);
    expect(download.suggestedFilename()).toBe('traceability-1.11.0.csv');
    expect(readFileSync((await download.path())!, 'utf8')).toBe(await textFromPage(page, `/projects/${fixture.projectId}/traceability?release=1.11.0&format=csv`));
  });

  describe('as a viewer', () => {
    let viewer: Page;
    beforeAll(async () => {
      viewer = await browser.newPage({ viewport: { width: 1360, height: 900 } });
      await signInAs(viewer, app, fixture.emails.viewer);
    });

    it('sees the catalog, cases, runs and traceability without any control that changes something', async () => {
      await viewer.goto(`${base}/test-cases`);
      await viewer.waitForSelector('.test-case-row');
      expect(await viewer.locator('a:text("New test case"), a:text("Import CSV")').count()).toBe(0);
      await viewer.click('.test-case-row a >> nth=0');
      await viewer.waitForSelector('.test-case-page .facts');
      expect(await viewer.locator('button:text("Edit"), button:text("Archive"), button:text("Restore")').count()).toBe(0);
      await viewer.goto(`${base}/test-cases/new`);
      await viewer.waitForSelector('.state-empty');
      expect(await viewer.locator('form').count()).toBe(0);
      await viewer.goto(`${base}/test-cases/import`);
      await viewer.waitForSelector('.state-empty');
      expect(await viewer.locator('input[type=file]').count()).toBe(0);
      await viewer.goto(`${base}/traceability`);
      await viewer.waitForSelector('.trace-row');
      await viewer.goto(`${base}/metrics`);
      await viewer.waitForSelector('#chart-leakage [data-series="Escaped"]', { state: 'attached' });
      expect(await viewer.locator('main button:not([type=button]), main input[type=file]').count()).toBe(0);
    });

    it('gets 403 from every test-management mutation', async () => {
      const results = await viewer.evaluate(async (projectId) => {
        const me = await (await fetch('/api/v1/me')).json();
        const base = `/api/v1/projects/${projectId}`;
        const list = await (await fetch(`${base}/test-cases?limit=1`)).json();
        const caseId = list.items[0].id;
        const attempts: [string, string, string, string][] = [
          ['POST', `${base}/test-cases`, 'application/json', JSON.stringify({ title: 'sneaky' })],
          ['PATCH', `${base}/test-cases/${caseId}`, 'application/json', JSON.stringify({ title: 'renamed' })],
          ['POST', `${base}/test-cases/${caseId}/archive`, 'application/json', '{}'],
          ['POST', `${base}/test-cases/import?dryRun=true`, 'text/csv', 'Title\nx\n'],
          ['PUT', `${base}/requirements`, 'application/json', JSON.stringify({ requirements: [] })],
        ];
        const statuses = [];
        for (const [method, url, type, body] of attempts) {
          const response = await fetch(url, { method, headers: { 'content-type': type, 'x-csrf-token': me.csrfToken }, body });
          statuses.push([method, url.replace(base, ''), response.status]);
        }
        return statuses;
      }, fixture.projectId);
      for (const [method, path, status] of results) expect({ method, path, status }).toEqual({ method, path, status: 403 });
    });
  });
});
