import { useState } from 'preact/hooks';
import type { TestCase, TestCaseDetailResponse, TestCaseFacets, TestStep } from '../../../shared/quality-api';
import { ApiError, api } from '../api';
import { dateTime, timeAgo } from '../components/format';
import { EmptyState, ErrorState, Loading, useResource } from '../components/states';
import { isWebAddress } from '../components/user-text';
import { ResultBadge, TestsNav } from '../components/tests-nav';
import type { QualityPageProps } from '../quality-routes';
import { Link, navigate } from '../router';
import { canTriage, useProjectRole } from '../session';
import '../quality.css';

/**
 * One test case: its fields, steps and expected result, requirements, latest result per release,
 * recent results, linked defects and edit history. Triagers and admins edit and archive it.
 * Ticket content links here as `/p/:projectId/test-cases/:testCaseId`; a key works too.
 */
export function TestCasePage(props: QualityPageProps) {
  const { projectId } = props;
  const triager = canTriage(useProjectRole(projectId));
  const caseId = props.params.caseId;
  const detail = useResource(() => api.get<TestCaseDetailResponse>(`/projects/${projectId}/test-cases/${encodeURIComponent(caseId)}`), [projectId, caseId]);
  const [editing, setEditing] = useState(false);
  const [notice, setNotice] = useState<{ kind: 'info' | 'error'; text: string }>();
  if (detail.error) {
    return detail.error instanceof ApiError && detail.error.status === 404 ? (
      <EmptyState title="Test case not found">
        It does not exist in this project. Back to the <Link href={`/p/${projectId}/test-cases`}>catalog</Link>.
      </EmptyState>
    ) : (
      <ErrorState error={detail.error} onRetry={() => detail.reload()} />
    );
  }
  if (!detail.data) return <Loading label="Loading the test case…" />;
  const testCase = detail.data;
  const archive = async () => {
    const action = testCase.archivedAt ? 'restore' : 'archive';
    if (action === 'archive' && !window.confirm(`Archive ${testCase.key}? It leaves the catalog and coverage, and keeps its history.`)) return;
    try {
      await api.post(`/projects/${projectId}/test-cases/${testCase.id}/${action}`);
      setNotice({ kind: 'info', text: action === 'archive' ? `Archived ${testCase.key}` : `Restored ${testCase.key}` });
      detail.reload({ quiet: true });
    } catch (error) {
      setNotice({ kind: 'error', text: error instanceof ApiError ? error.message : 'The change failed.' });
    }
  };

  return (
    <section class="quality-page test-case-page">
      <TestsNav projectId={projectId} current="catalog" />
      <nav class="crumbs small">
        <Link href={`/p/${projectId}/test-cases`}>Test cases</Link> ›
      </nav>
      <div class="page-head">
        <span class="key">{testCase.key}</span>
        <h1>{testCase.title}</h1>
        {testCase.archivedAt && <span class="tag">archived {timeAgo(testCase.archivedAt)}</span>}
        <span class="spacer" />
        {triager && !editing && (
          <>
            <button type="button" class="button" onClick={() => setEditing(true)}>
              Edit
            </button>
            <button type="button" class="button" onClick={() => void archive()}>
              {testCase.archivedAt ? 'Restore' : 'Archive'}
            </button>
          </>
        )}
      </div>
      {notice && (
        <p class={`notice notice-${notice.kind}`} role={notice.kind === 'error' ? 'alert' : 'status'}>
          {notice.text}
        </p>
      )}
      {editing ? (
        <TestCaseForm
          projectId={projectId}
          initial={testCase}
          onCancel={() => setEditing(false)}
          onSaved={() => {
            setEditing(false);
            setNotice({ kind: 'info', text: `Saved ${testCase.key}` });
            detail.reload({ quiet: true });
          }}
        />
      ) : (
        <div class="defect-layout">
          <div>
            <div class="panel">
              <h2>Steps</h2>
              {testCase.steps.length === 0 ? (
                <p class="muted">{testCase.kind === 'automated' ? 'An automated test: its steps are its code.' : 'No steps written yet.'}</p>
              ) : (
                <table class="compact steps-table">
                  <thead>
                    <tr>
                      <th>#</th>
                      <th>Action</th>
                      <th>Expected</th>
                    </tr>
                  </thead>
                  <tbody>
                    {testCase.steps.map((step, index) => (
                      <tr key={index}>
                        <td>{index + 1}</td>
                        <td class="prose">{step.action}</td>
                        <td class="prose">{step.expected ?? ''}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
              {testCase.expectedResult && (
                <>
                  <h3>Expected result</h3>
                  <p class="prose">{testCase.expectedResult}</p>
                </>
              )}
            </div>
            <div class="panel">
              <h2>Latest result per release</h2>
              {testCase.latestByRelease.length === 0 ? (
                <p class="muted">No results yet. Results arrive with test runs (JUnit imports) that carry a release.</p>
              ) : (
                <table class="compact latest-by-release">
                  <thead>
                    <tr>
                      <th>Release</th>
                      <th>Result</th>
                      <th>Build</th>
                      <th>When</th>
                      <th>Message</th>
                    </tr>
                  </thead>
                  <tbody>
                    {testCase.latestByRelease.map((result) => (
                      <tr key={result.releaseId}>
                        <td>
                          <Link href={`/p/${projectId}/releases/${result.releaseId}`}>{result.release}</Link>
                        </td>
                        <td>
                          <ResultBadge status={result.status} flaky={result.isFlaky} />
                        </td>
                        <td>
                          <Link href={`/p/${projectId}/test-runs/${result.runId}`}>{result.build ?? 'run'}</Link>
                        </td>
                        <td title={result.createdAt}>{timeAgo(result.createdAt)}</td>
                        <td class="small">{result.message?.split('\n')[0] ?? ''}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
              {testCase.recentResults.length > 0 && (
                <details>
                  <summary class="small">The last {testCase.recentResults.length} results</summary>
                  <table class="compact">
                    <tbody>
                      {testCase.recentResults.map((result) => (
                        <tr key={result.id}>
                          <td title={result.createdAt}>{dateTime(result.createdAt)}</td>
                          <td>{result.release ?? '—'}</td>
                          <td>
                            <Link href={`/p/${projectId}/test-runs/${result.runId}`}>{result.build ?? 'run'}</Link>
                          </td>
                          <td>
                            <ResultBadge status={result.status} flaky={result.isFlaky} />
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </details>
              )}
            </div>
            <div class="panel">
              <h2>Linked defects</h2>
              {testCase.defectLinks.length === 0 ? (
                <p class="muted">No defect is linked. Link one from a defect’s page (“covers”, “regression test added”); CI failures link themselves.</p>
              ) : (
                <table class="compact linked-defects">
                  <tbody>
                    {testCase.defectLinks.map((link) => (
                      <tr key={link.id}>
                        <td>{link.kind.replace(/_/g, ' ')}</td>
                        <td>
                          <Link href={`/p/${projectId}/defects/${link.defectKey}`}>{link.defectKey}</Link> {link.defectTitle}
                        </td>
                        <td>
                          <span class="tag">{link.origin}</span>
                        </td>
                        <td>{link.status}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </div>
          </div>
          <aside>
            <div class="panel">
              <dl class="facts">
                <dt>Suite</dt>
                <dd>{testCase.suite ?? '—'}</dd>
                <dt>Component</dt>
                <dd>{testCase.component ?? '—'}</dd>
                <dt>Priority</dt>
                <dd>{testCase.priority ?? '—'}</dd>
                <dt>Kind</dt>
                <dd>{testCase.kind}</dd>
                <dt>Tags</dt>
                <dd>{testCase.tags.length ? testCase.tags.map((tag) => <span key={tag} class="tag">{tag}</span>) : '—'}</dd>
                <dt>Requirements</dt>
                <dd class="requirements">
                  {testCase.requirements.length
                    ? testCase.requirements.map((requirement) => (
                        <div key={requirement}>
                          {isWebAddress(requirement) ? (
                            <a href={requirement} target="_blank" rel="noopener noreferrer">
                              {requirement}
                            </a>
                          ) : (
                            <Link href={`/p/${projectId}/traceability#requirement-${encodeURIComponent(requirement)}`}>{requirement}</Link>
                          )}
                        </div>
                      ))
                    : '—'}
                </dd>
                {testCase.identity && (
                  <>
                    <dt>CI identity</dt>
                    <dd class="small">
                      <code>{testCase.identity}</code>
                    </dd>
                  </>
                )}
                <dt>Created</dt>
                <dd title={testCase.createdAt}>{dateTime(testCase.createdAt)}</dd>
              </dl>
            </div>
            <div class="panel">
              <h2>History</h2>
              <ol class="timeline revisions">
                {testCase.revisions.map((revision) => (
                  <li key={revision.id}>
                    <div class="small muted">
                      {dateTime(revision.createdAt)} · {revision.actorEmail ?? 'an import'}
                    </div>
                    <RevisionChanges changes={revision.changes} />
                  </li>
                ))}
                {testCase.revisions.length === 0 && <li class="muted small">Created by an import {timeAgo(testCase.createdAt)}; no edits since.</li>}
              </ol>
            </div>
          </aside>
        </div>
      )}
    </section>
  );
}

function short(value: unknown): string {
  if (value === null || value === undefined || value === '') return '—';
  if (Array.isArray(value)) return value.length === 0 ? '—' : value.map((item) => (typeof item === 'object' ? (item as TestStep).action ?? JSON.stringify(item) : String(item))).join(', ');
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

/** One revision: "created", or each changed field from → to. */
function RevisionChanges(props: { changes: Record<string, unknown> }) {
  if ('created' in props.changes) return <div>created{typeof props.changes.via === 'string' ? ` (${props.changes.via})` : ''}</div>;
  return (
    <ul class="plain-list small">
      {Object.entries(props.changes).map(([field, change]) => {
        const { from, to } = (change ?? {}) as { from?: unknown; to?: unknown };
        return (
          <li key={field}>
            <strong>{field}</strong>: {short(from)} → {short(to)}
          </li>
        );
      })}
    </ul>
  );
}

/** `/test-cases/new`: the form, for triagers and admins. */
export function NewTestCasePage(props: QualityPageProps) {
  const triager = canTriage(useProjectRole(props.projectId));
  return (
    <section class="quality-page">
      <TestsNav projectId={props.projectId} current="catalog" />
      <nav class="crumbs small">
        <Link href={`/p/${props.projectId}/test-cases`}>Test cases</Link> ›
      </nav>
      <h1>New test case</h1>
      {triager ? (
        <TestCaseForm
          projectId={props.projectId}
          onCancel={() => navigate(`/p/${props.projectId}/test-cases`)}
          onSaved={(saved) => navigate(`/p/${props.projectId}/test-cases/${saved.id}`, { replace: true })}
        />
      ) : (
        <EmptyState title="Viewers cannot add test cases">Ask a triager or admin of this project.</EmptyState>
      )}
    </section>
  );
}

const splitList = (text: string, separator: RegExp) => [...new Set(text.split(separator).map((part) => part.trim()).filter(Boolean))];

/** Create or edit: every catalog field, steps as rows of action and expected result. */
function TestCaseForm(props: { projectId: string; initial?: TestCase; onCancel: () => void; onSaved: (saved: TestCase) => void }) {
  const initial = props.initial;
  const facets = useResource(() => api.get<TestCaseFacets>(`/projects/${props.projectId}/test-case-facets`), [props.projectId]);
  const [steps, setSteps] = useState<TestStep[]>(initial?.steps.length ? initial.steps : [{ action: '', expected: '' }]);
  // Controlled fields: a re-render (adding a step) must never reset what was typed.
  const [values, setValues] = useState<Record<string, string>>({
    key: '',
    title: initial?.title ?? '',
    suite: initial?.suite ?? '',
    component: initial?.component ?? '',
    priority: initial?.priority ?? '',
    kind: initial?.kind ?? 'manual',
    tags: initial?.tags.join(', ') ?? '',
    requirements: initial?.requirements.join(' ') ?? '',
    expectedResult: initial?.expectedResult ?? '',
  });
  const bind = (name: string) => ({
    name,
    value: values[name],
    onInput: (event: Event) => setValues((previous) => ({ ...previous, [name]: (event.currentTarget as HTMLInputElement).value })),
  });
  const [error, setError] = useState<string>();
  const [saving, setSaving] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const text = (name: string) => (values[name] ?? '').trim();
    const body = {
      ...(initial ? {} : text('key') ? { key: text('key') } : {}),
      title: text('title'),
      suite: text('suite') || null,
      component: text('component') || null,
      priority: text('priority') || null,
      kind: text('kind') as 'manual' | 'automated',
      tags: splitList(text('tags'), /,/),
      requirements: splitList(text('requirements'), /[,\s]+/),
      steps: steps.filter((step) => step.action.trim()).map((step) => ({ action: step.action.trim(), expected: step.expected?.trim() || null })),
      expectedResult: text('expectedResult') || null,
    };
    setSaving(true);
    setError(undefined);
    try {
      const saved = initial
        ? await api.patch<TestCase>(`/projects/${props.projectId}/test-cases/${initial.id}`, body)
        : await api.post<TestCase>(`/projects/${props.projectId}/test-cases`, body);
      props.onSaved(saved);
    } catch (caught) {
      setError(caught instanceof ApiError ? caught.message : 'Saving failed.');
    } finally {
      setSaving(false);
    }
  };
  const options = (id: string, values: string[] | undefined) => (
    <datalist id={id}>
      {values?.map((value) => (
        <option key={value} value={value} />
      ))}
    </datalist>
  );
  return (
    <form class="panel test-case-form" onSubmit={(event) => void submit(event)}>
      <div class="form-grid">
        {!initial && (
          <label class="field">
            Key (optional; TC-n when empty)
            <input {...bind('key')} placeholder="C123" />
          </label>
        )}
        <label class="field wide">
          Title
          <input {...bind('title')} required maxLength={500} />
        </label>
        <label class="field">
          Suite
          <input {...bind('suite')} list="suites" />
        </label>
        <label class="field">
          Component
          <input {...bind('component')} list="components" />
        </label>
        <label class="field">
          Priority
          <input {...bind('priority')} list="priorities" />
        </label>
        <label class="field">
          Kind
          <select name="kind" value={values.kind} onChange={(event) => setValues((previous) => ({ ...previous, kind: event.currentTarget.value }))}>
            <option value="manual">Manual</option>
            <option value="automated">Automated</option>
          </select>
        </label>
        <label class="field wide">
          Tags (comma-separated)
          <input {...bind('tags')} />
        </label>
        <label class="field wide">
          Requirements (keys like SHOP-12 or URLs)
          <input {...bind('requirements')} />
        </label>
      </div>
      {options('suites', facets.data?.suites)}
      {options('components', facets.data?.components)}
      {options('priorities', ['urgent', 'critical', 'high', 'medium', 'low', ...(facets.data?.priorities ?? [])].filter((value, index, all) => all.indexOf(value) === index))}
      <h3>Steps</h3>
      <ol class="step-rows">
        {steps.map((step, index) => (
          <li key={index} class="step-row">
            <textarea aria-label={`Step ${index + 1} action`} rows={2} value={step.action} onInput={(event) => setSteps(steps.map((entry, at) => (at === index ? { ...entry, action: event.currentTarget.value } : entry)))} />
            <textarea
              aria-label={`Step ${index + 1} expected`}
              rows={2}
              placeholder="Expected"
              value={step.expected ?? ''}
              onInput={(event) => setSteps(steps.map((entry, at) => (at === index ? { ...entry, expected: event.currentTarget.value } : entry)))}
            />
            <button type="button" class="button ghost small" aria-label={`Remove step ${index + 1}`} onClick={() => setSteps(steps.filter((_, at) => at !== index))}>
              ✕
            </button>
          </li>
        ))}
      </ol>
      <button type="button" class="button small" onClick={() => setSteps([...steps, { action: '', expected: '' }])}>
        Add step
      </button>
      <label class="field">
        Expected result
        <textarea {...bind('expectedResult')} rows={3} />
      </label>
      {error && (
        <p class="form-error" role="alert">
          {error}
        </p>
      )}
      <div class="inline-form">
        <button type="submit" class="button primary" disabled={saving}>
          {initial ? 'Save changes' : 'Create test case'}
        </button>
        <button type="button" class="button ghost" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
