import { Link } from '../router';

/** The second-level navigation of the test pages. */
export function TestsNav(props: { projectId: string; current: 'catalog' | 'runs' | 'traceability' }) {
  const base = `/p/${props.projectId}`;
  const item = (key: typeof props.current, href: string, label: string) => (
    <Link href={href} class={props.current === key ? 'active' : ''} aria-current={props.current === key ? 'page' : undefined}>
      {label}
    </Link>
  );
  return (
    <nav class="subnav no-print" aria-label="Tests">
      {item('catalog', `${base}/test-cases`, 'Test cases')}
      {item('runs', `${base}/test-runs`, 'Test runs')}
      {item('traceability', `${base}/traceability`, 'Traceability')}
    </nav>
  );
}

/** A test result status as a coloured word. */
export function ResultBadge(props: { status: string | null; flaky?: boolean }) {
  return (
    <span class={`result result-${props.status ?? 'none'}`}>
      {props.status ?? 'not run'}
      {props.flaky && <span class="tag">flaky</span>}
    </span>
  );
}
