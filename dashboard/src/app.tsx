import { useCallback, useEffect, useState } from 'preact/hooks';
import type { MeResponse } from '../../shared/dashboard-api';
import { ApiError, api, setCsrfToken, setUnauthenticatedHandler } from './api';
import { ShortcutsHelp } from './components/shortcuts-help';
import { ErrorState, Loading, EmptyState } from './components/states';
import { isTyping } from './components/format';
import { DefectPage } from './pages/defect';
import { InboxPage } from './pages/inbox';
import { SettingsPage } from './pages/settings';
import { SignInPage } from './pages/sign-in';
import { Link, matchPath, navigate, useLocation } from './router';
import { QualityNavLinks, qualityPage } from './quality-routes';
import { SessionContext, type Session } from './session';

/** The dashboard shell: session, top bar with project switcher, pages by path, `?` help. */
export function App() {
  const [me, setMe] = useState<MeResponse | null>();
  const [error, setError] = useState<unknown>();
  const [help, setHelp] = useState(false);
  const location = useLocation();

  const refresh = useCallback(async () => {
    try {
      const data = await api.get<MeResponse>('/me');
      setCsrfToken(data.csrfToken);
      setMe(data);
      setError(undefined);
    } catch (caught) {
      if (caught instanceof ApiError && caught.status === 401) setMe(null);
      else setError(caught);
    }
  }, []);

  useEffect(() => {
    setUnauthenticatedHandler(() => setMe(null));
    void refresh();
  }, [refresh]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === '?' && !isTyping(event)) setHelp(true);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  if (error) return <ErrorState error={error} onRetry={() => void refresh()} />;
  if (me === undefined) return <Loading />;
  if (me === null) {
    return (
      <SignInPage
        onSignedIn={async () => {
          await refresh();
          if (location.path === '/sign-in') navigate('/', { replace: true });
        }}
      />
    );
  }

  const session: Session = {
    me,
    refresh,
    signOut: async () => {
      await api.delete('/session').catch(() => undefined);
      setMe(null);
      navigate('/', { replace: true });
    },
  };
  const projectId = /^\/p\/([^/]+)/.exec(location.path)?.[1];
  const current = me.projects.find((project) => project.id === projectId);

  let page;
  let params: Record<string, string> | undefined;
  let quality;
  if (me.projects.length === 0) {
    page = (
      <EmptyState title="You are not in any project yet">
        Ask an admin of your Bugloop instance to add you to a project with the role you need.
      </EmptyState>
    );
  } else if (location.path === '/' || location.path === '/sign-in' || !current) {
    if (location.path === '/' || location.path === '/sign-in') {
      queueMicrotask(() => navigate(`/p/${me.projects[0].id}`, { replace: true }));
      page = <Loading />;
    } else page = <EmptyState title="Project not found">It does not exist or you have no access. Pick a project above.</EmptyState>;
  } else if ((params = matchPath('/p/:projectId', location.path))) {
    page = <InboxPage projectId={params.projectId} search={location.search} />;
  } else if ((params = matchPath('/p/:projectId/defects/:defectKey', location.path))) {
    page = <DefectPage projectId={params.projectId} defectKey={params.defectKey} />;
  } else if ((params = matchPath('/p/:projectId/settings', location.path))) {
    page = <SettingsPage projectId={params.projectId} />;
  } else if ((quality = qualityPage(location.path, location.search))) {
    page = quality;
  } else {
    page = <EmptyState title="Page not found">Go back to the <Link href={`/p/${current.id}`}>inbox</Link>.</EmptyState>;
  }

  return (
    <SessionContext.Provider value={session}>
      <header class="topbar">
        <Link class="brand" href={current ? `/p/${current.id}` : '/'}>
          Bugloop
        </Link>
        {me.projects.length > 0 && (
          <select
            class="project-switcher"
            aria-label="Project"
            value={current?.id ?? ''}
            onChange={(event) => navigate(`/p/${event.currentTarget.value}`)}
          >
            {!current && <option value="">Choose a project</option>}
            {me.projects.map((project) => (
              <option key={project.id} value={project.id}>
                {project.name}
              </option>
            ))}
          </select>
        )}
        {current && (
          <nav class="nav">
            <Link href={`/p/${current.id}`} class={matchPath('/p/:projectId', location.path) ? 'active' : ''}>
              Inbox
            </Link>
            <QualityNavLinks projectId={current.id} path={location.path} />
            <Link href={`/p/${current.id}/settings`} class={location.path.endsWith('/settings') ? 'active' : ''}>
              Settings
            </Link>
          </nav>
        )}
        <span class="spacer" />
        {current && <span class={`role-badge role-${current.role}`}>{current.role}</span>}
        <button type="button" class="button ghost" onClick={() => setHelp(true)} title="Keyboard shortcuts (?)">
          ?
        </button>
        <span class="muted small user-email">{me.user.email}</span>
        <button type="button" class="button ghost" onClick={() => void session.signOut()}>
          Sign out
        </button>
      </header>
      <main class="page">{page}</main>
      {help && <ShortcutsHelp onClose={() => setHelp(false)} />}
    </SessionContext.Provider>
  );
}
