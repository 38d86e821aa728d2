import { useEffect, useRef, useState } from 'preact/hooks';
import {
  type DefectComment,
  type DefectDetailResponse,
  type DefectEvent,
  type DefectReport,
  type DefectStatus,
  type DuplicateCandidate,
  type Member,
  type Release,
  type ReportAttachment,
  defectStatusLabels,
  priorities,
  settableStatuses,
  severities,
} from '../../../shared/dashboard-api';
import { ApiError, api } from '../api';
import { SeverityBadge, StatusBadge } from '../components/badges';
import { dateTime, formatNumber, isTyping, timeAgo } from '../components/format';
import { ScreenshotViewer } from '../components/screenshot-viewer';
import { EmptyState, ErrorState, Loading, useResource } from '../components/states';
import { StatusPicker } from '../components/status-picker';
import { ExternalLink, UserText } from '../components/user-text';
import { Link, navigate } from '../router';
import { canAdminister, canTriage, useProjectRole } from '../session';
import { DefectTests } from './defect-tests';
import { DefectTickets } from './defect-tickets';

/**
 * One defect: its reports (screenshots, words, expected vs actual, steps, console, network,
 * metadata), the browser/OS breakdown, possible duplicates, triage fields, comments and history.
 */
export function DefectPage(props: { projectId: string; defectKey: string }) {
  const base = `/projects/${props.projectId}/defects/${encodeURIComponent(props.defectKey)}`;
  const detail = useResource(() => api.get<DefectDetailResponse>(base), [base]);
  const reports = useResource(() => api.get<{ reports: DefectReport[]; hasMore: boolean }>(`${base}/reports?limit=20`), [base]);
  const comments = useResource(() => api.get<{ comments: DefectComment[] }>(`${base}/comments`).then((body) => body.comments), [base]);
  const events = useResource(() => api.get<{ events: DefectEvent[] }>(`${base}/events`).then((body) => body.events), [base]);
  const role = useProjectRole(props.projectId);
  const triager = canTriage(role);
  const [picker, setPicker] = useState(false);
  const [notice, setNotice] = useState<{ kind: 'info' | 'error'; text: string }>();

  const reloadAll = () => {
    detail.reload({ quiet: true });
    reports.reload({ quiet: true });
    comments.reload({ quiet: true });
    events.reload({ quiet: true });
  };

  const change = async (changes: Record<string, unknown>) => {
    try {
      detail.setData(await api.patch<DefectDetailResponse>(base, changes));
      events.reload({ quiet: true });
      setNotice(undefined);
    } catch (error) {
      setNotice({ kind: 'error', text: error instanceof ApiError ? error.message : 'The change failed.' });
    }
  };

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (isTyping(event) || event.metaKey || event.ctrlKey || event.altKey || !triager) return;
      if (event.key === 's') {
        event.preventDefault();
        setPicker(true);
      } else if (event.key === 'm') {
        event.preventDefault();
        document.getElementById('duplicates')?.scrollIntoView({ block: 'start' });
        (document.querySelector('#duplicates .merge-button') as HTMLButtonElement | null)?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [triager]);

  // Live: new reports, comments and changes by teammates appear without a reload.
  const reloadRef = useRef(reloadAll);
  reloadRef.current = reloadAll;
  useEffect(() => {
    let cursor: string | null | undefined;
    const poll = async () => {
      if (document.hidden) return;
      try {
        const next = (await api.get<{ cursor: string | null }>(`/projects/${props.projectId}/activity`)).cursor;
        if (cursor !== undefined && next !== cursor) reloadRef.current();
        cursor = next;
      } catch {
        // retried on the next tick
      }
    };
    void poll();
    const timer = setInterval(poll, 5000);
    return () => clearInterval(timer);
  }, [base]);

  if (detail.error) {
    return detail.error instanceof ApiError && detail.error.status === 404 ? (
      <EmptyState title="Defect not found">
        It may have been deleted, or the key is wrong. Back to the <Link href={`/p/${props.projectId}`}>inbox</Link>.
      </EmptyState>
    ) : (
      <ErrorState error={detail.error} onRetry={() => detail.reload()} />
    );
  }
  if (!detail.data) return <Loading label="Loading the defect…" />;
  const { defect } = detail.data;

  return (
    <article class="defect">
      <nav class="crumbs">
        <Link href={`/p/${props.projectId}`}>← Inbox</Link>
      </nav>
      <header class="defect-head">
        <span class="key">{defect.key}</span>
        <h1>
          <UserText text={defect.title} />
        </h1>
        <StatusBadge status={defect.status} />
        <SeverityBadge severity={defect.severity} />
        {defect.coverageGap && <span class="tag tag-gap">coverage gap</span>}
      </header>
      <p class="muted defect-facts">
        {formatNumber(defect.reportCount)} report(s) from {formatNumber(defect.affectedUsers)} user(s) · first seen {timeAgo(defect.firstSeenAt)} · last seen{' '}
        {timeAgo(defect.lastSeenAt)} · origin {defect.origin}
        {defect.route && <> · route {defect.route}</>}
        {defect.reopenCount > 0 && <> · reopened {defect.reopenCount}×</>}
      </p>
      {defect.mergedIntoKey && (
        <p class="notice notice-info">
          Merged into <Link href={`/p/${props.projectId}/defects/${defect.mergedIntoKey}`}>{defect.mergedIntoKey}</Link>.
        </p>
      )}
      {notice && (
        <p class={`notice notice-${notice.kind}`} role="alert">
          {notice.text}
        </p>
      )}

      <div class="defect-layout">
        <div class="defect-main">
          <section class="panel">
            <h2>Reports</h2>
            {reports.error ? (
              <ErrorState error={reports.error} onRetry={() => reports.reload()} />
            ) : !reports.data ? (
              <Loading label="Loading reports…" />
            ) : reports.data.reports.length === 0 ? (
              <EmptyState title="No reports on this defect">It was created by hand or its reports were split out.</EmptyState>
            ) : (
              reports.data.reports.map((report) => (
                <ReportCard
                  key={report.id}
                  projectId={props.projectId}
                  report={report}
                  canSplit={triager && reports.data!.reports.length > 1}
                  onSplit={async () => {
                    try {
                      const result = await api.post<{ defect: { key: string } }>(`/projects/${props.projectId}/reports/${report.id}/split`, {});
                      setNotice({ kind: 'info', text: `Split out into ${result.defect.key}` });
                      reloadAll();
                    } catch (error) {
                      setNotice({ kind: 'error', text: error instanceof ApiError ? error.message : 'Split failed.' });
                    }
                  }}
                />
              ))
            )}
            {reports.data?.hasMore && <p class="muted">Showing the 20 newest reports.</p>}
          </section>

          <Duplicates projectId={props.projectId} defectId={defect.id} triager={triager} onChanged={reloadAll} onError={(text) => setNotice({ kind: 'error', text })} />

          <section class="panel" id="comments">
            <h2>Comments</h2>
            {comments.error ? (
              <ErrorState error={comments.error} onRetry={() => comments.reload()} />
            ) : !comments.data ? (
              <Loading />
            ) : comments.data.length === 0 ? (
              <p class="muted">No comments yet.</p>
            ) : (
              <ul class="comments">
                {comments.data.map((comment) => (
                  <li key={comment.id} class="comment">
                    <div class="comment-meta">
                      <strong>{comment.authorName ?? comment.authorEmail ?? 'Someone'}</strong> <span class="muted" title={dateTime(comment.createdAt)}>{timeAgo(comment.createdAt)}</span>
                    </div>
                    <div class="comment-body">
                      <UserText text={comment.body} />
                    </div>
                  </li>
                ))}
              </ul>
            )}
            {triager && <CommentForm base={base} onPosted={() => (comments.reload({ quiet: true }), events.reload({ quiet: true }))} />}
          </section>

          <section class="panel">
            <h2>History</h2>
            {events.error ? <ErrorState error={events.error} onRetry={() => events.reload()} /> : !events.data ? <Loading /> : <Timeline events={events.data} />}
          </section>
        </div>

        <aside class="defect-side">
          <TriageFields projectId={props.projectId} detail={detail.data} editable={triager} onChange={change} />
          <section class="panel">
            <h2>Where it happens</h2>
            {(['browser', 'os', 'device'] as const).map((dimension) => (
              <Breakdown key={dimension} title={{ browser: 'Browser', os: 'Operating system', device: 'Device' }[dimension]} entries={detail.data!.breakdown[dimension]} />
            ))}
          </section>
          <DefectTests
            projectId={props.projectId}
            defectId={defect.id}
            origin={defect.origin}
            coverageGap={defect.coverageGap}
            triager={triager}
            onChanged={() => (detail.reload({ quiet: true }), events.reload({ quiet: true }))}
          />
          <DefectTickets projectId={props.projectId} defectId={defect.id} triager={triager} admin={canAdminister(role)} />
        </aside>
      </div>
      {picker && (
        <StatusPicker
          title={`Set status of ${defect.key}`}
          current={defect.status}
          onClose={() => setPicker(false)}
          onPick={(status: DefectStatus) => {
            setPicker(false);
            void change({ status });
          }}
        />
      )}
    </article>
  );
}

function TriageFields(props: { projectId: string; detail: DefectDetailResponse; editable: boolean; onChange: (changes: Record<string, unknown>) => void }) {
  const { defect } = props.detail;
  const lists = useResource(
    () =>
      Promise.all([
        api.get<{ members: Member[] }>(`/projects/${props.projectId}/members`),
        api.get<{ releases: Release[] }>(`/projects/${props.projectId}/releases`),
      ]).then(([members, releases]) => ({ members: members.members, releases: releases.releases })),
    [props.projectId],
  );
  if (!props.editable) {
    const rows: [string, string | null][] = [
      ['Status', defectStatusLabels[defect.status]],
      ['Severity', defect.severity],
      ['Priority', defect.priority],
      ['Assignee', defect.assigneeEmail],
      ['Component', defect.component],
      ['Found in', defect.foundInRelease],
      ['Fixed in', defect.fixedInRelease],
    ];
    return (
      <section class="panel triage">
        <h2>Triage</h2>
        <dl class="facts">
          {rows.map(([label, value]) => (
            <>
              <dt>{label}</dt>
              <dd>{value ?? <span class="muted">—</span>}</dd>
            </>
          ))}
        </dl>
      </section>
    );
  }
  const select = (label: string, field: string, value: string | null, options: [string, string][], allowNone = true) => (
    <label class="field">
      <span>{label}</span>
      <select
        name={field}
        value={value ?? ''}
        onChange={(event) => props.onChange({ [field]: event.currentTarget.value === '' ? null : event.currentTarget.value })}
      >
        {allowNone && <option value="">—</option>}
        {options.map(([optionValue, optionLabel]) => (
          <option key={optionValue} value={optionValue}>
            {optionLabel}
          </option>
        ))}
      </select>
    </label>
  );
  const releaseOptions = (lists.data?.releases ?? []).map((release) => [release.id, release.version] as [string, string]);
  return (
    <section class="panel triage">
      <h2>Triage</h2>
      {select(
        'Status (s)',
        'status',
        defect.status === 'reopened' ? 'reopened' : defect.status,
        [...settableStatuses.map((status) => [status, defectStatusLabels[status]] as [string, string]), ...(defect.status === 'reopened' ? [['reopened', 'Reopened'] as [string, string]] : [])],
        false,
      )}
      {select('Severity', 'severity', defect.severity, severities.map((value) => [value, value]))}
      {select('Priority', 'priority', defect.priority, priorities.map((value) => [value, value]))}
      {select('Assignee', 'assigneeId', defect.assigneeId, (lists.data?.members ?? []).map((member) => [member.userId, member.name ?? member.email]))}
      <label class="field">
        <span>Component</span>
        <input
          name="component"
          value={defect.component ?? ''}
          onChange={(event) => props.onChange({ component: event.currentTarget.value.trim() || null })}
        />
      </label>
      {select('Found in release', 'foundInReleaseId', defect.foundInReleaseId, releaseOptions)}
      {select('Fixed in release', 'fixedInReleaseId', defect.fixedInReleaseId, releaseOptions)}
      {lists.error && <p class="muted small">Assignees and releases could not be loaded.</p>}
    </section>
  );
}

function Breakdown(props: { title: string; entries: { name: string; count: number }[] }) {
  const total = props.entries.reduce((sum, entry) => sum + entry.count, 0);
  if (total === 0) return null;
  return (
    <div class="breakdown">
      <h3>{props.title}</h3>
      {props.entries.slice(0, 6).map((entry) => (
        <div key={entry.name} class="bar-row">
          <span class="bar-label">{entry.name}</span>
          <span class="bar">
            <span class="bar-fill" style={{ width: `${(entry.count / total) * 100}%` }} />
          </span>
          <span class="bar-count">{entry.count}</span>
        </div>
      ))}
    </div>
  );
}

interface ConsoleEntry {
  level: string;
  message: string;
  stack?: string;
  time: number;
}
interface NetworkEntry {
  method: string;
  url: string;
  status: number;
  durationMs: number;
  error?: string;
}
interface Breadcrumb {
  kind: string;
  time: number;
  selector?: string;
  text?: string;
  from?: string;
  to?: string;
  message?: string;
}

/** One breadcrumb in words: what was clicked (text and selector), where it went, or its message. */
function describeBreadcrumb(crumb: Breadcrumb): string {
  const move = crumb.from && crumb.to ? `${crumb.from} → ${crumb.to}` : (crumb.to ?? crumb.from);
  return [crumb.text && `“${crumb.text}”`, crumb.selector, move, crumb.message].filter(Boolean).join(' · ');
}

function ReportCard(props: { projectId: string; report: DefectReport; canSplit: boolean; onSplit: () => void }) {
  const { report } = props;
  const [viewing, setViewing] = useState<ReportAttachment>();
  const payload = report.payload as {
    console?: ConsoleEntry[];
    network?: NetworkEntry[];
    breadcrumbs?: Breadcrumb[];
    metadata?: Record<string, unknown>;
    pageTitle?: string;
    user?: { id?: string; email?: string; name?: string };
  };
  const signedInAs = [payload.user?.name, payload.user?.email, payload.user?.id && `id ${payload.user.id}`].filter(Boolean).join(' · ');
  const breadcrumbs = payload.breadcrumbs ?? [];
  const enrichment = report.enrichment as { steps?: string | null; device?: { browser?: { name?: string; version?: string }; os?: { name?: string; version?: string }; device?: { type?: string } } };
  const errors = (payload.console ?? []).filter((entry) => entry.level === 'error' || entry.level === 'warn');
  const failed = (payload.network ?? []).filter((entry) => entry.status === 0 || entry.status >= 400);
  const steps = report.steps ?? enrichment.steps ?? null;
  const device = enrichment.device;
  const screenshots = report.attachments.filter((attachment) => attachment.contentType.startsWith('image/'));
  return (
    <div class="report" data-report-id={report.id}>
      <div class="report-meta">
        <span title={dateTime(report.receivedAt)}>{timeAgo(report.receivedAt)}</span>
        {report.reporterEmail && (
          <span>
            · <UserText text={report.reporterEmail} />
          </span>
        )}
        {device?.browser?.name && (
          <span>
            · {device.browser.name} {device.browser.version} on {device.os?.name ?? 'unknown OS'} {device.os?.version ?? ''} ({device.device?.type ?? 'unknown'})
          </span>
        )}
        {signedInAs && (
          <span class="reporter-user">
            · signed in as <UserText text={signedInAs} />
          </span>
        )}
        {report.release && <span>· release {report.release}</span>}
        {report.environment && <span>· {report.environment}</span>}
        <span class="spacer" />
        {props.canSplit && (
          <button type="button" class="button small" onClick={props.onSplit} title="Move this report to a defect of its own">
            Split out
          </button>
        )}
      </div>
      <div class="report-body">
        <div class="report-words">
          <h3>What happened</h3>
          <p class="prose">
            <UserText text={report.description} />
          </p>
          {report.expected && (
            <div class="expected-actual">
              <div>
                <h4>Expected</h4>
                <p class="prose">
                  <UserText text={report.expected} />
                </p>
              </div>
              <div>
                <h4>Actual</h4>
                <p class="prose">
                  <UserText text={report.description} />
                </p>
              </div>
            </div>
          )}
          {steps && (
            <>
              <h4>Steps{report.steps ? '' : ' (drafted from the clicks before the report)'}</h4>
              <pre class="steps">
                <UserText text={steps} />
              </pre>
            </>
          )}
          {report.url && (
            <p class="small">
              Page: {payload.pageTitle && <UserText class="page-title" text={`${payload.pageTitle} · `} />}
              <ExternalLink url={report.url} />
            </p>
          )}
        </div>
        {screenshots.map((attachment) => (
          <button key={attachment.id} type="button" class="thumbnail" onClick={() => setViewing(attachment)} aria-label="View screenshot">
            <img src={`/api/v1/projects/${props.projectId}/attachments/${attachment.id}`} alt="Screenshot" loading="lazy" />
          </button>
        ))}
      </div>
      {errors.length > 0 && (
        <details class="report-section" open>
          <summary>Console errors ({errors.length})</summary>
          {errors.map((entry, index) => (
            <div key={index} class={`console console-${entry.level}`}>
              <code>
                <UserText text={entry.message} />
              </code>
              {entry.stack && (
                <pre>
                  <UserText text={entry.stack} />
                </pre>
              )}
            </div>
          ))}
        </details>
      )}
      {failed.length > 0 && (
        <details class="report-section" open>
          <summary>Failed requests ({failed.length})</summary>
          <table class="compact">
            <tbody>
              {failed.map((entry, index) => (
                <tr key={index}>
                  <td>{entry.method}</td>
                  <td class="wrap">
                    <UserText text={entry.url} />
                    {entry.error && (
                      <div class="small muted">
                        <UserText text={entry.error} />
                      </div>
                    )}
                  </td>
                  <td class="status-code">{entry.status || 'no answer'}</td>
                  <td class="number">{Math.round(entry.durationMs)} ms</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
      {breadcrumbs.length > 0 && (
        <details class="report-section">
          <summary>Clicks and navigation before the report ({breadcrumbs.length})</summary>
          <ol class="breadcrumbs small">
            {breadcrumbs.map((crumb, index) => (
              <li key={index}>
                <span class="tag">{crumb.kind}</span> <UserText text={describeBreadcrumb(crumb)} />
              </li>
            ))}
          </ol>
        </details>
      )}
      {payload.metadata && Object.keys(payload.metadata).length > 0 && (
        <details class="report-section">
          <summary>Metadata</summary>
          <dl class="facts">
            {Object.entries(payload.metadata).map(([key, value]) => (
              <>
                <dt>
                  <UserText text={key} />
                </dt>
                <dd>
                  <UserText text={String(value)} />
                </dd>
              </>
            ))}
          </dl>
        </details>
      )}
      {viewing && <ScreenshotViewer projectId={props.projectId} attachment={viewing} onClose={() => setViewing(undefined)} />}
    </div>
  );
}

function Duplicates(props: { projectId: string; defectId: string; triager: boolean; onChanged: () => void; onError: (text: string) => void }) {
  const base = `/projects/${props.projectId}/defects/${props.defectId}`;
  const candidates = useResource(() => api.get<{ candidates: DuplicateCandidate[] }>(`${base}/candidates`).then((body) => body.candidates), [base]);
  const act = async (action: () => Promise<unknown>) => {
    try {
      await action();
      candidates.reload({ quiet: true });
      props.onChanged();
    } catch (error) {
      props.onError(error instanceof ApiError ? error.message : 'The action failed.');
    }
  };
  return (
    <section class="panel" id="duplicates">
      <h2>Possible duplicates</h2>
      {candidates.error ? (
        candidates.error instanceof ApiError && candidates.error.status === 404 && candidates.error.message.startsWith('No route') ? (
          <p class="muted">Duplicate suggestions are not available on this server yet.</p>
        ) : (
          <ErrorState error={candidates.error} onRetry={() => candidates.reload()} />
        )
      ) : !candidates.data ? (
        <Loading />
      ) : candidates.data.length === 0 ? (
        <p class="muted">No likely duplicates.</p>
      ) : (
        <ul class="candidates">
          {candidates.data.map((candidate) => (
            <li key={candidate.defectId} class="candidate">
              <span class="score" title="Similarity score">
                {Math.round(candidate.score * 100)}%
              </span>
              <Link href={`/p/${props.projectId}/defects/${candidate.key}`} class="key">
                {candidate.key}
              </Link>
              <span class="candidate-title">
                <UserText text={candidate.title} />
              </span>
              <StatusBadge status={candidate.status} />
              <span class="muted small">{candidate.reportCount} report(s)</span>
              <span class="signals muted small">
                {Object.entries(candidate.signals)
                  .filter(([, value]) => value > 0)
                  .map(([name, value]) => `${name} ${Math.round(value * 100)}%`)
                  .join(' · ')}
              </span>
              {props.triager && (
                <span class="candidate-actions">
                  <button
                    type="button"
                    class="button small merge-button"
                    onClick={() =>
                      window.confirm(`Merge this defect into ${candidate.key}? Its reports move there.`) &&
                      void act(async () => {
                        await api.post(`${base}/merge`, { targetDefectId: candidate.defectId });
                        navigate(`/p/${props.projectId}/defects/${candidate.key}`);
                      })
                    }
                  >
                    Merge into {candidate.key} (m)
                  </button>
                  <button type="button" class="button small ghost" onClick={() => void act(() => api.post(`${base}/not-duplicate`, { otherDefectId: candidate.defectId }))}>
                    Not a duplicate
                  </button>
                </span>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function CommentForm(props: { base: string; onPosted: () => void }) {
  const [body, setBody] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  return (
    <form
      class="comment-form"
      onSubmit={async (event) => {
        event.preventDefault();
        if (!body.trim()) return;
        setBusy(true);
        try {
          await api.post(`${props.base}/comments`, { body });
          setBody('');
          setError(undefined);
          props.onPosted();
        } catch (caught) {
          setError(caught instanceof ApiError ? caught.message : 'The comment was not saved.');
        } finally {
          setBusy(false);
        }
      }}
    >
      <textarea name="comment" aria-label="Comment" rows={3} placeholder="Add a comment for the team (plain text)" value={body} onInput={(event) => setBody(event.currentTarget.value)} />
      {error && (
        <p class="form-error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" class="button primary" disabled={busy || !body.trim()}>
        Comment
      </button>
    </form>
  );
}

function describeEvent(event: DefectEvent): string {
  const value = (input: unknown) => (input === null || input === undefined ? 'nothing' : typeof input === 'string' ? (defectStatusLabels as Record<string, string>)[input] ?? input : JSON.stringify(input));
  switch (event.kind) {
    case 'created':
      return 'created the defect';
    case 'report_added':
      return 'added a report';
    case 'status_changed':
      return `changed status from ${value(event.oldValue)} to ${value(event.newValue)}`;
    case 'field_changed':
      return `changed ${event.field} from ${value(event.oldValue)} to ${value(event.newValue)}`;
    case 'commented':
      return 'commented';
    default:
      return event.kind.replace(/_/g, ' ');
  }
}

function Timeline(props: { events: DefectEvent[] }) {
  return (
    <ol class="timeline">
      {props.events.map((event) => (
        <li key={event.id}>
          <span class="muted small" title={dateTime(event.createdAt)}>
            {timeAgo(event.createdAt)}
          </span>{' '}
          <strong>{event.actorEmail ?? (event.actorKind === 'system' ? 'Bugloop' : event.actorKind)}</strong> {describeEvent(event)}
        </li>
      ))}
    </ol>
  );
}
