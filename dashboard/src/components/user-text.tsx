import { Fragment } from 'preact';

const urlPattern = /\bhttps?:\/\/[^\s<>"']+/g;

/**
 * Text someone outside the team wrote (reports, comments): rendered as text nodes, never as
 * HTML. Links in it are shown but not clickable; "open" asks first and names the real address,
 * since a report can come from anyone on the internet.
 */
export function UserText(props: { text: string | null | undefined; class?: string }) {
  const text = props.text ?? '';
  const parts: (string | { url: string })[] = [];
  let last = 0;
  for (const match of text.matchAll(urlPattern)) {
    parts.push(text.slice(last, match.index), { url: match[0] });
    last = (match.index ?? 0) + match[0].length;
  }
  parts.push(text.slice(last));
  return (
    <span class={`user-text ${props.class ?? ''}`}>
      {parts.map((part, index) =>
        typeof part === 'string' ? <Fragment key={index}>{part}</Fragment> : <ExternalLink key={index} url={part.url} />,
      )}
    </span>
  );
}

/**
 * Whether a stored address may become a link or be opened: http(s) only. Anything else
 * (`javascript:`, `data:`, `vbscript:`) would run in, or replace, the dashboard.
 */
export function isWebAddress(value: string | null | undefined): value is string {
  return /^https?:\/\//i.test(value ?? '');
}

/** A user-supplied URL: shown as text with a button that warns before leaving (web addresses only). */
export function ExternalLink(props: { url: string }) {
  if (!isWebAddress(props.url)) return <span class="external-link-text">{props.url}</span>;
  return (
    <span class="external-link">
      <span class="external-link-text">{props.url}</span>{' '}
      <button
        type="button"
        class="link-button"
        title="Open this link in a new tab (after a warning)"
        onClick={() => {
          if (window.confirm(`This link was written by a reporter, not by your team.\n\n${props.url}\n\nOpen it in a new tab?`)) {
            window.open(props.url, '_blank', 'noopener,noreferrer');
          }
        }}
      >
        open ↗
      </button>
    </span>
  );
}
