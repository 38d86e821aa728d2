import { useState } from 'preact/hooks';
import {
  type DeadLetter,
  type Destination,
  type DestinationKindInfo,
  type RoutingAction,
  type RoutingRule,
  type RoutingTrigger,
  routingTriggerLabels,
  routingTriggers,
  severities,
} from '../../../shared/dashboard-api';
import { ApiError, api } from '../api';
import { dateTime, timeAgo } from '../components/format';
import { configOf, fieldLabel, type FormValues, formValuesOf, SchemaFields } from '../components/schema-form';
import { EmptyState, ErrorState, Loading, type Resource, useResource } from '../components/states';
import { Link } from '../router';

/** Runs a change and keeps the outcome to show under a section. */
export function useFeedback() {
  const [feedback, setFeedback] = useState<{ kind: 'info' | 'error'; text: string }>();
  const run = async (success: string, action: () => Promise<unknown>) => {
    try {
      await action();
      setFeedback({ kind: 'info', text: success });
      return true;
    } catch (error) {
      setFeedback({ kind: 'error', text: error instanceof ApiError ? error.message : 'That did not work.' });
      return false;
    }
  };
  const view = feedback && (
    <p class={`notice notice-${feedback.kind}`} role={feedback.kind === 'error' ? 'alert' : 'status'}>
      {feedback.text}
    </p>
  );
  return { run, view };
}

/**
 * Settings → Integrations: destinations (admins), routing rules (admins) and the dead-letter
 * list (triagers and admins). Destination forms are drawn from each kind's published schema.
 */
export function IntegrationsTab(props: { projectId: string; admin: boolean }) {
  const destinations = useResource(
    () => (props.admin ? api.get<{ destinations: Destination[] }>(`/projects/${props.projectId}/destinations`).then((body) => body.destinations) : Promise.resolve([])),
    [props.projectId, props.admin],
  );
  return (
    <>
      {props.admin && <DestinationsSection projectId={props.projectId} destinations={destinations} />}
      {props.admin && <RoutingSection projectId={props.projectId} destinations={destinations.data ?? []} />}
      <DeadLettersSection projectId={props.projectId} destinations={destinations.data ?? []} />
    </>
  );
}

/** Enable/disable, edit and delete for one destination or rule (PATCH `{ enabled }`, DELETE). */
function RowControls(props: {
  name: string;
  enabled: boolean;
  path: string;
  confirmDelete: string;
  feedback: ReturnType<typeof useFeedback>;
  onEdit: () => void;
  onChanged: () => void;
}) {
  const { feedback } = props;
  return (
    <>
      <button
        type="button"
        class="button small"
        onClick={() => void feedback.run(`${props.name} is ${props.enabled ? 'disabled' : 'enabled'}`, () => api.patch(props.path, { enabled: !props.enabled })).then(props.onChanged)}
      >
        {props.enabled ? 'Disable' : 'Enable'}
      </button>
      <button type="button" class="button small" onClick={props.onEdit}>
        Edit
      </button>
      <button type="button" class="button small ghost" onClick={() => window.confirm(props.confirmDelete) && void feedback.run(`Deleted ${props.name}`, () => api.delete(props.path)).then(props.onChanged)}>
        Delete
      </button>
    </>
  );
}

function DestinationsSection(props: { projectId: string; destinations: Resource<Destination[]> }) {
  const kinds = useResource(() => api.get<{ kinds: DestinationKindInfo[] }>('/integrations/kinds').then((body) => body.kinds), []);
  const [editing, setEditing] = useState<string>();
  const [adding, setAdding] = useState<string>();
  const feedback = useFeedback();
  const { destinations } = props;
  const base = `/projects/${props.projectId}/destinations`;
  const saved = (text: string) => {
    setEditing(undefined);
    setAdding(undefined);
    destinations.reload({ quiet: true });
    void feedback.run(text, async () => undefined);
  };

  let list;
  if (destinations.error || kinds.error) list = <ErrorState error={destinations.error ?? kinds.error} onRetry={() => (destinations.reload(), kinds.reload())} />;
  else if (!destinations.data || !kinds.data) list = <Loading label="Loading destinations…" />;
  else if (destinations.data.length === 0 && !adding) {
    list = (
      <EmptyState title="No destinations yet">
        Add Jira or Linear to file tickets, Slack to alert a channel, a webhook for your own tools, or email to tell reporters when their bug is fixed.
      </EmptyState>
    );
  } else {
    list = destinations.data.map((destination) => {
      const kind = kinds.data!.find((entry) => entry.kind === destination.kind);
      if (editing === destination.id && kind) {
        return <DestinationForm key={destination.id} base={base} kind={kind} existing={destination} onSaved={() => saved(`Saved ${destination.name}`)} onCancel={() => setEditing(undefined)} />;
      }
      return (
        <div key={destination.id} class={`destination ${destination.enabled ? '' : 'disabled'}`} data-destination={destination.id}>
          <div class="destination-head">
            <span class="tag">{kind?.label ?? destination.kind}</span>
            <strong>{destination.name}</strong>
            {!destination.enabled ? <span class="muted small">disabled</span> : destination.configured ? <span class="small secret-set">ready</span> : <span class="form-error small">incomplete: a secret or field is missing</span>}
            <span class="spacer" />
            <RowControls
              name={destination.name}
              enabled={destination.enabled}
              path={`${base}/${destination.id}`}
              confirmDelete={`Delete ${destination.name}? Its ticket links go with it; tickets in the tracker stay.`}
              feedback={feedback}
              onEdit={() => setEditing(destination.id)}
              onChanged={() => destinations.reload({ quiet: true })}
            />
          </div>
          <div class="muted small">
            Secrets: {destination.secretsSet.length ? destination.secretsSet.map((name) => `${fieldLabel(name)} set`).join(', ') : 'none set'} · {destination.maxAttempts} attempts · {destination.timeoutMs / 1000}s timeout
          </div>
          {destination.inboundWebhookUrl && (
            <div class="small">
              Status sync: point the tracker's webhook at <code class="webhook-url">{destination.inboundWebhookUrl}</code>
            </div>
          )}
        </div>
      );
    });
  }

  const addingKind = kinds.data?.find((kind) => kind.kind === adding);
  return (
    <section class="panel" id="destinations">
      <h2>Destinations</h2>
      <p class="muted">Where defects go. Secrets are stored encrypted and never shown again; a form says "set" for the ones stored.</p>
      {list}
      {addingKind ? (
        <DestinationForm base={base} kind={addingKind} onSaved={() => saved(`Added ${addingKind.label}`)} onCancel={() => setAdding(undefined)} />
      ) : (
        kinds.data && (
          <div class="inline-form">
            <span class="muted">Add:</span>
            {kinds.data.map((kind) => (
              <button key={kind.kind} type="button" class="button" onClick={() => (setAdding(kind.kind), setEditing(undefined))}>
                {kind.label}
              </button>
            ))}
          </div>
        )
      )}
      {feedback.view}
    </section>
  );
}

function DestinationForm(props: { base: string; kind: DestinationKindInfo; existing?: Destination; onSaved: () => void; onCancel: () => void }) {
  const { kind, existing } = props;
  const [name, setName] = useState(existing?.name ?? kind.label);
  const [values, setValues] = useState<FormValues>(() => formValuesOf(kind.configSchema, existing?.config ?? {}));
  const [secrets, setSecrets] = useState<Record<string, string>>({});
  const [removed, setRemoved] = useState<Set<string>>(new Set());
  const [maxAttempts, setMaxAttempts] = useState(String(existing?.maxAttempts ?? 8));
  const [timeoutSeconds, setTimeoutSeconds] = useState(String((existing?.timeoutMs ?? 15_000) / 1000));
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  return (
    <form
      class="destination destination-form"
      aria-label={`${kind.label} destination`}
      onSubmit={async (event) => {
        event.preventDefault();
        setBusy(true);
        // Write-only: only typed secrets are sent; "remove" sends null; the rest stay as stored.
        const secretChanges: Record<string, string | null> = {};
        for (const secret of kind.secrets) {
          if (removed.has(secret)) secretChanges[secret] = null;
          else if (secrets[secret]) secretChanges[secret] = secrets[secret];
        }
        const body = { name, config: configOf(kind.configSchema, values), secrets: secretChanges, maxAttempts: Number(maxAttempts), timeoutMs: Math.round(Number(timeoutSeconds) * 1000) };
        try {
          if (existing) await api.patch(`${props.base}/${existing.id}`, body);
          else await api.post(props.base, { kind: kind.kind, ...body });
          props.onSaved();
        } catch (caught) {
          setError(caught instanceof ApiError ? caught.message : 'Not saved.');
          setBusy(false);
        }
      }}
    >
      <h3>{existing ? `Edit ${existing.name}` : `New ${kind.label} destination`}</h3>
      <div class="form-grid">
        <label class="field">
          <span>Name *</span>
          <input name="name" required value={name} onInput={(event) => setName(event.currentTarget.value)} />
        </label>
        <SchemaFields schema={kind.configSchema} values={values} onChange={setValues} />
        {kind.secrets.map((secret) => {
          const stored = existing?.secretsSet.includes(secret) ?? false;
          return (
            <label key={secret} class="field">
              <span>
                {fieldLabel(secret)} {stored && !removed.has(secret) && <span class="secret-set">· set</span>}
              </span>
              <input
                type="password"
                name={`secrets.${secret}`}
                autoComplete="new-password"
                placeholder={stored ? 'set; type to replace' : 'not set'}
                disabled={removed.has(secret)}
                value={secrets[secret] ?? ''}
                onInput={(event) => setSecrets({ ...secrets, [secret]: event.currentTarget.value })}
              />
              {stored && (
                <span class="check small">
                  <input
                    type="checkbox"
                    aria-label={`Remove ${fieldLabel(secret)}`}
                    checked={removed.has(secret)}
                    onChange={(event) => {
                      const next = new Set(removed);
                      if (event.currentTarget.checked) next.add(secret);
                      else next.delete(secret);
                      setRemoved(next);
                    }}
                  />
                  remove
                </span>
              )}
            </label>
          );
        })}
        <label class="field">
          <span>Attempts before the dead-letter list</span>
          <input name="maxAttempts" type="number" min={1} max={50} value={maxAttempts} onInput={(event) => setMaxAttempts(event.currentTarget.value)} />
        </label>
        <label class="field">
          <span>Timeout per call (seconds)</span>
          <input name="timeoutSeconds" type="number" min={0.1} max={120} step={0.1} value={timeoutSeconds} onInput={(event) => setTimeoutSeconds(event.currentTarget.value)} />
        </label>
      </div>
      {error && (
        <p class="form-error" role="alert">
          {error}
        </p>
      )}
      <div class="form-actions">
        <button type="submit" class="button primary" disabled={busy}>
          {existing ? 'Save' : 'Add destination'}
        </button>
        <button type="button" class="button ghost" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

const actionTypes: { type: Exclude<RoutingAction['type'], 'stop'>; label: string; fits: (destination: Destination) => boolean }[] = [
  { type: 'create_ticket', label: 'Create a ticket', fits: (destination) => destination.role === 'tracker' },
  { type: 'notify_slack', label: 'Notify Slack', fits: (destination) => destination.kind === 'slack' },
  { type: 'call_webhook', label: 'Call a webhook', fits: (destination) => destination.kind === 'webhook' },
  { type: 'send_email', label: 'Send an email', fits: (destination) => destination.kind === 'email' },
];

function describeRule(rule: RoutingRule, destinations: Destination[]): { when: string; then: string } {
  const conditions = rule.conditions;
  const parts: string[] = [];
  if (conditions.components?.length) parts.push(`component is ${conditions.components.join(' or ')}`);
  if (conditions.severities?.length) parts.push(`severity is ${conditions.severities.join(' or ')}`);
  if (conditions.origins?.length) parts.push(`origin is ${conditions.origins.join(' or ')}`);
  if (conditions.releases?.length) parts.push(`found in ${conditions.releases.join(' or ')}`);
  if (conditions.minReports) parts.push(`at least ${conditions.minReports} reports`);
  if (conditions.text) parts.push(`text contains "${conditions.text}"`);
  const name = (id: string) => destinations.find((destination) => destination.id === id)?.name ?? 'a deleted destination';
  const then = rule.actions
    .map((action) => (action.type === 'stop' ? 'stop here' : `${actionTypes.find((entry) => entry.type === action.type)?.label ?? action.type} (${name(action.destinationId)})`))
    .join(', then ');
  return { when: `When ${rule.triggers.map((trigger) => routingTriggerLabels[trigger]).join(' or ')}${parts.length ? `, if ${parts.join(' and ')}` : ''}`, then };
}

function RoutingSection(props: { projectId: string; destinations: Destination[] }) {
  const base = `/projects/${props.projectId}/routing-rules`;
  const rules = useResource(() => api.get<{ rules: RoutingRule[] }>(base).then((body) => body.rules), [base]);
  const [editing, setEditing] = useState<string | 'new'>();
  const feedback = useFeedback();
  const move = (index: number, by: number) => {
    const ids = rules.data!.map((rule) => rule.id);
    const [moved] = ids.splice(index, 1);
    ids.splice(index + by, 0, moved);
    void feedback.run('Reordered the rules', async () => rules.setData((await api.put<{ rules: RoutingRule[] }>(`${base}/order`, { ids })).rules));
  };
  const saved = (text: string) => {
    setEditing(undefined);
    rules.reload({ quiet: true });
    void feedback.run(text, async () => undefined);
  };
  return (
    <section class="panel" id="routing">
      <h2>Routing rules</h2>
      <p class="muted">Checked from the top for every trigger; every matching rule acts, until one says "stop". A tracker never gets two tickets for one defect.</p>
      {rules.error ? (
        <ErrorState error={rules.error} onRetry={() => rules.reload()} />
      ) : !rules.data ? (
        <Loading label="Loading rules…" />
      ) : rules.data.length === 0 && editing !== 'new' ? (
        <EmptyState title="No routing rules">
          {props.destinations.length === 0 ? 'Add a destination first, then a rule such as "critical checkout defects → Jira".' : 'Add one, e.g. "every blocker → Jira and Slack", or send defects by hand from their page.'}
        </EmptyState>
      ) : (
        <ol class="rules">
          {rules.data.map((rule, index) =>
            editing === rule.id ? (
              <li key={rule.id}>
                <RuleForm base={base} destinations={props.destinations} existing={rule} onSaved={() => saved(`Saved ${rule.name}`)} onCancel={() => setEditing(undefined)} />
              </li>
            ) : (
              <li key={rule.id} class={`rule ${rule.enabled ? '' : 'disabled'}`} data-rule={rule.name}>
                <span class="rule-order">{index + 1}</span>
                <div class="rule-body">
                  <strong>{rule.name}</strong>
                  {!rule.enabled && <span class="muted small"> · disabled</span>}
                  <div class="small">{describeRule(rule, props.destinations).when}</div>
                  <div class="small muted">→ {describeRule(rule, props.destinations).then}</div>
                </div>
                <div class="rule-controls">
                  <button type="button" class="button small" aria-label={`Move ${rule.name} up`} disabled={index === 0} onClick={() => move(index, -1)}>
                    ↑
                  </button>
                  <button type="button" class="button small" aria-label={`Move ${rule.name} down`} disabled={index === rules.data!.length - 1} onClick={() => move(index, 1)}>
                    ↓
                  </button>
                  <RowControls
                    name={rule.name}
                    enabled={rule.enabled}
                    path={`${base}/${rule.id}`}
                    confirmDelete={`Delete the rule "${rule.name}"?`}
                    feedback={feedback}
                    onEdit={() => setEditing(rule.id)}
                    onChanged={() => rules.reload({ quiet: true })}
                  />
                </div>
              </li>
            ),
          )}
        </ol>
      )}
      {editing === 'new' ? (
        <RuleForm base={base} destinations={props.destinations} onSaved={() => saved('Added the rule')} onCancel={() => setEditing(undefined)} />
      ) : (
        <button type="button" class="button" disabled={props.destinations.length === 0} onClick={() => setEditing('new')}>
          Add rule
        </button>
      )}
      {feedback.view}
    </section>
  );
}

const list = (text: string) =>
  text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);

function RuleForm(props: { base: string; destinations: Destination[]; existing?: RoutingRule; onSaved: () => void; onCancel: () => void }) {
  const existing = props.existing;
  const [name, setName] = useState(existing?.name ?? '');
  const [triggers, setTriggers] = useState<Set<RoutingTrigger>>(new Set(existing?.triggers ?? ['defect_created']));
  const [components, setComponents] = useState(existing?.conditions.components?.join(', ') ?? '');
  const [severitySet, setSeveritySet] = useState<Set<string>>(new Set(existing?.conditions.severities ?? []));
  const [originSet, setOriginSet] = useState<Set<string>>(new Set(existing?.conditions.origins ?? []));
  const [releases, setReleases] = useState(existing?.conditions.releases?.join(', ') ?? '');
  const [minReports, setMinReports] = useState(existing?.conditions.minReports ? String(existing.conditions.minReports) : '');
  const [text, setText] = useState(existing?.conditions.text ?? '');
  const firstFit = (type: string) => props.destinations.find((destination) => actionTypes.find((entry) => entry.type === type)!.fits(destination))?.id ?? '';
  const [actions, setActions] = useState<{ type: string; destinationId: string }[]>(() => {
    if (existing) return existing.actions.filter((action) => action.type !== 'stop').map((action) => ({ type: action.type, destinationId: (action as { destinationId: string }).destinationId }));
    const first = props.destinations[0];
    return first ? [{ type: actionTypes.find((entry) => entry.fits(first))!.type, destinationId: first.id }] : [];
  });
  const [stop, setStop] = useState(existing?.actions.some((action) => action.type === 'stop') ?? false);
  const [error, setError] = useState<string>();
  const toggle = <T,>(set: Set<T>, value: T, on: boolean) => {
    const next = new Set(set);
    if (on) next.add(value);
    else next.delete(value);
    return next;
  };
  return (
    <form
      class="rule rule-form"
      aria-label="Routing rule"
      onSubmit={async (event) => {
        event.preventDefault();
        const conditions: Record<string, unknown> = {};
        if (list(components).length) conditions.components = list(components);
        if (severitySet.size) conditions.severities = severities.filter((severity) => severitySet.has(severity));
        if (originSet.size) conditions.origins = [...originSet];
        if (list(releases).length) conditions.releases = list(releases);
        if (minReports) conditions.minReports = Number(minReports);
        if (text.trim()) conditions.text = text.trim();
        const body = {
          name,
          triggers: routingTriggers.filter((trigger) => triggers.has(trigger)),
          conditions,
          actions: [...actions, ...(stop ? [{ type: 'stop' }] : [])],
        };
        try {
          if (existing) await api.patch(`${props.base}/${existing.id}`, body);
          else await api.post(props.base, body);
          props.onSaved();
        } catch (caught) {
          setError(caught instanceof ApiError ? caught.message : 'Not saved.');
        }
      }}
    >
      <div class="rule-body">
        <div class="form-grid">
          <label class="field wide">
            <span>Name *</span>
            <input name="ruleName" required value={name} placeholder="Critical checkout bugs to Jira" onInput={(event) => setName(event.currentTarget.value)} />
          </label>
          <fieldset class="field wide">
            <legend>When</legend>
            <div class="checks">
              {routingTriggers.map((trigger) => (
                <label key={trigger} class="check">
                  <input type="checkbox" name={`trigger.${trigger}`} checked={triggers.has(trigger)} onChange={(event) => setTriggers(toggle(triggers, trigger, event.currentTarget.checked))} />
                  {routingTriggerLabels[trigger]}
                </label>
              ))}
            </div>
          </fieldset>
          <label class="field">
            <span>Component is (comma-separated)</span>
            <input name="components" value={components} placeholder="Checkout, Cart" onInput={(event) => setComponents(event.currentTarget.value)} />
          </label>
          <label class="field">
            <span>Found in release (comma-separated)</span>
            <input name="releases" value={releases} placeholder="2.4.0" onInput={(event) => setReleases(event.currentTarget.value)} />
          </label>
          <label class="field">
            <span>At least this many reports</span>
            <input name="minReports" type="number" min={1} value={minReports} placeholder="3" onInput={(event) => setMinReports(event.currentTarget.value)} />
          </label>
          <label class="field">
            <span>Title or description contains (all words)</span>
            <input name="text" value={text} placeholder="payment" onInput={(event) => setText(event.currentTarget.value)} />
          </label>
          <fieldset class="field">
            <legend>Severity is</legend>
            <div class="checks">
              {severities.map((severity) => (
                <label key={severity} class="check">
                  <input type="checkbox" name={`severity.${severity}`} checked={severitySet.has(severity)} onChange={(event) => setSeveritySet(toggle(severitySet, severity, event.currentTarget.checked))} />
                  {severity}
                </label>
              ))}
            </div>
          </fieldset>
          <fieldset class="field">
            <legend>Origin is</legend>
            <div class="checks">
              {(['field', 'qa', 'ci'] as const).map((origin) => (
                <label key={origin} class="check">
                  <input type="checkbox" name={`origin.${origin}`} checked={originSet.has(origin)} onChange={(event) => setOriginSet(toggle(originSet, origin, event.currentTarget.checked))} />
                  {origin}
                </label>
              ))}
            </div>
          </fieldset>
          <fieldset class="field wide">
            <legend>Then</legend>
            {actions.map((action, index) => (
              <div key={index} class="action-row">
                <select
                  aria-label={`Action ${index + 1}`}
                  value={action.type}
                  onChange={(event) => {
                    const type = event.currentTarget.value;
                    setActions(actions.map((entry, position) => (position === index ? { type, destinationId: firstFit(type) } : entry)));
                  }}
                >
                  {actionTypes.map((entry) => (
                    <option key={entry.type} value={entry.type}>
                      {entry.label}
                    </option>
                  ))}
                </select>
                <select
                  aria-label={`Destination of action ${index + 1}`}
                  value={action.destinationId}
                  onChange={(event) => {
                    const destinationId = event.currentTarget.value;
                    setActions(actions.map((entry, position) => (position === index ? { ...entry, destinationId } : entry)));
                  }}
                >
                  <option value="">Choose…</option>
                  {props.destinations
                    .filter((destination) => actionTypes.find((entry) => entry.type === action.type)!.fits(destination))
                    .map((destination) => (
                      <option key={destination.id} value={destination.id}>
                        {destination.name}
                      </option>
                    ))}
                </select>
                <button type="button" class="button small ghost" onClick={() => setActions(actions.filter((_, position) => position !== index))}>
                  Remove
                </button>
              </div>
            ))}
            <div class="action-row">
              <button type="button" class="button small" onClick={() => setActions([...actions, { type: 'create_ticket', destinationId: firstFit('create_ticket') }])}>
                Add action
              </button>
              <label class="check small">
                <input type="checkbox" name="stop" checked={stop} onChange={(event) => setStop(event.currentTarget.checked)} />
                then stop (later rules are skipped)
              </label>
            </div>
          </fieldset>
        </div>
        {error && (
          <p class="form-error" role="alert">
            {error}
          </p>
        )}
        <div class="form-actions">
          <button type="submit" class="button primary">
            {existing ? 'Save rule' : 'Add this rule'}
          </button>
          <button type="button" class="button ghost" onClick={props.onCancel}>
            Cancel
          </button>
        </div>
      </div>
    </form>
  );
}

const jobLabels: Record<string, string> = {
  'integration.create_ticket': 'create ticket',
  'integration.attach_screenshot': 'attach screenshot',
  'integration.link_back': 'link back',
  'integration.comment': 'comment',
  'integration.notify': 'notification',
  'integration.notify_reporter': 'email to reporter',
};

function DeadLettersSection(props: { projectId: string; destinations: Destination[] }) {
  const base = `/projects/${props.projectId}/dead-letters`;
  const letters = useResource(() => api.get<{ deadLetters: DeadLetter[] }>(base).then((body) => body.deadLetters), [base]);
  const feedback = useFeedback();
  const name = (id?: string) => (id && props.destinations.find((destination) => destination.id === id)?.name) || 'a destination';
  return (
    <section class="panel" id="dead-letters">
      <h2>Failed deliveries</h2>
      <p class="muted">Deliveries that failed after every retry. Fix the cause (a token, a channel, a tracker that is down), then retry.</p>
      {letters.error ? (
        <ErrorState error={letters.error} onRetry={() => letters.reload()} />
      ) : !letters.data ? (
        <Loading label="Loading failed deliveries…" />
      ) : letters.data.length === 0 ? (
        <p class="muted">Nothing failed. Every delivery reached its destination.</p>
      ) : (
        <table class="compact dead-letters">
          <thead>
            <tr>
              <th>When</th>
              <th>What</th>
              <th>Defect</th>
              <th>Attempts</th>
              <th>Last error</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {letters.data.map((letter) => (
              <tr key={letter.id}>
                <td class="small" title={letter.finishedAt ? dateTime(letter.finishedAt) : undefined}>
                  {letter.finishedAt ? timeAgo(letter.finishedAt) : '—'}
                </td>
                <td>
                  {jobLabels[letter.kind] ?? letter.kind} · {name(letter.payload.destinationId)}
                </td>
                <td>{letter.payload.defectId ? <Link href={`/p/${props.projectId}/defects/${letter.payload.defectId}`}>open</Link> : '—'}</td>
                <td class="number">
                  {letter.attempts}/{letter.maxAttempts}
                </td>
                <td class="small wrap">{letter.lastError ?? '—'}</td>
                <td>
                  <button
                    type="button"
                    class="button small"
                    onClick={() => void feedback.run('Retrying now', () => api.post(`${base}/${letter.id}/retry`)).then((ok) => ok && letters.setData(letters.data!.filter((entry) => entry.id !== letter.id)))}
                  >
                    Retry
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {feedback.view}
    </section>
  );
}

