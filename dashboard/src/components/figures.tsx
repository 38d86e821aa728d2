import type { ComponentChildren } from 'preact';
import type { Ratio } from '../../../shared/quality-api';
import { Link } from '../router';

/** A ratio as a percentage ("33.3%"), or an em dash when there is nothing to divide by. */
export function percent(ratio: Pick<Ratio, 'value'> | null | undefined, digits = 1): string {
  if (!ratio || ratio.value === null) return '—';
  return `${(ratio.value * 100).toFixed(digits).replace(/\.0+$/, '')}%`;
}

/** Hours as "36 h" or "2.5 d" (over two days), em dash for none. */
export function duration(hours: number | null | undefined): string {
  if (hours === null || hours === undefined) return '—';
  if (hours >= 48) return `${(hours / 24).toFixed(1).replace(/\.0$/, '')} d`;
  return `${hours.toFixed(1).replace(/\.0$/, '')} h`;
}

/**
 * One headline figure with its audit trail: the value, then numerator and denominator in words
 * ("3 of 4 defects found in 1.10.0 escaped"), and optionally a link to the defects behind it.
 */
export function RatioFigure(props: { name: string; ratio: Ratio; format?: (ratio: Ratio) => string; numerator: string; denominator: string; href?: string; id?: string; children?: ComponentChildren }) {
  return (
    <div class="figure-card" id={props.id} data-figure={props.name}>
      <div class="figure-name">{props.name}</div>
      <div class="figure-value">{props.format ? props.format(props.ratio) : percent(props.ratio)}</div>
      <div class="figure-trail small">
        <span class="numerator">{props.ratio.numerator}</span> {props.numerator} <span class="muted">of</span> <span class="denominator">{props.ratio.denominator}</span> {props.denominator}
      </div>
      {props.children}
      {props.href && (
        <Link class="small" href={props.href}>
          Show the defects →
        </Link>
      )}
    </div>
  );
}

/** A chart with its caption, what to do when it is empty, and its table alternative. */
export function ChartFigure(props: { id: string; title: string; description: ComponentChildren; empty?: ComponentChildren; children: ComponentChildren }) {
  return (
    <figure class="chart-figure panel" id={props.id} aria-labelledby={`${props.id}-title`}>
      <figcaption>
        <h2 id={`${props.id}-title`}>{props.title}</h2>
        <p class="muted small">{props.description}</p>
      </figcaption>
      {props.empty ? <div class="chart-empty muted">{props.empty}</div> : props.children}
    </figure>
  );
}

/** A secondary request that failed (filter choices): one line with a retry, the page stays usable. */
export function SmallError(props: { what: string; onRetry: () => void }) {
  return (
    <p class="notice notice-error small" role="alert">
      Could not load {props.what}.{' '}
      <button type="button" class="link-button" onClick={props.onRetry}>
        Try again
      </button>
    </p>
  );
}
