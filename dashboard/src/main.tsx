import { render } from 'preact';
import { prefetch } from './api';
import { App } from './app';
import { inboxApiPath } from './pages/inbox';
import './styles.css';

// Opening an inbox: ask for its first page now, in parallel with the session check (/me),
// instead of one round trip later. Without a session it answers 401 and is simply dropped.
const inboxMatch = /^\/p\/([0-9a-f-]{36})\/?$/.exec(location.pathname);
if (inboxMatch) prefetch(inboxApiPath(inboxMatch[1], new URLSearchParams(location.search)));

render(<App />, document.getElementById('app')!);
