import { describe, expect, it } from 'vitest';
import { comparePrerelease, orderReleases, type OrderableRelease } from '../../server/releases/release-order';
import { parseSemver } from '../../server/releases/release-service';
import { csvToTestCases, detectPreset, parseCsv, splitNumbered } from '../../server/test-management/test-case-csv';
import { failureSignature, normalizeTestPath, resolveIdentity } from '../../server/test-management/test-identity';
import { scoreSuggestion } from '../../server/test-management/suggestion-score';
import { csvCell } from '../../server/test-management/traceability';

let clock = 0;
function release(version: string, day?: number): OrderableRelease {
  const semver = parseSemver(version);
  clock += 1;
  return {
    id: version,
    version,
    semverMajor: semver?.major ?? null,
    semverMinor: semver?.minor ?? null,
    semverPatch: semver?.patch ?? null,
    semverPrerelease: semver?.prerelease ?? null,
    firstSeenAt: new Date(Date.UTC(2026, 0, day ?? clock)),
  };
}

describe('release order', () => {
  it('orders semantic versions by precedence, not by text or arrival', () => {
    const ordered = orderReleases([release('1.10.0', 1), release('1.2.0', 2), release('1.9.3', 3), release('v2.0.0', 4)]);
    expect(ordered.map((entry) => entry.version)).toEqual(['1.2.0', '1.9.3', '1.10.0', 'v2.0.0']);
  });

  it('puts pre-releases before their release, in semver precedence', () => {
    const ordered = orderReleases([release('2.0.0'), release('2.0.0-rc.1'), release('2.0.0-beta.11'), release('2.0.0-beta.2'), release('2.0.0-alpha')]);
    expect(ordered.map((entry) => entry.version)).toEqual(['2.0.0-alpha', '2.0.0-beta.2', '2.0.0-beta.11', '2.0.0-rc.1', '2.0.0']);
    expect(comparePrerelease('alpha.1', 'alpha')).toBe(1);
    expect(comparePrerelease('1', 'alpha')).toBe(-1);
  });

  it('places a version that is not semver after the highest version seen before it, and orders such versions by first seen', () => {
    const ordered = orderReleases([release('1.0.0', 1), release('nightly-b', 6), release('1.1.0', 5), release('2.0.0', 10), release('nightly-a', 3), release('early', 0)]);
    expect(ordered.map((entry) => entry.version)).toEqual(['early', '1.0.0', 'nightly-a', '1.1.0', 'nightly-b', '2.0.0']);
  });
});

describe('test identity', () => {
  it('normalizes CI checkout paths, Windows separators and ./ so the same file has one identity', () => {
    expect(normalizeTestPath('/home/runner/work/shop/shop/src/cart.test.ts')).toBe('src/cart.test.ts');
    expect(normalizeTestPath('/builds/acme/shop/src/cart.test.ts')).toBe('src/cart.test.ts');
    expect(normalizeTestPath('C:\\a\\1\\s\\src\\cart.test.ts')).toBe('src/cart.test.ts');
    expect(normalizeTestPath('./src/cart.test.ts')).toBe('src/cart.test.ts');
    expect(normalizeTestPath('/srv/ci/checkout/src/cart.test.ts', ['/srv/ci/checkout'])).toBe('src/cart.test.ts');
    expect(normalizeTestPath('com.shop.CartTest')).toBe('com.shop.CartTest');
  });

  it('prefers an explicit testrail_case_id property over the name', () => {
    const identity = resolveIdentity({ classname: 'a', name: 'b', properties: [['testrail_case_id', '1234']] });
    expect(identity).toMatchObject({ identity: 'id:C1234', explicitKey: 'C1234' });
  });

  it('blanks object addresses so parametrized ids stay stable', () => {
    const one = resolveIdentity({ classname: 'tests.t', name: 'test_x[<Obj at 0x7f096c3679d0>]' });
    const two = resolveIdentity({ classname: 'tests.t', name: 'test_x[<Obj at 0x7f28e27af590>]' });
    expect(one.identity).toBe(two.identity);
  });

  it('collects requirements from refs properties and several [REQ:] tags', () => {
    const identity = resolveIdentity({ classname: 'c', name: 'pays [REQ:SHOP-1] [REQ:https://tracker.example/SHOP-2]', properties: [['refs', 'SHOP-3,SHOP-1']] });
    expect(identity.requirements).toEqual(['SHOP-3', 'SHOP-1', 'https://tracker.example/SHOP-2']);
    expect(identity.title).toBe('pays');
  });
});

describe('failure signature', () => {
  const base = { type: 'AssertionError', message: 'expected 200 but got 500 after 1234 ms', details: 'at pay (src/pay.ts:10:5)\nat run (src/run.ts:3:1)' };

  it('is the same when only numbers, durations, ids and line numbers differ', () => {
    const other = { type: 'AssertionError', message: 'expected 200 but got 500 after 98 ms', details: 'at pay (src/pay.ts:12:7)\nat run (src/run.ts:3:1)' };
    expect(failureSignature(other)).toBe(failureSignature(base));
    expect(failureSignature({ ...base, message: 'order 3f2b8c1e-1111-4222-8333-123456789abc failed' })).toBe(
      failureSignature({ ...base, message: 'order 9a9b8c1e-2222-4333-8444-abcdefabcdef failed' }),
    );
  });

  it('differs when the failure is a different one', () => {
    expect(failureSignature({ ...base, message: 'gateway unreachable' })).not.toBe(failureSignature(base));
    expect(failureSignature({ ...base, type: 'TimeoutError' })).not.toBe(failureSignature(base));
  });
});

describe('CSV import', () => {
  it('parses quotes, escaped quotes, embedded newlines, CRLF and a BOM', () => {
    expect(parseCsv('\uFEFFa,b\r\n"x, y","say ""hi""\nthere"\r\n')).toEqual([
      ['a', 'b'],
      ['x, y', 'say "hi"\nthere'],
    ]);
  });

  it('reads a TestRail export: C-ids, sections, separated steps and references', () => {
    const csv = [
      'ID,Title,Section,Priority,Type,Steps (Step),Steps (Expected Result),Preconditions,References',
      'C12,Pay with card,Checkout,High,Automated,"1. Open the cart\n2. Pay","1. Cart shows\n2. Thank-you page",Logged in,"SHOP-12, SHOP-13"',
    ].join('\n');
    const { preset, cases } = csvToTestCases(csv);
    expect(preset).toBe('testrail');
    expect(cases[0]).toMatchObject({
      key: 'C12',
      title: 'Pay with card',
      suite: 'Checkout',
      priority: 'High',
      kind: 'automated',
      requirements: ['SHOP-12', 'SHOP-13'],
      steps: [
        { action: 'Preconditions: Logged in', expected: null },
        { action: 'Open the cart', expected: 'Cart shows' },
        { action: 'Pay', expected: 'Thank-you page' },
      ],
      expectedResult: null,
    });
  });

  it('reads a Qase export: numeric ids get a QASE- prefix, "Not automated" stays manual', () => {
    const csv = 'id,title,suite,priority,automation,steps_actions,steps_result,tags\n7,Refund order,Orders,medium,Not automated,Open order,Refund shown,"smoke,orders"\n';
    const { preset, cases } = csvToTestCases(csv);
    expect(preset).toBe('qase');
    expect(cases[0]).toMatchObject({ key: 'QASE-7', kind: 'manual', tags: ['smoke', 'orders'], steps: [{ action: 'Open order', expected: null }], expectedResult: 'Refund shown' });
  });

  it('reads a Kiwi TCMS export and honours an explicit mapping', () => {
    const csv = 'ID,Summary,Category,Component,Is automated,Text,Jira\n3,Search by name,Search,search,True,Type a name,SHOP-4\n';
    expect(detectPreset(parseCsv(csv)[0])).toBe('kiwi');
    const { cases } = csvToTestCases(csv, { mapping: { requirements: 'Jira' } });
    expect(cases[0]).toMatchObject({ key: 'KIWI-3', title: 'Search by name', suite: 'Search', component: 'search', kind: 'automated', requirements: ['SHOP-4'] });
  });

  it('names the line of an invalid row and a missing title column', () => {
    expect(() => csvToTestCases('Title,Priority\nok,high\n,low\n')).toThrow(/CSV line 3: title/);
    expect(() => csvToTestCases('Foo,Bar\n1,2\n')).toThrow(/needs a title column/);
    expect(() => csvToTestCases('Title\nx\n', { mapping: { suite: 'Nope' } })).toThrow(/no column "Nope"/);
  });

  it('splits numbered step lists and keeps unnumbered text whole', () => {
    expect(splitNumbered('1. a\n2) b\n3. c')).toEqual(['a', 'b', 'c']);
    expect(splitNumbered('Just do it\nthen check')).toEqual(['Just do it\nthen check']);
  });
});

describe('suggestion score', () => {
  const defect = { title: 'Card payment declined at checkout', description: 'Pay button shows card declined', component: 'checkout', route: '/checkout/:id/pay' };
  const candidate = (overrides: Partial<Parameters<typeof scoreSuggestion>[1]>) => ({ title: '', suite: null, component: null, tags: [], steps: [], identity: null, ...overrides });

  it('ranks a same-component test that names the route and shares words above an unrelated one', () => {
    const related = scoreSuggestion(defect, candidate({ title: 'pays with card', suite: 'checkout.spec.ts', component: 'checkout' }));
    const unrelated = scoreSuggestion(defect, candidate({ title: 'searches products', component: 'search' }));
    expect(related.score).toBeGreaterThan(0.5);
    expect(unrelated.score).toBe(0);
    expect(related.reasons).toEqual([
      'same component (checkout)',
      expect.stringMatching(/^route \/checkout\/:id\/pay named in the test \(checkout, pay\)/),
      expect.stringMatching(/^shares words: .*card/),
    ]);
  });
});

describe('CSV cells', () => {
  it('quotes separators and neutralizes spreadsheet formulas', () => {
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvCell(null)).toBe('');
  });
});
