import { createReadStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../server/http/app-error';
import { JunitParser, type ParsedTestCase, parseJunitStream } from '../../server/test-management/junit-parser';
import { resolveIdentity } from '../../server/test-management/test-identity';

const fixtures = path.resolve('test/fixtures/junit');
const parseFile = (name: string) => parseJunitStream(createReadStream(path.join(fixtures, name), { highWaterMark: 97 }));

/** Parses a string fed in pieces of `size` characters, so every chunk boundary gets exercised. */
function parseInPieces(xml: string, size: number): ParsedTestCase[] {
  const cases: ParsedTestCase[] = [];
  const parser = new JunitParser((testCase) => cases.push(testCase));
  for (let index = 0; index < xml.length; index += size) parser.write(xml.slice(index, index + size));
  parser.end();
  return cases;
}

const summary = (cases: ParsedTestCase[]) => cases.map((testCase) => [resolveIdentity(testCase).identity, testCase.status]);
const count = (cases: ParsedTestCase[], status: string) => cases.filter((testCase) => testCase.status === status).length;

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe('invalid_xml');
  expect((error as AppError).status).toBe(400);
  return error as AppError;
}

describe('JUnit dialects', () => {
  it('Maven Surefire: failures, errors, skips, flaky reruns, explicit ids and requirements', async () => {
    const cases = await parseFile('surefire.xml');
    expect(summary(cases)).toEqual([
      ['test:com.shop.cart.CartServiceTest::addsItem', 'passed'],
      ['test:com.shop.cart.CartServiceTest::appliesCoupon', 'failed'],
      ['test:com.shop.cart.CartServiceTest::persistsCart', 'error'],
      ['test:com.shop.cart.CartServiceTest::shipsAbroad', 'skipped'],
      ['test:com.shop.cart.CartServiceTest::recalculatesTax', 'passed'],
      ['id:TC-42', 'passed'],
    ]);
    const coupon = cases[1];
    expect(coupon.message).toBe('expected: <80> but was: <90>');
    expect(coupon.failureType).toBe('org.opentest4j.AssertionFailedError');
    expect(coupon.details).toContain('CartServiceTest.java:42');
    expect(coupon.output).toBe('Applying coupon SAVE10 to cart 7f3a');
    expect(coupon.durationMs).toBe(31);
    expect(cases[3].message).toBe('@Disabled: not shipping abroad yet');
    expect(cases[4].flakyOnRerun).toBe(true);
    expect(resolveIdentity(cases[5]).requirements).toEqual(['SHOP-7', 'SHOP-8']);
    // Suite properties such as java.version are not test properties.
    expect(cases[0].properties).toEqual([]);
  });

  it('pytest xunit1: classnames, parametrized names, record_property, setup errors', async () => {
    const cases = await parseFile('pytest-xunit1.xml');
    expect(summary(cases)).toEqual([
      ['test:tests.test_cart.TestCart::test_adds_item', 'passed'],
      ['test:tests.test_cart.TestCart::test_applies_coupon', 'failed'],
      ['test:tests.test_cart.TestCart::test_ships_abroad', 'skipped'],
      ['test:tests.test_cart::test_refund[1]', 'passed'],
      ['test:tests.test_cart::test_refund[5]', 'passed'],
      ['id:TC-9', 'failed'],
      ['test:tests.test_cart::test_uses_broken_fixture', 'error'],
    ]);
    expect(cases[0].file).toBe('tests/test_cart.py');
    expect(resolveIdentity(cases[0]).requirements).toEqual(['SHOP-12']);
    expect(cases[1].message).toMatch(/^AssertionError: assert \{'total': 90\} == \{'total': 80\}/);
    expect(cases[6].message).toBe('failed on setup with "RuntimeError: fixture exploded"');
  });

  it('pytest xunit2 gives the same identities as xunit1', async () => {
    const [one, two] = await Promise.all([parseFile('pytest-xunit1.xml'), parseFile('pytest-xunit2.xml')]);
    expect(summary(two)).toEqual(summary(one));
    expect(two[0].file).toBeNull();
  });

  it('jest-junit: message taken from the failure body, requirement tags stripped from the identity', async () => {
    const cases = await parseFile('jest-junit.xml');
    expect(cases).toHaveLength(5);
    expect([count(cases, 'passed'), count(cases, 'failed'), count(cases, 'skipped')]).toEqual([3, 1, 1]);
    const coupon = resolveIdentity(cases[1]);
    expect(coupon.identity).toBe('test:cart applies a coupon::cart applies a coupon');
    expect(coupon.requirements).toEqual(['SHOP-12']);
    expect(cases[1].message).toBe('Error: expect(received).toBe(expected) // Object.is equality');
    expect(cases[0].suitePath).toEqual(['cart']);
  });

  it('Vitest (a report written by the real junit reporter): " > " titles, tags, skips', async () => {
    const cases = await parseFile('vitest.xml');
    expect(summary(cases)).toEqual([
      ['test:src/cart.test.ts::cart > adds an item', 'passed'],
      ['id:TC-7', 'failed'],
      ['test:src/cart.test.ts::cart > ships abroad', 'skipped'],
      ['test:src/cart.test.ts::cart > checkout > pays with card', 'failed'],
    ]);
    expect(resolveIdentity(cases[0]).requirements).toEqual(['SHOP-12']);
    expect(cases[1].output).toBe('coupon log line');
    expect(cases[1].message).toBe('expected { total: 90 } to deeply equal { total: 80 }');
    expect(cases[1].details).toContain('"total": 80');
    // Vitest writes the machine's name as hostname: it must not leak into identities.
    expect(cases[0].project).toBeNull();
  });

  it('Playwright: " › " titles kept and each browser project is its own test', async () => {
    const cases = await parseFile('playwright.xml');
    expect(summary(cases)).toEqual([
      ['test:checkout.spec.ts::checkout › pays with card [chromium]', 'failed'],
      ['test:checkout.spec.ts::checkout › shows the total [chromium]', 'passed'],
      ['test:checkout.spec.ts::checkout › ships abroad [chromium]', 'skipped'],
      ['test:checkout.spec.ts::checkout › pays with card [firefox]', 'passed'],
      ['test:checkout.spec.ts::checkout › shows the total [firefox]', 'passed'],
    ]);
    expect(cases[0].message).toBe('checkout.spec.ts:14:7 pays with card');
    expect(cases[0].details).toContain('Timed out 5000ms');
    expect(cases[0].output).toContain('[[ATTACHMENT|');
    expect(resolveIdentity(cases[0]).requirements).toEqual(['SHOP-12']);
  });

  it('gotestsum: packages as classnames, subtests, skip messages', async () => {
    const cases = await parseFile('gotestsum.xml');
    expect(summary(cases)).toEqual([
      ['test:github.com/acme/shop/cart::TestAddItem', 'passed'],
      ['test:github.com/acme/shop/cart::TestCoupon/SAVE10', 'failed'],
      ['test:github.com/acme/shop/cart::TestShipping', 'skipped'],
      ['test:github.com/acme/shop/search::TestFind', 'passed'],
      ['test:github.com/acme/shop/search::TestFind/by_name', 'passed'],
    ]);
    expect(cases[1].details).toContain('cart_test.go:31: total = 90, want 80');
    expect(cases[2].message).toContain('not shipping abroad yet');
  });

  it('nested testsuites: suite path, inherited requirements, classname from the suite', async () => {
    const cases = await parseFile('nested-testsuites.xml');
    expect(cases.map((testCase) => testCase.suitePath)).toEqual([
      ['shop', 'shop.cart'],
      ['shop', 'shop.cart'],
      ['shop', 'shop.search', 'shop.search.filters'],
    ]);
    expect(summary(cases)).toEqual([
      ['test:shop.cart::adds item', 'passed'],
      ['test:shop.cart::removes item', 'error'],
      ['test:shop.search.filters::filters by price', 'passed'],
    ]);
    expect(cases[1].message).toBe('NullPointerException');
    expect(resolveIdentity(cases[2]).requirements).toEqual(['SHOP-1']);
    expect(cases.map((testCase) => testCase.durationMs)).toEqual([500, 250, 1000]);
  });

  it('gives the same result whatever the chunk boundaries', () => {
    const xml = readFileSync(path.join(fixtures, 'surefire.xml'), 'utf8');
    const whole = parseInPieces(xml, xml.length);
    for (const size of [1, 2, 3, 7, 64]) expect(parseInPieces(xml, size)).toEqual(whole);
  });

  it('skips a byte-order mark', () => {
    const cases = parseInPieces('\uFEFF<?xml version="1.0"?><testsuite name="s"><testcase classname="c" name="n"/></testsuite>', 5);
    expect(summary(cases)).toEqual([['test:c::n', 'passed']]);
  });
});

describe('truncation', () => {
  it('keeps the head and the tail of a huge system-out without holding it whole', () => {
    const cases: ParsedTestCase[] = [];
    const collecting = new JunitParser((testCase) => cases.push(testCase), { maxOutputChars: 1000 });
    collecting.write('<testsuite name="s"><testcase classname="c" name="n"><system-out>START');
    const line = 'x'.repeat(99) + '\n';
    for (let index = 0; index < 30_000; index += 1) collecting.write(line); // 3 MB of output
    collecting.write('END</system-out></testcase></testsuite>');
    collecting.end();
    const output = cases[0].output!;
    expect(output.startsWith('START')).toBe(true);
    expect(output.endsWith('END')).toBe(true);
    expect(output.length).toBeLessThan(1100);
    expect(output).toMatch(/characters truncated/);
  });

  it('splits long CDATA and text runs without changing what they say', () => {
    const body = 'a]b]]c&amp;'.repeat(20_000);
    const cases = parseInPieces(
      `<testsuite name="s"><testcase classname="c" name="n"><failure><![CDATA[${'x]'.repeat(50_000)}]]></failure><system-out>${body}</system-out></testcase></testsuite>`,
      4096,
    );
    expect(cases[0].status).toBe('failed');
    expect(cases[0].details!.startsWith('x]x]')).toBe(true);
    expect(cases[0].details!.endsWith('x]')).toBe(true);
    expect(cases[0].output!.endsWith('a]b]]c&')).toBe(true);
  });
});

describe('hostile and broken XML gets invalid_xml (400)', () => {
  it('refuses external entities (XXE) before reading them', async () => {
    const error = await rejection(parseFile('hostile/xxe.xml'));
    expect(error.message).toMatch(/DOCTYPE or ENTITY declaration/);
  });

  it('refuses entity expansion (billion laughs)', async () => {
    const error = await rejection(parseFile('hostile/billion-laughs.xml'));
    expect(error.message).toMatch(/DOCTYPE or ENTITY declaration/);
  });

  it('refuses an entity reference nobody declared', async () => {
    await rejection(parseFile('hostile/undeclared-entity.xml'));
  });

  it('reports a truncated document clearly', async () => {
    const error = await rejection(parseFile('hostile/truncated.xml'));
    expect(error.message).toMatch(/not well-formed XML/);
  });

  it('refuses a document that is not JUnit', async () => {
    const error = await rejection(parseFile('hostile/not-junit.xml'));
    expect(error.message).toMatch(/root element is <html>/);
  });

  it('refuses an empty body', async () => {
    await rejection(parseJunitStream((async function* () {})()));
  });

  it('refuses a huge attribute as soon as it passes the limit', async () => {
    let written = 0;
    async function* body() {
      yield '<testsuite name="s"><testcase classname="c" name="';
      for (let index = 0; index < 64; index += 1) {
        written += 1;
        yield 'a'.repeat(32_768);
      }
      yield '"/></testsuite>';
    }
    const error = await rejection(parseJunitStream(body()));
    expect(error.message).toMatch(/attribute value is longer than/);
    expect(written).toBeLessThan(64); // stopped early, not after reading everything
  });

  it('refuses absurd nesting', () => {
    const parser = new JunitParser(() => {});
    expect(() => parser.write('<testsuites>' + '<testsuite>'.repeat(200))).toThrow(/nested deeper/);
  });
});
