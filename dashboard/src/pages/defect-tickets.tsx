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
 * "create issue" page. Sending writes an outbox job like every other delivery (202), so the
 * panel polls while something is queued.
 */
export function DefectTickets(props: { projectId: string; defectId: string; triager: boolean; admin: boolean }) {
  const base = `/projects/${props.projectId}/defects/${props.defectId}`;
  const integrations = useResource(() => api.get<DefectIntegrationsResponse>(`${base}/integrations`), [base]);
  const [busy, setBusy] = useState<string>();
  const [feedback, setFeedback] = useState<{ kind: 'info' | 'error'; text: string }>();
  const [waiting, setWaiting] = useState(false);

  const pending = integrations.data?.trackers.some((tracker) => tracker.delivery === 'pending') ?? false;
  useEffect(() => {
    if (!pending && !waiting) return;
    const timer = setInterval(() => integrations.reload({ quiet: true }), pendingPollMs);
    // A notification leaves no trace in this panel: stop looking after a while.
    const stop = waiting ? setTimeout(() => setWaiting(false), 10 * pendingPollMs) : undefined;
    return () => {
      clearInterval(timer);
      clearTimeout(stop);
    };
  }, [pending, waiting, integrations.reload]);

  const send = async (target: Pick<SendTarget, 'destinationId' | 'name' | 'role'>) => {
    setBusy(target.destinationId);
    try {
      await api.post(`${base}/send`, { destinationId: target.destinationId });
      setFeedback({ kind: 'info', text: target.role === 'tracker' ? `Queued for ${target.name}; the ticket appears here in a moment.` : `Sent to ${target.name} (queued).` });
      setWaiting(target.role === 'tracker');
      integrations.reload({ quiet: true });
    } catch (error) {
      setFeedback({ kind: 'error', text: error instanceof ApiError ? error.message : `Could not send to ${target.name}.` });
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
            {notifiers.map((target) => (
              <li key={target.destinationId} class="ticket">
                <div class="ticket-line">
                  <span class="tag">{target.kind}</span>
                  <span class="ticket-name">{target.name}</span>
                  <span class="spacer" />
                  {props.triager && target.configured && (
                    <button type="button" class="button small send-button" disabled={busy === target.destinationId} onClick={() => void send(target)}>
                      Send to {target.name}
                    </button>
                  )}
                  {!target.configured && <span class="muted small">not configured</span>}
                </div>
              </li>
            ))}
          </ul>
        )}
      </>
    );
  }
  return (
    <section class="panel" id="tickets">
      <h2>Tickets and notifications</h2>
      {body}
      {feedback && (
        <p class={`notice notice-${feedback.kind} small`} role={feedback.kind === 'error' ? 'alert' : 'status'}>
          {feedback.text}
        </p>
      )}
    </section>
  );
}
