import { useEffect, useState } from 'preact/hooks';
import type { DefectIntegrationsResponse, SendTarget, TrackerDelivery } from '../../../shared/dashboard-api';
import { ApiError, api } from '../api';
import { dateTime, timeAgo } from '../components/format';
import { ErrorState, Loading, useResource } from '../components/states';
import { Link } from '../router';

/** How often the panel looks again while a delivery is queued (the worker usually takes seconds). */
const pendingPollMs = 2000;

const deliveryLabels: Record<TrackerDelivery['delivery'], string> = {
  delivered: 'ticket created',
  pending: 'queued',
  failed: 'failed',
  not_sent: 'not sent',
};

/**
 * Tickets in external trackers and "Send to…": per tracker the ticket (key, link, remote state)
 * or the delivery state; a failed delivery shows its error and the tracker's pre-filled
 * "create issue" page; per notifier the state of its last "Send to…" (queued, sent, failed with
 * the error and a retry). Sending writes an outbox job like every other delivery (202), so the
 * panel polls while something is queued, and every row says the delivery's real state rather
 * than what was asked for.
 */
export function DefectTickets(props: { projectId: string; defectId: string; triager: boolean; admin: boolean }) {
  const base = `/projects/${props.projectId}/defects/${props.defectId}`;
  const integrations = useResource(() => api.get<DefectIntegrationsResponse>(`${base}/integrations`), [base]);
  const [busy, setBusy] = useState<string>();
  /** Only a refused "Send to…" request; what happens to an accepted one is shown in its row. */
  const [sendError, setSendError] = useState<string>();

  const pending =
    (integrations.data?.trackers.some((tracker) => tracker.delivery === 'pending') ?? false) ||
    (integrations.data?.sendTargets.some((target) => target.lastSend?.state === 'queued') ?? false);
  useEffect(() => {
    if (!pending) return;
    const timer = setInterval(() => integrations.reload({ quiet: true }), pendingPollMs);
    return () => clearInterval(timer);
  }, [pending, integrations.reload]);

  const send = async (target: Pick<SendTarget, 'destinationId' | 'name'>) => {
    setBusy(target.destinationId);
    setSendError(undefined);
    try {
      await api.post(`${base}/send`, { destinationId: target.destinationId });
      // The row then shows the new job: queued, and later sent or failed.
      await integrations.reload({ quiet: true });
    } catch (error) {
      setSendError(error instanceof ApiError ? error.message : `Could not send to ${target.name}.`);
    } finally {
      setBusy(undefined);
    }
  };

  let body;
  if (integrations.error) body = <ErrorState error={integrations.error} onRetry={() => integrations.reload()} />;
  else if (!integrations.data) body = <Loading label="Loading tickets…" />;
  else {
    const { trackers, sendTargets, possibleRegressionAt } = integrations.data;
    const notifiers = sendTargets.filter((target) => target.role === 'notifier' && target.enabled);
    const targetOf = (tracker: TrackerDelivery) => sendTargets.find((target) => target.destinationId === tracker.destinationId);
    body = (
      <>
        {possibleRegressionAt && (
          <p class="notice notice-error small" title={dateTime(possibleRegressionAt)}>
            Possible regression: new reports arrived after it was resolved ({timeAgo(possibleRegressionAt)}).
          </p>
        )}
        {sendTargets.length === 0 ? (
          <p class="muted">
            No trackers or channels are set up for this project.{' '}
            {props.admin ? (
              <>
                Add Jira, Linear, Slack, a webhook or email in <Link href={`/p/${props.projectId}/settings?tab=integrations`}>Settings → Integrations</Link>.
              </>
            ) : (
              'An admin can add them in Settings.'
            )}
          </p>
        ) : (
          <ul class="tickets">
            {trackers.map((tracker) => {
              const target = targetOf(tracker);
              const sendable = props.triager && target?.enabled && target.configured;
              return (
                <li key={tracker.destinationId} class={`ticket delivery-${tracker.delivery}`} data-destination={tracker.destinationId}>
                  <div class="ticket-line">
                    <span class="tag">{tracker.kind}</span>
                    <span class="ticket-name">{tracker.name}</span>
                    <span class="spacer" />
                    {tracker.ticket?.key ? (
                      <a href={tracker.ticket.url ?? undefined} target="_blank" rel="noopener noreferrer" class="ticket-key">
                        {tracker.ticket.key}
                      </a>
                    ) : (
                      <span class={`delivery delivery-label-${tracker.delivery}`}>{deliveryLabels[tracker.delivery]}</span>
                    )}
                  </div>
                  {tracker.ticket && (
                    <div class="muted small">
                      {tracker.ticket.stateName ?? tracker.ticket.state ?? 'state unknown'}
                      {tracker.ticket.lastSyncedAt && <> · synced {timeAgo(tracker.ticket.lastSyncedAt)}</>}
                    </div>
                  )}
                  {tracker.delivery === 'pending' && (
                    <p class="muted small delivery-note">
                      {tracker.lastError ? (
                        <>
                          Retrying; the last attempt failed: <span class="delivery-error">{tracker.lastError}</span>
                        </>
                      ) : (
                        'Queued: the ticket appears here when it is created.'
                      )}
                    </p>
                  )}
                  {tracker.delivery === 'failed' && (
                    <div class="ticket-failure small">
                      {tracker.lastError && <p class="form-error">{tracker.lastError}</p>}
                      {tracker.createIssueUrl && (
                        <a class="button small" href={tracker.createIssueUrl} target="_blank" rel="noopener noreferrer">
                          Create the issue in {tracker.kind === 'jira' ? 'Jira' : tracker.kind === 'linear' ? 'Linear' : tracker.name} by hand ↗
                        </a>
                      )}
                    </div>
                  )}
                  {!target?.enabled && <p class="muted small">Disabled in settings.</p>}
                  {sendable && tracker.delivery !== 'delivered' && tracker.delivery !== 'pending' && (
                    <button type="button" class="button small send-button" disabled={busy === tracker.destinationId} onClick={() => void send({ ...target, name: tracker.name })}>
                      {tracker.delivery === 'failed' ? `Retry ${tracker.name}` : `Send to ${tracker.name}`}
                    </button>
                  )}
                </li>
              );
            })}
            {notifiers.map((target) => {
              const last = target.lastSend;
              const queued = last?.state === 'queued';
              return (
                <li key={target.destinationId} class={`ticket notifier${last ? ` delivery-${last.state}` : ''}`} data-destination={target.destinationId}>
                  <div class="ticket-line">
                    <span class="tag">{target.kind}</span>
                    <span class="ticket-name">{target.name}</span>
                    <span class="spacer" />
                    {last && (
                      <span class={`delivery delivery-label-${last.state}`} title={dateTime(last.sentAt ?? last.queuedAt)}>
                        {last.state === 'sent' ? `sent ${timeAgo(last.sentAt ?? last.queuedAt)}` : last.state}
                      </span>
                    )}
                    {props.triager && target.configured && !queued && (
                      <button type="button" class="button small send-button" disabled={busy === target.destinationId} onClick={() => void send(target)}>
                        {last?.state === 'failed' ? `Retry ${target.name}` : last?.state === 'sent' ? `Send to ${target.name} again` : `Send to ${target.name}`}
                      </button>
                    )}
                    {!target.configured && <span class="muted small">not configured</span>}
                  </div>
                  {queued && <p class="muted small delivery-note">{last.error ? <>Retrying; the last attempt failed: <span class="delivery-error">{last.error}</span></> : 'Queued: it goes out in a moment.'}</p>}
                  {last?.state === 'failed' && <p class="form-error small">{last.error ?? 'The delivery failed.'}</p>}
                </li>
              );
            })}
          </ul>
        )}
      </>
    );
  }
  return (
    <section class="panel" id="tickets">
      <h2>Tickets and notifications</h2>
      {body}
      {sendError && (
        <p class="notice notice-error small" role="alert">
          {sendError}
        </p>
      )}
    </section>
  );
}
