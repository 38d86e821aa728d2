import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { chromiumPath, launchChromium } from '../support/widget-browser';
import { createProject } from '../../server/projects/project-service';
import { createUser, setProjectRole } from '../../server/users/user-service';
import type { ProjectRole } from '../../server/db/schema';
import type { TestApp } from '../support/test-server';

export { chromiumPath, launchChromium };
const repositoryRoot = path.resolve(import.meta.dirname, '../..');
export const artifactsDirectory = path.join(repositoryRoot, 'test-artifacts');

/**
 * Whether the dashboard browser tests can run here. Without Debian Chromium they skip with a
 * message, unless BUGLOOP_REQUIRE_BROWSER=1 (CI), where a missing browser is a failure.
 */
export function browserAvailability(): { run: boolean; reason?: string } {
  if (existsSync(chromiumPath)) {
    // The settings test runs the built widget in its live preview, so both builds are needed.
    if (!existsSync(path.join(repositoryRoot, 'dist/dashboard/index.html')) || !existsSync(path.join(repositoryRoot, 'dist/widget/widget.js'))) {
      throw new Error('The dashboard or the widget is not built: run `npm run build` (npm test does it for you).');
    }
    return { run: true };
  }
  if (process.env.BUGLOOP_REQUIRE_BROWSER === '1') throw new Error(`BUGLOOP_REQUIRE_BROWSER=1 but ${chromiumPath} is missing`);
  const reason = `skipping dashboard browser tests: ${chromiumPath} not found (install Debian's chromium package)`;
  console.warn(reason);
  return { run: false, reason };
}

/** Saves a full-page PNG under test-artifacts/ (gitignored) for people to look at. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(artifactsDirectory, { recursive: true });
  const file = path.join(artifactsDirectory, `${name}.png`);
  // From the top, so the sticky top bar is not drawn across the middle of a full-page shot.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export const testPassword = 'browser test password';

/** A project and a person with a password and a role in it. */
export async function projectWithUser(app: TestApp, role: ProjectRole, keyPrefix: string) {
  const project = await createProject(app.database.db, { name: `${keyPrefix} shop`, keyPrefix, allowedOrigins: ['https://shop.example.com'] });
  const email = `${role}-${keyPrefix.toLowerCase()}@example.com`;
  const user = await createUser(app.database.db, { email, password: testPassword });
  await setProjectRole(app.database.db, project.id, user.id, role);
  return { project, user, email };
}

/** Signs in through the real form and waits for the inbox. */
export async function signIn(page: Page, app: TestApp, email: string): Promise<void> {
  await page.goto(`${app.url}/`);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', testPassword);
  await page.click('button[type=submit]');
  await page.waitForSelector('h1:text("Inbox")');
}
