import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox } from '../../server/integrations/secret-box';
import { createTestCase } from '../../server/test-management/test-case-service';
import { importTestRun } from '../../server/test-management/test-run-import';
import { richEnrichment, richPayload, seedDefect } from '../api/defect-fixtures';
import { createFakeJira } from '../contract/fakes/fake-jira';
import { createFakeSlack } from '../contract/fakes/fake-slack';
import { addDestination, testSecretKey } from '../support/integrations';
import { makePng } from '../support/images';
import { startTestApp, type TestApp } from '../support/test-server';
import { browserAvailability, launchChromium, projectWithUser, saveScreenshot, signIn } from './dashboard-browser';

const availability = browserAvailability();
const jiraCredentials = { email: 'bot@acme.example', apiToken: 'ATATT-browser-test-token', projectKey: 'WEB' };
const slackToken = 'xoxb-browser-test-token';

/**
 * An admin sets up destinations and routing rules in Settings → Integrations, sends a defect to
 * Jira and Slack from its page (through the outbox, delivered by the real worker and the real
 * SDKs to the fake vendor servers), sees a failed delivery with its pre-filled "create issue"
 * link, retries it from the dead-letter list, and links test cases from the suggestions.
 */
describe.skipIf(!availability.run)('dashboard: integrations and linked tests in Chromium', () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  let projectId: string;
  let defect: Awaited<ReturnType<typeof seedDefect>>['defect'];
  const jira = createFakeJira(jiraCredentials);
  const slack = createFakeSlack({ botToken: slackToken });
  const pageErrors: string[] = [];

  const destinationRow = (name: string) => app.database.db.selectFrom('destinations').selectAll().where('projectId', '=', projectId).where('name', '=', name).executeTakeFirstOrThrow();
  const settings = async (tab: string) => {
    await page.goto(`${app.url}/p/${projectId}/settings?tab=${tab}`);
    await page.waitForSelector('.tabs a.active');
  };
  const defectPage = async () => {
    await page.goto(`${app.url}/p/${projectId}/defects/${defect.key}`);
    await page.waitForSelector('#tickets .ticket, #tickets p.muted');
  };

  beforeAll(async () => {
    await Promise.all([jira.server.start(), slack.server.start()]);
    app = await startTestApp({ SECRET_KEY: testSecretKey });
    const setup = await projectWithUser(app, 'admin', 'INT');
    projectId = setup.project.id;
    defect = (
      await seedDefect(app.database.db, projectId, {
        title: 'Checkout pay button does nothing',
        component: 'Checkout',
        severity: 'blocker',
        release: '2.4.1',
        reports: [{ description: 'I click pay and nothing happens', payload: richPayload(), enrichment: richEnrichment(), screenshot: makePng(400, 300) }],
      })
    ).defect;
    await createTestCase(app.database.db, projectId, { title: 'Checkout pays with a saved card', component: 'Checkout', kind: 'automated' }, null);
    await createTestCase(app.database.db, projectId, { title: 'Avatar upload keeps colours', component: 'Profile' }, null);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('dialog', (dialog) => void dialog.accept());
    await signIn(page, app, setup.email);
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await Promise.all([jira.server.close(), slack.server.close()]);
  });

  it('starts with empty states that say what to do next', async () => {
    await defectPage();
    expect(await page.locator('#tickets').textContent()).toContain('No trackers or channels are set up');
    expect(await page.locator('#tests .coverage-gap').textContent()).toContain('Coverage gap');
    await settings('integrations');
    await page.waitForSelector('#destinations .state-empty');
    expect(await page.locator('#destinations').textContent()).toContain('No destinations yet');
    expect(await page.locator('#dead-letters').textContent()).toContain('Nothing failed');
  });

  it('adds a Jira destination through the form; its secret is stored encrypted and never shown again', async () => {
    await page.click('#destinations button:text-is("Jira")');
    const form = page.locator('form[aria-label="Jira destination"]');
    await form.locator('input[name=name]').fill('Jira WEB');
    await form.locator('input[name="config.baseUrl"]').fill(jira.server.url);
    await form.locator('input[name="config.projectKey"]').fill('WEB');
    await form.locator('input[name="config.email"]').fill(jiraCredentials.email);
    await form.locator('input[name="config.priorityMap.blocker"]').fill('Highest');
    await form.locator('input[name="config.labels"]').fill('from-users, bugloop');
    await form.locator('input[name="secrets.apiToken"]').fill(jiraCredentials.apiToken);
    await form.locator('button[type=submit]').click();
    await page.waitForSelector('.destination:has-text("Jira WEB") >> text=ready');
    const row = await destinationRow('Jira WEB');
    expect(row.config).toMatchObject({ baseUrl: jira.server.url, projectKey: 'WEB', email: jiraCredentials.email, priorityMap: { blocker: 'Highest' }, labels: ['from-users', 'bugloop'] });
    expect(row.encryptedSecrets).not.toContain(jiraCredentials.apiToken);
    expect(new SecretBox(testSecretKey).open(row.encryptedSecrets!, row.id)).toEqual({ apiToken: jiraCredentials.apiToken });

    await page.click('.destination:has-text("Jira WEB") button:text("Edit")');
    const edit = page.locator('form[aria-label="Jira destination"]');
    expect(await edit.locator('input[name="secrets.apiToken"]').inputValue()).toBe('');
    expect(await edit.locator('input[name="secrets.apiToken"]').getAttribute('placeholder')).toBe('set; type to replace');
    expect(await edit.locator('label:has(input[name="secrets.apiToken"])').textContent()).toContain('· set');
    expect(await page.content()).not.toContain(jiraCredentials.apiToken);
    // Editing without typing the secret keeps it.
    await edit.locator('input[name="config.issueType"]').fill('Task');
    await edit.locator('button[type=submit]').click();
    await page.waitForSelector('text=Saved Jira WEB');
    const edited = await destinationRow('Jira WEB');
    expect(edited.config).toMatchObject({ issueType: 'Task' });
    expect(new SecretBox(testSecretKey).open(edited.encryptedSecrets!, edited.id)).toEqual({ apiToken: jiraCredentials.apiToken });
  });

  it('shows the server\u2019s 400 naming the wrong field, and saves nothing', async () => {
    await page.click('#destinations button:text-is("Slack")');
    const form = page.locator('form[aria-label="Slack destination"]');
    await form.locator('input[name=name]').fill('Slack bugs');
    await form.locator('input[name="config.channel"]').fill('not a channel');
    await form.locator('button[type=submit]').click();
    await expect.poll(() => form.locator('.form-error').textContent()).toContain('config.channel');
    expect(await app.database.db.selectFrom('destinations').select('id').where('name', '=', 'Slack bugs').execute()).toEqual([]);
    await form.locator('input[name="config.channel"]').fill('C0123BUGS');
    await form.locator('input[name="config.apiUrl"]').fill(`${slack.server.url}/api/`);
    await form.locator('input[name="secrets.botToken"]').fill(slackToken);
    await form.locator('button[type=submit]').click();
    await page.waitForSelector('.destination:has-text("Slack bugs") >> text=ready');
  });

  it('disables and enables a destination', async () => {
    await page.click('.destination:has-text("Slack bugs") button:text-is("Disable")');
    await page.waitForSelector('.destination.disabled:has-text("Slack bugs") >> text=disabled');
    expect((await destinationRow('Slack bugs')).enabled).toBe(false);
    // A disabled destination is not offered on the defect page.
    await defectPage();
    expect(await page.locator('#tickets button:text("Send to Slack bugs")').count()).toBe(0);
    await settings('integrations');
    await page.click('.destination:has-text("Slack bugs") button:text-is("Enable")');
    await page.waitForSelector('.destination:not(.disabled):has-text("Slack bugs") >> text=ready');
    expect((await destinationRow('Slack bugs')).enabled).toBe(true);
  });

  it('creates routing rules with conditions and actions, reorders and deletes them', async () => {
    await page.click('#routing button:text("Add rule")');
    let form = page.locator('form[aria-label="Routing rule"]');
    await form.locator('input[name=ruleName]').fill('Blockers to Jira');
    await form.locator('input[name="severity.blocker"]').check();
    await form.locator('input[name=components]').fill('Checkout, Cart');
    await form.locator('input[name=minReports]').fill('3');
    await form.locator('input[name="trigger.threshold_crossed"]').check();
    await form.locator('select[aria-label="Action 1"]').selectOption('create_ticket');
    await form.locator('select[aria-label="Destination of action 1"]').selectOption({ label: 'Jira WEB' });
    await form.locator('button[type=submit]').click();
    await page.waitForSelector('.rule[data-rule="Blockers to Jira"]');

    await page.click('#routing button:text("Add rule")');
    form = page.locator('form[aria-label="Routing rule"]');
    await form.locator('input[name=ruleName]').fill('Everything to Slack');
    await form.locator('input[name=text]').fill('payment');
    await form.locator('select[aria-label="Action 1"]').selectOption('notify_slack');
    await form.locator('select[aria-label="Destination of action 1"]').selectOption({ label: 'Slack bugs' });
    await form.locator('input[name=stop]').check();
    await form.locator('button[type=submit]').click();
    await page.waitForSelector('.rule[data-rule="Everything to Slack"]');

    const rules = () => app.database.db.selectFrom('routingRules').select(['name', 'position', 'conditions', 'actions', 'triggers']).where('projectId', '=', projectId).orderBy('position').execute();
    const jiraId = (await destinationRow('Jira WEB')).id;
    expect(await rules()).toEqual([
      {
        name: 'Blockers to Jira',
        position: 0,
        triggers: ['defect_created', 'threshold_crossed'],
        conditions: { components: ['Checkout', 'Cart'], severities: ['blocker'], minReports: 3 },
        actions: [{ type: 'create_ticket', destinationId: jiraId }],
      },
      expect.objectContaining({ name: 'Everything to Slack', position: 1, conditions: { text: 'payment' }, actions: [expect.objectContaining({ type: 'notify_slack' }), { type: 'stop' }] }),
    ]);
    expect(await page.locator('.rule[data-rule="Blockers to Jira"]').textContent()).toContain('severity is blocker');

    await page.click('button[aria-label="Move Everything to Slack up"]');
    await expect.poll(async () => (await rules()).map((rule) => rule.name)).toEqual(['Everything to Slack', 'Blockers to Jira']);
    await page.waitForSelector('.rules li:first-child[data-rule="Everything to Slack"]');
    await saveScreenshot(page, 'dashboard-settings-integrations');

    await page.click('.rule[data-rule="Everything to Slack"] button:text("Delete")');
    await expect.poll(async () => (await rules()).map((rule) => rule.name)).toEqual(['Blockers to Jira']);
  });

  it('sends the defect to Jira from its page; the ticket shows its key, link and state', async () => {
    await defectPage();
    await page.click('#tickets button:text("Send to Jira WEB")');
    const row = page.locator('#tickets .ticket:has-text("Jira WEB")');
    await row.locator('.delivery-label-pending:text("queued")').waitFor();
    expect(await row.locator('.delivery-note').textContent()).toContain('Queued: the ticket appears here');
    expect(await row.locator('button').count()).toBe(0);
    expect(await app.database.db.selectFrom('jobs').select('kind').where('kind', '=', 'integration.create_ticket').execute()).toHaveLength(1);
    await app.jobs.drain();
    const key = page.locator('#tickets .ticket-key');
    await key.waitFor({ timeout: 15_000 });
    // The row now says what happened, and nothing in the panel still says "queued".
    expect(await page.locator('#tickets').textContent()).not.toMatch(/queued/i);
    expect(await key.textContent()).toBe('WEB-1');
    expect(await key.getAttribute('href')).toMatch(/\/browse\/WEB-1$/);
    expect(await key.getAttribute('rel')).toContain('noopener');
    expect(jira.issues).toHaveLength(1);
    expect(jira.issues[0].fields.summary).toContain('Checkout pay button does nothing');
    expect(await page.locator('#tickets .ticket:has-text("Jira WEB")').textContent()).toMatch(/To Do|new/);
    // A tracker never gets two tickets: nothing to send once it has one.
    expect(await page.locator('#tickets button:text("Send to Jira WEB")').count()).toBe(0);
  });

  it('sends the defect to Slack through the outbox; the row goes from queued to sent', async () => {
    await page.click('#tickets button:text("Send to Slack bugs")');
    const row = page.locator('#tickets .notifier:has-text("Slack bugs")');
    await row.locator('.delivery-label-queued').waitFor();
    expect(await row.locator('.delivery-note').textContent()).toContain('Queued');
    expect(await row.locator('button').count()).toBe(0);
    await app.jobs.drain();
    // The panel polls while a send is queued.
    await row.locator('.delivery-label-sent').waitFor({ timeout: 15_000 });
    expect(await row.locator('.delivery-label-sent').textContent()).toMatch(/^sent /);
    expect(await row.locator('button').textContent()).toBe('Send to Slack bugs again');
    expect(await page.locator('#tickets').textContent()).not.toMatch(/queued/i);
    expect(slack.messages).toHaveLength(1);
    expect(slack.messages[0].channel).toBe('C0123BUGS');
    expect(slack.messages[0].text).toContain('Checkout pay button does nothing');
  });

  it('shows a failed delivery with its error and the pre-filled "create issue" link; the dead-letter list retries it', async () => {
    // A second Jira whose project key the tracker refuses (400): a permanent failure, dead at once.
    await addDestination(app.database.db, projectId, {
      kind: 'jira',
      name: 'Jira OPS',
      config: { baseUrl: jira.server.url, projectKey: 'OPS', projectId: '10001', issueTypeId: '10004', email: jiraCredentials.email },
      secrets: { apiToken: jiraCredentials.apiToken },
      maxAttempts: 1,
    });
    // And a Slack whose token the workspace refuses (invalid_auth), also dead at once.
    await addDestination(app.database.db, projectId, {
      kind: 'slack',
      name: 'Slack ops',
      config: { channel: 'C0456OPS', apiUrl: `${slack.server.url}/api/` },
      secrets: { botToken: 'xoxb-revoked-token' },
      maxAttempts: 1,
    });
    await defectPage();
    await page.click('#tickets button:text("Send to Jira OPS")');
    await page.click('#tickets button:text("Send to Slack ops")');
    await page.locator('#tickets .notifier:has-text("Slack ops") .delivery-label-queued').waitFor();
    await app.jobs.drain();
    const failed = page.locator('#tickets .ticket.delivery-failed:has-text("Jira OPS")');
    await failed.waitFor({ timeout: 15_000 });
    const failedSlack = page.locator('#tickets .notifier.delivery-failed:has-text("Slack ops")');
    await failedSlack.waitFor({ timeout: 15_000 });
    // What was asked for ("queued") is gone: each row shows the real state.
    expect(await page.locator('#tickets').textContent()).not.toMatch(/queued/i);
    expect(await failedSlack.locator('.delivery-label-failed').textContent()).toBe('failed');
    expect(await failedSlack.locator('.form-error').textContent()).toContain('invalid_auth');
    expect(slack.messages).toHaveLength(1);
    // Retrying a failed notification queues it again, and the row says so.
    await failedSlack.locator('button:text("Retry Slack ops")').click();
    await page.locator('#tickets .notifier.delivery-queued:has-text("Slack ops")').waitFor();
    await app.jobs.drain();
    await page.locator('#tickets .notifier.delivery-failed:has-text("Slack ops")').waitFor({ timeout: 15_000 });
    expect(await failed.textContent()).toContain('failed');
    expect(await failed.locator('.form-error').textContent()).toMatch(/400|project/i);
    const createIssue = failed.locator('a:text("Create the issue in Jira by hand")');
    const href = (await createIssue.getAttribute('href'))!;
    expect(href.startsWith(`${jira.server.url}/secure/CreateIssueDetails!init.jspa?`)).toBe(true);
    expect(new URL(href).searchParams.get('summary')).toContain('Checkout pay button does nothing');
    expect(await createIssue.getAttribute('target')).toBe('_blank');
    expect(await failed.locator('button:text("Retry Jira OPS")').count()).toBe(1);
    await saveScreenshot(page, 'dashboard-defect-integrations');

    await settings('integrations');
    const letter = page.locator('#dead-letters tbody tr', { hasText: 'Jira OPS' });
    await letter.first().waitFor();
    expect(await letter.count()).toBe(1);
    // Both failed sends to Slack ops are dead letters too (a retry from the defect page is a new send).
    expect(await page.locator('#dead-letters tbody tr', { hasText: 'Slack ops' }).count()).toBe(2);
    expect(await letter.textContent()).toContain('create ticket · Jira OPS');
    await letter.locator('button:text("Retry")').click();
    await page.waitForSelector('#dead-letters >> text=Retrying now');
    const job = await app.database.db.selectFrom('jobs').select(['state', 'attempts']).where('kind', '=', 'integration.create_ticket').where('state', '!=', 'done').executeTakeFirstOrThrow();
    expect(job).toEqual({ state: 'pending', attempts: 0 });
    expect(await page.locator('#dead-letters tbody tr', { hasText: 'Jira OPS' }).count()).toBe(0);
  });

  it('links a suggested test case with a kind, shows the coverage status, and unlinks it', async () => {
    await defectPage();
    const suggestion = page.locator('.suggestion:has-text("Checkout pays with a saved card")');
    await suggestion.waitFor();
    expect(await suggestion.textContent()).toMatch(/component|checkout/i);
    expect(await page.locator('.suggestion:has-text("Avatar upload")').count()).toBe(0);
    await suggestion.locator('select').selectOption('covers');
    await suggestion.locator('button:text("Link TC-1")').click();
    await page.waitForSelector('.test-link:has-text("TC-1") >> text=covers');
    await page.waitForSelector('#tests .coverage-gap', { state: 'detached' });
    const links = () => app.database.db.selectFrom('defectTestLinks').select(['kind']).where('defectId', '=', defect.id).execute();
    expect(await links()).toEqual([{ kind: 'covers' }]);
    expect(await page.locator('.timeline').textContent()).toContain('test linked');

    // The covering test passed on 2.4.1, the release this defect escaped in: an ineffective test.
    await importTestRun(app.database.db, { projectId, release: '2.4.1' }, [
      (async function* () {
        yield '<testsuite name="checkout"><testcase classname="checkout" name="Checkout pays with a saved card [TC-1]"/></testsuite>';
      })(),
    ]);
    await page.reload();
    await page.waitForSelector('#tests .coverage-ineffective');
    expect(await page.locator('#tests .coverage-ineffective').textContent()).toContain('TC-1 passed on 2.4.1');

    await page.click('button[aria-label="Unlink TC-1"]');
    await page.waitForSelector('.test-link', { state: 'detached' });
    await page.waitForSelector('#tests .coverage-gap');
    expect(await links()).toEqual([]);
  });

  it('finds a test case that is not suggested by its title or key, links it with a kind, and marks it linked', async () => {
    await defectPage();
    // Not among the suggestions (another component, no shared words): only a search finds it.
    await page.locator('.suggestion').first().waitFor();
    expect(await page.locator('.suggestion:has-text("Avatar upload")').count()).toBe(0);
    const search = page.locator('#tests input[type=search]');
    await search.fill('avatar');
    const result = page.locator('#tests .search-result[data-test-case="TC-2"]');
    await result.waitFor();
    expect(await result.textContent()).toContain('Avatar upload keeps colours');
    expect(await page.locator('#tests .search-result').count()).toBe(1);
    await result.locator('select').selectOption('regression_test_added');
    await result.locator('button:text("Link TC-2")').click();
    await page.waitForSelector('.test-link:has-text("TC-2") >> text=regression test added');
    await result.locator('text=linked').waitFor();
    const links = () => app.database.db.selectFrom('defectTestLinks').innerJoin('testCases', 'testCases.id', 'defectTestLinks.testCaseId').select(['testCases.key', 'defectTestLinks.kind']).where('defectId', '=', defect.id).execute();
    expect(await links()).toEqual([{ key: 'TC-2', kind: 'regression_test_added' }]);
    await page.waitForSelector('#tests .coverage-gap', { state: 'detached' });

    // By key, and a search that finds nothing says so.
    await search.fill('tc-1');
    await page.locator('#tests .search-result[data-test-case="TC-1"] button:text("Link TC-1")').waitFor();
    await search.fill('no such test');
    await page.waitForSelector('#tests .test-search >> text=No test case has “no such test” in its key or title.');
    await saveScreenshot(page, 'dashboard-defect-test-search');

    await page.click('button[aria-label="Unlink TC-2"]');
    await page.waitForSelector('.test-link', { state: 'detached' });
    expect(await links()).toEqual([]);
  });

  it('deletes a destination after asking', async () => {
    await settings('integrations');
    await page.click('.destination:has-text("Jira OPS") button:text-is("Delete")');
    await page.waitForSelector('#destinations >> text=Deleted Jira OPS');
    await page.waitForSelector('.destination:has-text("Jira OPS")', { state: 'detached' });
    const names = await app.database.db.selectFrom('destinations').select('name').where('projectId', '=', projectId).orderBy('name').execute();
    expect(names.map((row) => row.name)).toEqual(['Jira WEB', 'Slack bugs', 'Slack ops']);
  });

  it('shows the people and account tabs', async () => {
    await settings('people');
    await page.waitForSelector('#members td:has-text("admin-int@example.com")');
    await saveScreenshot(page, 'dashboard-settings-people');
    await settings('account');
    await page.waitForSelector('button:text("Sign out everywhere")');
    await saveScreenshot(page, 'dashboard-settings-account');
  });

  it('threw no uncaught errors in the page', () => {
    expect(pageErrors).toEqual([]);
  });
});
