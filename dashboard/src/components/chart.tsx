import { useEffect, useRef, useState } from 'preact/hooks';
import { navigate } from '../router';

export interface ChartSeries {
  name: string;
  values: (number | null)[];
  /** Where a click on one of this series' points goes (the defects behind it). */
  hrefs?: (string | undefined)[];
}

export interface ChartProps {
  kind: 'bar' | 'line';
  /** What the chart shows, for screen readers (the table beside it has the numbers). */
  label: string;
  labels: string[];
  series: ChartSeries[];
  stacked?: boolean;
  /** Values are ratios (0–1), shown as percentages on the axis. */
  percent?: boolean;
  height?: number;
  /** Formats a value for the point's tooltip. */
  format?: (value: number) => string;
}

type Chartist = typeof import('./chartist-loader');
let chartist: Promise<Chartist> | undefined;

/**
 * Chartist (SVG, ~10 KB gzipped) and its styles, fetched the first time a chart is drawn: a
 * chunk of its own that pages without charts never load.
 */
function loadChartist(): Promise<Chartist> {
  chartist ??= import('./chartist-loader');
  chartist.catch(() => (chartist = undefined));
  return chartist;
}

/**
 * A bar or line chart. Each point is an SVG element with its value (`data-value`), a tooltip
 * and, when the series has hrefs, a click that opens the defects behind it. The chart is an
 * image for assistive technology; every chart is paired with a table of the same numbers.
 */
export function Chart(props: ChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const [failed, setFailed] = useState(false);
  const key = JSON.stringify([props.kind, props.labels, props.series, props.stacked, props.percent]);
  useEffect(() => {
    let chart: { detach(): void } | undefined;
    let current = true;
    loadChartist().then(
      ({ BarChart, LineChart }) => {
        if (!current || !host.current) return;
        const data = { labels: props.labels, series: props.series.map((series) => ({ name: series.name, data: series.values })) };
        const axisY = {
          onlyInteger: !props.percent,
          labelInterpolationFnc: (value: string | number) => (props.percent ? `${Math.round(Number(value) * 100)}%` : String(value)),
        };
        const common = { height: props.height ?? 220, axisY, chartPadding: { top: 12, right: props.kind === 'line' ? 32 : 12, bottom: 4, left: 8 } };
        const instance =
          props.kind === 'bar'
            ? new BarChart(host.current, data, { ...common, stackBars: props.stacked, seriesBarDistance: 14, ...(props.percent ? { high: 1, low: 0 } : {}) })
            : new LineChart(host.current, data, { ...common, low: 0, ...(props.percent ? { high: 1 } : {}), fullWidth: true, lineSmooth: false });
        instance.on('draw', (event: { type: string; element: { getNode(): Element }; index: number; seriesIndex: number }) => {
          if (event.type !== 'bar' && event.type !== 'point') return;
          const series = props.series[event.seriesIndex];
          const value = series?.values[event.index];
          const node = event.element.getNode();
          node.setAttribute('data-series', series?.name ?? '');
          node.setAttribute('data-label', props.labels[event.index] ?? '');
          node.setAttribute('data-value', value === null || value === undefined ? '' : String(value));
          const shown = value === null || value === undefined ? 'no data' : props.format ? props.format(value) : String(value);
          const title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
          title.textContent = `${series?.name}, ${props.labels[event.index]}: ${shown}`;
          node.appendChild(title);
          const href = series?.hrefs?.[event.index];
          if (href) {
            node.setAttribute('data-href', href);
            node.classList.add('chart-link');
            node.addEventListener('click', () => navigate(href));
          }
        });
        // A viewBox of the drawn size lets the chart scale instead of clip where the page is laid
        // out narrower than it was drawn (printing on paper, see the print CSS).
        instance.on('created', () => {
          const svg = host.current?.querySelector('svg');
          const box = svg?.getBoundingClientRect();
          if (svg && box && box.width > 0) {
            svg.setAttribute('viewBox', `0 0 ${Math.round(box.width)} ${Math.round(box.height)}`);
            svg.setAttribute('preserveAspectRatio', 'xMinYMin meet');
          }
        });
        chart = instance;
      },
      () => current && setFailed(true),
    );
    return () => {
      current = false;
      chart?.detach();
      if (host.current) host.current.textContent = '';
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  return (
    <div class="chart-box">
      {props.series.length > 1 && (
        <ul class="chart-legend" aria-hidden="true">
          {props.series.map((series, index) => (
            <li key={series.name}>
              <span class={`swatch swatch-${String.fromCharCode(97 + index)}`} /> {series.name}
            </li>
          ))}
        </ul>
      )}
      {failed ? (
        <p class="muted small">The chart could not be drawn; the table below has the same numbers.</p>
      ) : (
        <div class="chart" ref={host} role="img" aria-label={props.label} />
      )}
    </div>
  );
}
