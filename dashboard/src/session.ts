import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { MeResponse, ProjectRole } from '../../shared/dashboard-api';

/** The signed-in person and their projects, shared by every page. */
export interface Session {
  me: MeResponse;
  refresh: () => Promise<void>;
  signOut: () => Promise<void>;
}

export const SessionContext = createContext<Session | undefined>(undefined);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in page');
  return session;
}

/** The caller's role in a project; the UI hides what the role may not do (the API enforces it). */
export function useProjectRole(projectId: string): ProjectRole | undefined {
  return useSession().me.projects.find((project) => project.id === projectId)?.role;
}

export const canTriage = (role: ProjectRole | undefined) => role === 'triager' || role === 'admin';
export const canAdminister = (role: ProjectRole | undefined) => role === 'admin';
