import { useState } from 'preact/hooks';
import { ApiError, api } from '../api';

/** Email and password sign-in. Errors (wrong password, too many attempts) are shown in place. */
export function SignInPage(props: { onSignedIn: () => Promise<void> }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api.post('/session', { email, password });
      await props.onSignedIn();
    } catch (caught) {
      setError(caught instanceof ApiError ? caught.message : 'Sign-in failed.');
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <form class="card sign-in-card" onSubmit={submit}>
        <h1 class="brand">Bugloop</h1>
        <p class="muted">Sign in to triage what your users report.</p>
        <label class="field">
          <span>Email</span>
          <input type="email" name="email" autoComplete="username" required value={email} onInput={(event) => setEmail(event.currentTarget.value)} autoFocus />
        </label>
        <label class="field">
          <span>Password</span>
          <input type="password" name="password" autoComplete="current-password" required value={password} onInput={(event) => setPassword(event.currentTarget.value)} />
        </label>
        {error && (
          <p class="form-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="button primary wide" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p class="muted small">The first admin's password is printed by the server on its first start.</p>
      </form>
    </main>
  );
}
