import { useEffect, useState } from 'preact/hooks';
import { type DefectTestLinksResponse, type TestLinkKind, type TestSuggestion, testLinkKindLabels } from '../../../shared/dashboard-api';
import type { TestCaseListResponse } from '../../../shared/quality-api';
import { ApiError, api, queryString } from '../api';
import { ErrorState, Loading, useResource } from '../components/states';
import { UserText } from '../components/user-text';

/** Kinds a person picks when linking; failed_in links come from CI runs, with their result. */
const linkableKinds: TestLinkKind[] = ['covers', 'regression_test_added'];
/** Search answers shown at once, and the pause after typing before asking. */
const searchLimit = 10;
const searchDelayMs = 250;

/**
 * Linked test cases with the defect's coverage status (coverage gap, ineffective test, verified
 * by test), a search of the catalog by key or title (`GET …/test-cases?q=`), and ranked
 * suggestions to link, each with its reasons; link and unlink in one click.
 * `onChanged` lets the page refresh what a link changes (the coverage-gap flag, the history).
 */
export function DefectTests(props: { projectId: string; defectId: string; origin: string; coverageGap: boolean; triager: boolean; onChanged: () => void }) {
  const base = `/projects/${props.projectId}/defects/${props.defectId}`;
  const links = useResource(() => api.get<DefectTestLinksResponse>(`${base}/test-links`), [base]);
  const suggestions = useResource(() => api.get<{ items: TestSuggestion[] }>(`${base}/test-suggestions`).then((body) => body.items), [base], props.triager);
  const [kinds, setKinds] = useState<Record<string, TestLinkKind>>({});
  const [error, setError] = useState<string>();
  const [search, setSearch] = useState('');
  const [query, setQuery] = useState('');
  useEffect(() => {
    const timer = setTimeout(() => setQuery(search.trim()), searchDelayMs);
    return () => clearTimeout(timer);
  }, [search]);
  const found = useResource(
    () => api.get<TestCaseListResponse>(`/projects/${props.projectId}/test-cases${queryString({ q: query, limit: String(searchLimit) })}`),
    [props.projectId, query],
    props.triager && query !== '',
  );
  const linkedIds = new Set((links.data?.items ?? []).map((link) => link.testCaseId));

  /** The kind picker and "Link" button of one test case (a search answer or a suggestion). */
  const linkControls = (testCase: { id: string; key: string }) => {
    const kind = kinds[testCase.id] ?? 'covers';
    return (
      <div class="suggestion-actions">
        <select aria-label={`Link kind for ${testCase.key}`} value={kind} onChange={(event) => setKinds({ ...kinds, [testCase.id]: event.currentTarget.value as TestLinkKind })}>
          {linkableKinds.map((value) => (
            <option key={value} value={value}>
              {testLinkKindLabels[value]}
            </option>
          ))}
        </select>
        <button type="button" class="button small" onClick={() => void act(() => api.post(`${base}/test-links`, { testCaseId: testCase.id, kind }))}>
          Link {testCase.key}
        </button>
      </div>
    );
  };

  const act = async (action: () => Promise<unknown>) => {
    try {
      await action();
      setError(undefined);
      links.reload({ quiet: true });
      if (props.triager) suggestions.reload({ quiet: true });
      props.onChanged();
    } catch (caught) {
      setError(caught instanceof ApiError ? caught.message : 'The change was not saved.');
    }
  };

  let status = null;
  if (links.data) {
    const { verification, ineffective, verifiedByTest } = links.data;
    if (verifiedByTest && verification) {
      status = (
        <p class="coverage coverage-verified">
          Verified by test: {verification.testCaseKey} passed on {verification.release} (fixed in {verification.fixedInRelease}).
        </p>
      );
    } else if (ineffective.length > 0) {
      status = (
        <p class="coverage coverage-ineffective">
          Ineffective test: {ineffective.map((entry) => entry.testCaseKey).join(', ')} passed on {ineffective[0].foundInRelease}, the release this escaped in.
        </p>
      );
    } else if (props.coverageGap) {
      status = <p class="coverage coverage-gap">Coverage gap: users found this and no test case covers it. Link one below, or add a regression test.</p>;
    }
  }

  return (
    <section class="panel" id="tests">
      <h2>Linked tests</h2>
      {links.error ? (
        <ErrorState error={links.error} onRetry={() => links.reload()} />
      ) : !links.data ? (
        <Loading label="Loading linked tests…" />
      ) : (
        <>
          {status}
          {links.data.items.length === 0 ? (
            <p class="muted">{props.origin === 'field' ? 'No test case is linked yet.' : 'No linked test cases.'}</p>
          ) : (
            <ul class="plain-list test-links">
              {links.data.items.map((link) => (
                <li key={link.id} class="test-link">
                  <span class="key">{link.testCaseKey}</span> <UserText text={link.testCaseTitle} /> <span class="tag">{testLinkKindLabels[link.kind] ?? link.kind}</span>
                  {(link.resultStatus ?? link.latestStatus) && <span class={`muted small result-${link.resultStatus ?? link.latestStatus}`}> · {link.resultStatus ?? `last ${link.latestStatus}`}</span>}
                  {props.triager && (
                    <button type="button" class="link-button unlink" onClick={() => void act(() => api.delete(`${base}/test-links/${link.id}`))} aria-label={`Unlink ${link.testCaseKey}`}>
                      unlink
                    </button>
                  )}
                </li>
              ))}
            </ul>
          )}
        </>
      )}
      {props.triager && (
        <div class="test-search">
          <h3>
            <label for="test-search-input">Find a test case</label>
          </h3>
          <input
            id="test-search-input"
            type="search"
            placeholder="Key or title, e.g. TC-12 or checkout"
            value={search}
            maxLength={200}
            onInput={(event) => setSearch(event.currentTarget.value)}
          />
          {query !== '' &&
            (found.error ? (
              <ErrorState error={found.error} onRetry={() => found.reload()} />
            ) : !found.data || found.loading ? (
              <Loading label="Searching test cases…" />
            ) : found.data.items.length === 0 ? (
              <p class="muted small">No test case has “{query}” in its key or title.</p>
            ) : (
              <ul class="plain-list search-results">
                {found.data.items.map((testCase) => (
                  <li key={testCase.id} class="search-result" data-test-case={testCase.key}>
                    <div>
                      <span class="key">{testCase.key}</span> <UserText text={testCase.title} />
                      {testCase.component && <span class="muted small"> · {testCase.component}</span>}
                    </div>
                    {linkedIds.has(testCase.id) ? <div class="muted small">linked</div> : linkControls(testCase)}
                  </li>
                ))}
                {found.data.total > found.data.items.length && (
                  <li class="muted small">
                    {found.data.total - found.data.items.length} more; type more of the key or title.
                  </li>
                )}
              </ul>
            ))}
        </div>
      )}
      {props.triager && (
        <div class="suggestions">
          <h3>Suggested</h3>
          {suggestions.error ? (
            <ErrorState error={suggestions.error} onRetry={() => suggestions.reload()} />
          ) : !suggestions.data ? (
            <Loading label="Finding test cases…" />
          ) : suggestions.data.length === 0 ? (
            <p class="muted small">No test case looks related (same component, route or words). Import your catalog under Tests, or add one.</p>
          ) : (
            <ul class="plain-list">
              {suggestions.data.map((suggestion) => (
                <li key={suggestion.testCase.id} class="suggestion">
                  <div>
                    <span class="score" title="Suggestion score">
                      {Math.round(suggestion.score * 100)}%
                    </span>{' '}
                    <span class="key">{suggestion.testCase.key}</span> <UserText text={suggestion.testCase.title} />
                  </div>
                  <div class="muted small">{suggestion.reasons.join(' · ')}</div>
                  {linkControls(suggestion.testCase)}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      {error && (
        <p class="form-error small" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
