import { render } from 'preact';

/** Placeholder shell until the triage dashboard issue lands. */
function App() {
  return (
    <main style={{ font: '15px system-ui', margin: '48px auto', maxWidth: 640 }}>
      <h1>Bugloop</h1>
      <p>The server is running. The triage dashboard is being built; meanwhile try the <a href="/demo">demo page</a>.</p>
    </main>
  );
}

render(<App />, document.getElementById('app')!);
