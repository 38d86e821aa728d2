import { useState } from 'preact/hooks';
import type { ApiTokenSummary, ComponentRule, Member, ProjectResponse, ProjectRole } from '../../../shared/dashboard-api';
import { api } from '../api';
import { dateTime } from '../components/format';
import { ErrorState, Loading, useResource } from '../components/states';
import { Link, useLocation } from '../router';
import { canAdminister, canTriage, useProjectRole, useSession } from '../session';
import { IntegrationsTab, useFeedback } from './settings-integrations';

/** The embed code for a project: one script tag with the public key. */
export function widgetSnippet(origin: string, publicKey: string): string {
  return `<script src="${origin}/widget.js" data-project-key="${publicKey}" async></script>`;
}

const tabs = [
  { id: 'general', label: 'General', who: 'everyone' },
  { id: 'people', label: 'People and tokens', who: 'admin' },
  { id: 'integrations', label: 'Integrations', who: 'triager' },
  { id: 'account', label: 'Your account', who: 'everyone' },
] as const;
type TabId = (typeof tabs)[number]['id'];

/**
 * Per-project settings in tabs (`?tab=`): General (widget snippet with copy and live preview,
 * allowed origins, component rules), People and tokens (admins), Integrations (destinations
 * and routing for admins, failed deliveries for triagers too), Your account. Everyone sees the
 * snippet; what a role may not change is shown read-only or not at all (the API enforces it).
 */
export function SettingsPage(props: { projectId: string }) {
  const role = useProjectRole(props.projectId);
  const admin = canAdminister(role);
  const location = useLocation();
  const project = useResource(() => api.get<ProjectResponse>(`/projects/${props.projectId}`), [props.projectId]);
  const visible = tabs.filter((tab) => tab.who === 'everyone' || (tab.who === 'admin' ? admin : canTriage(role)));
  const asked = location.search.get('tab');
  const tab: TabId = visible.find((entry) => entry.id === asked)?.id ?? 'general';
  if (project.error) return <ErrorState error={project.error} onRetry={() => project.reload()} />;
  if (!project.data) return <Loading label="Loading settings…" />;
  return (
    <section class="settings">
      <h1>Settings · {project.data.project.name}</h1>
      <nav class="tabs" aria-label="Settings sections">
        {visible.map((entry) => (
          <Link key={entry.id} href={`/p/${props.projectId}/settings${entry.id === 'general' ? '' : `?tab=${entry.id}`}`} class={entry.id === tab ? 'active' : ''} aria-current={entry.id === tab ? 'page' : undefined}>
            {entry.label}
          </Link>
        ))}
      </nav>
      {tab === 'general' && (
        <>
          <WidgetSection publicKey={project.data.project.publicKey} origins={project.data.project.allowedOrigins} />
          <OriginsSection projectId={props.projectId} origins={project.data.project.allowedOrigins} editable={admin} onSaved={(data) => project.setData(data)} />
          <RulesSection projectId={props.projectId} editable={admin} />
        </>
      )}
      {tab === 'people' && (
        <>
          <MembersSection projectId={props.projectId} />
          <TokensSection projectId={props.projectId} />
        </>
      )}
      {tab === 'integrations' && <IntegrationsTab projectId={props.projectId} admin={admin} />}
      {tab === 'account' && <AccountSection />}
    </section>
  );
}

function WidgetSection(props: { publicKey: string; origins: string[] }) {
  const snippet = widgetSnippet(location.origin, props.publicKey);
  const [copied, setCopied] = useState(false);
  const [preview, setPreview] = useState(false);
  return (
    <section class="panel">
      <h2>Widget</h2>
      <p class="muted">Paste this before the closing &lt;/body&gt; tag of every page where users should be able to report a bug.</p>
      <div class="snippet">
        <code id="widget-snippet">{snippet}</code>
        <button
          type="button"
          class="button"
          onClick={async () => {
            try {
              await navigator.clipboard.writeText(snippet);
            } catch {
              // Clipboard access needs a secure context; select the text so Ctrl+C works instead.
              const range = document.createRange();
              range.selectNodeContents(document.getElementById('widget-snippet')!);
              getSelection()?.removeAllRanges();
              getSelection()?.addRange(range);
            }
            setCopied(true);
            setTimeout(() => setCopied(false), 2000);
          }}
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
        <button type="button" class="button" onClick={() => setPreview((value) => !value)}>
          {preview ? 'Hide preview' : 'Live preview'}
        </button>
      </div>
      {preview && (
        <p class="muted small">
          This is what your users see. Reports sent from the preview are refused on purpose (it has no origin of its own); send a test report from a page on{' '}
          {props.origins[0] ?? 'one of your allowed origins'} and it appears in the inbox within seconds.
        </p>
      )}
      {preview && (
        <iframe
          class="widget-preview"
          title="Widget preview"
          sandbox="allow-scripts allow-forms"
          srcdoc={`<!doctype html><html><body style="font:15px system-ui;padding:24px;color:#334"><p>This is a blank page with your widget. Click its button to see what your users see.</p>${snippet}</body></html>`}
        />
      )}
    </section>
  );
}

function OriginsSection(props: { projectId: string; origins: string[]; editable: boolean; onSaved: (data: ProjectResponse) => void }) {
  const [text, setText] = useState(props.origins.join('\n'));
  const feedback = useFeedback();
  return (
    <section class="panel">
      <h2>Allowed origins</h2>
      <p class="muted">Only pages on these origins may send reports with this project's key.</p>
      {props.editable ? (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            const allowedOrigins = text.split(/\s+/).filter(Boolean);
            void feedback.run('Saved the allowed origins', async () => {
              const saved = await api.patch<{ project: ProjectResponse['project'] }>(`/projects/${props.projectId}`, { allowedOrigins });
              props.onSaved({ project: saved.project, role: 'admin' });
              setText(saved.project.allowedOrigins.join('\n'));
            });
          }}
        >
          <textarea name="allowedOrigins" aria-label="Allowed origins, one per line" rows={4} value={text} onInput={(event) => setText(event.currentTarget.value)} placeholder="https://app.example.com" />
          <button type="submit" class="button primary">
            Save origins
          </button>
          {feedback.view}
        </form>
      ) : (
        <ul class="plain-list">{props.origins.length ? props.origins.map((origin) => <li key={origin}>{origin}</li>) : <li class="muted">None yet.</li>}</ul>
      )}
    </section>
  );
}

function RulesSection(props: { projectId: string; editable: boolean }) {
  const rules = useResource(() => api.get<{ rules: ComponentRule[] }>(`/projects/${props.projectId}/component-rules`).then((body) => body.rules), [props.projectId]);
  const [pattern, setPattern] = useState('');
  const [component, setComponent] = useState('');
  const [kind, setKind] = useState<'glob' | 'regex'>('glob');
  const feedback = useFeedback();
  // First match wins, so order matters: renumber every rule whose place changed.
  const move = (index: number, by: number) => {
    const ordered = [...rules.data!];
    const [moved] = ordered.splice(index, 1);
    ordered.splice(index + by, 0, moved);
    void feedback
      .run('Reordered the rules', async () => {
        for (const [position, rule] of ordered.entries()) {
          if (rule.position !== position) await api.patch(`/projects/${props.projectId}/component-rules/${rule.id}`, { position });
        }
      })
      .then(() => rules.reload({ quiet: true }));
  };
  return (
    <section class="panel" id="component-rules">
      <h2>Component rules</h2>
      <p class="muted">The first rule whose pattern matches a report's route names its component. Globs: * within a path segment, ** across segments.</p>
      {rules.error ? (
        <ErrorState error={rules.error} onRetry={() => rules.reload()} />
      ) : !rules.data ? (
        <Loading />
      ) : rules.data.length === 0 ? (
        <p class="muted">No rules yet: every report's component is "Unassigned".</p>
      ) : (
        <table class="compact">
          <thead>
            <tr>
              <th>Pattern</th>
              <th>Kind</th>
              <th>Component</th>
              {props.editable && <th />}
            </tr>
          </thead>
          <tbody>
            {rules.data.map((rule, index) => (
              <tr key={rule.id} data-pattern={rule.pattern}>
                <td>
                  <code>{rule.pattern}</code>
                </td>
                <td>{rule.patternKind}</td>
                <td>{rule.component}</td>
                {props.editable && (
                  <td class="rule-controls">
                    <button type="button" class="button small" aria-label={`Move ${rule.pattern} up`} disabled={index === 0} onClick={() => move(index, -1)}>
                      ↑
                    </button>
                    <button type="button" class="button small" aria-label={`Move ${rule.pattern} down`} disabled={index === rules.data!.length - 1} onClick={() => move(index, 1)}>
                      ↓
                    </button>
                    <button
                      type="button"
                      class="button small ghost"
                      onClick={() => void feedback.run('Deleted the rule', () => api.delete(`/projects/${props.projectId}/component-rules/${rule.id}`)).then(() => rules.reload({ quiet: true }))}
                    >
                      Delete
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {props.editable && (
        <form
          class="inline-form"
          onSubmit={(event) => {
            event.preventDefault();
            void feedback
              .run('Added the rule', () => api.post(`/projects/${props.projectId}/component-rules`, { pattern, patternKind: kind, component }))
              .then((ok) => {
                if (ok) {
                  setPattern('');
                  setComponent('');
                }
                rules.reload({ quiet: true });
              });
          }}
        >
          <input name="pattern" aria-label="Pattern" placeholder="/checkout/**" required value={pattern} onInput={(event) => setPattern(event.currentTarget.value)} />
          <select name="patternKind" aria-label="Pattern kind" value={kind} onChange={(event) => setKind(event.currentTarget.value as 'glob' | 'regex')}>
            <option value="glob">glob</option>
            <option value="regex">regex</option>
          </select>
          <input name="component" aria-label="Component" placeholder="Checkout" required value={component} onInput={(event) => setComponent(event.currentTarget.value)} />
          <button type="submit" class="button primary">
            Add rule
          </button>
        </form>
      )}
      {feedback.view}
    </section>
  );
}

function MembersSection(props: { projectId: string }) {
  const members = useResource(() => api.get<{ members: Member[] }>(`/projects/${props.projectId}/members`).then((body) => body.members), [props.projectId]);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<ProjectRole>('triager');
  const feedback = useFeedback();
  const roles: ProjectRole[] = ['viewer', 'triager', 'admin'];
  return (
    <section class="panel" id="members">
      <h2>Users and roles</h2>
      <p class="muted">Viewers read; triagers change defects and comment; admins also manage settings, people and tokens.</p>
      {members.error ? (
        <ErrorState error={members.error} onRetry={() => members.reload()} />
      ) : !members.data ? (
        <Loading />
      ) : (
        <table class="compact">
          <tbody>
            {members.data.map((member) => (
              <tr key={member.userId}>
                <td>{member.email}</td>
                <td>
                  <select
                    aria-label={`Role of ${member.email}`}
                    value={member.role}
                    onChange={(event) =>
                      void feedback
                        .run(`${member.email} is now ${event.currentTarget.value}`, () => api.patch(`/projects/${props.projectId}/members/${member.userId}`, { role: event.currentTarget.value }))
                        .then(() => members.reload({ quiet: true }))
                    }
                  >
                    {roles.map((value) => (
                      <option key={value} value={value}>
                        {value}
                      </option>
                    ))}
                  </select>
                </td>
                <td>
                  <button
                    type="button"
                    class="button small ghost"
                    onClick={() =>
                      window.confirm(`Remove ${member.email} from this project?`) &&
                      void feedback.run(`Removed ${member.email}`, () => api.delete(`/projects/${props.projectId}/members/${member.userId}`)).then(() => members.reload({ quiet: true }))
                    }
                  >
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        class="inline-form"
        onSubmit={(event) => {
          event.preventDefault();
          void feedback
            .run(`Added ${email}`, () => api.post(`/projects/${props.projectId}/members`, { email, role, password: password || undefined }))
            .then((ok) => {
              if (ok) {
                setEmail('');
                setPassword('');
              }
              members.reload({ quiet: true });
            });
        }}
      >
        <input type="email" name="memberEmail" aria-label="Email" placeholder="colleague@example.com" required value={email} onInput={(event) => setEmail(event.currentTarget.value)} />
        <input type="password" name="memberPassword" aria-label="First password (new accounts only)" placeholder="First password (new accounts)" value={password} onInput={(event) => setPassword(event.currentTarget.value)} />
        <select aria-label="Role" value={role} onChange={(event) => setRole(event.currentTarget.value as ProjectRole)}>
          {roles.map((value) => (
            <option key={value} value={value}>
              {value}
            </option>
          ))}
        </select>
        <button type="submit" class="button primary">
          Add person
        </button>
      </form>
      {feedback.view}
    </section>
  );
}

function TokensSection(props: { projectId: string }) {
  const tokens = useResource(() => api.get<{ tokens: ApiTokenSummary[]; scopes: string[] }>(`/projects/${props.projectId}/api-tokens`), [props.projectId]);
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Set<string>>(new Set(['defects:read']));
  const [secret, setSecret] = useState<string>();
  const feedback = useFeedback();
  return (
    <section class="panel" id="tokens">
      <h2>API tokens</h2>
      <p class="muted">For CI and scripts: send as "Authorization: Bearer …". A token is shown once, when created.</p>
      {secret && (
        <div class="notice notice-info secret">
          Copy this token now; it will not be shown again: <code class="token-secret">{secret}</code>
        </div>
      )}
      {tokens.error ? (
        <ErrorState error={tokens.error} onRetry={() => tokens.reload()} />
      ) : !tokens.data ? (
        <Loading />
      ) : (
        <>
          {tokens.data.tokens.length === 0 ? (
            <p class="muted">No tokens yet.</p>
          ) : (
            <table class="compact">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Token</th>
                  <th>Scopes</th>
                  <th>Last used</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {tokens.data.tokens.map((token) => (
                  <tr key={token.id} class={token.revokedAt ? 'revoked' : ''}>
                    <td>{token.name}</td>
                    <td>
                      <code>{token.tokenPrefix}…</code>
                    </td>
                    <td class="small">{token.scopes.join(', ')}</td>
                    <td class="small">{token.lastUsedAt ? dateTime(token.lastUsedAt) : 'never'}</td>
                    <td>
                      {token.revokedAt ? (
                        <span class="muted small">revoked</span>
                      ) : (
                        <button
                          type="button"
                          class="button small ghost"
                          onClick={() =>
                            window.confirm(`Revoke "${token.name}"? Scripts using it stop working at once.`) &&
                            void feedback.run(`Revoked ${token.name}`, () => api.delete(`/projects/${props.projectId}/api-tokens/${token.id}`)).then(() => tokens.reload({ quiet: true }))
                          }
                        >
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <form
            class="inline-form"
            onSubmit={(event) => {
              event.preventDefault();
              void feedback
                .run(`Created ${name}`, async () => {
                  const created = await api.post<{ secret: string }>(`/projects/${props.projectId}/api-tokens`, { name, scopes: [...scopes] });
                  setSecret(created.secret);
                  setName('');
                })
                .then(() => tokens.reload({ quiet: true }));
            }}
          >
            <input name="tokenName" aria-label="Token name" placeholder="CI pipeline" required value={name} onInput={(event) => setName(event.currentTarget.value)} />
            {tokens.data.scopes.map((scope) => (
              <label key={scope} class="check small">
                <input
                  type="checkbox"
                  checked={scopes.has(scope)}
                  onChange={(event) => {
                    const next = new Set(scopes);
                    if (event.currentTarget.checked) next.add(scope);
                    else next.delete(scope);
                    setScopes(next);
                  }}
                />
                {scope}
              </label>
            ))}
            <button type="submit" class="button primary">
              Create token
            </button>
          </form>
        </>
      )}
      {feedback.view}
    </section>
  );
}

function AccountSection() {
  const session = useSession();
  const feedback = useFeedback();
  return (
    <section class="panel">
      <h2>Your account</h2>
      <p class="muted">Signed in as {session.me.user.email}. Lost a laptop? Sign out of every browser at once.</p>
      <button
        type="button"
        class="button"
        onClick={() =>
          window.confirm('Sign out of every browser and device, including this one?') &&
          void feedback.run('Signed out everywhere', () => api.post('/sessions/revoke-all')).then(() => session.refresh())
        }
      >
        Sign out everywhere
      </button>
      {feedback.view}
    </section>
  );
}
