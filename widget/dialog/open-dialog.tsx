import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ReportInput } from '../../shared/report-schema';
import type { Capture } from '../capture/screenshot';
import { captureScreen } from '../capture/screen-capture';
import type { WidgetTexts } from '../options';
import type { WidgetRuntime } from '../runtime';
import { blobToDataUrl, enqueueReport, sendReport } from '../transport';
import { composeImage, dragRectangle, drawAnnotations, encodeImage, type Annotation, type AnnotationTool } from './annotations';
import { buildReport, createId, type FormValues } from './build-report';
import { dialogCss } from './dialog-styles';
import { defaultTexts } from './texts';

/**
 * The report form, loaded on first open: description, expected, steps, email, an annotated
 * screenshot and a "what will be sent" list. Renders into the widget's shadow root.
 */

type ShotState =
  | { kind: 'off' }
  | { kind: 'capturing' }
  | { kind: 'ready'; canvas: HTMLCanvasElement; engine: string; unreadableImages: number }
  | { kind: 'failed' };

type Phase = { kind: 'editing' } | { kind: 'sending' } | { kind: 'sent'; reference: string } | { kind: 'queued' } | { kind: 'failed'; message: string };

const focusableSelector = 'button:not(:disabled),input:not(:disabled):not([tabindex="-1"]),textarea:not(:disabled),summary,a[href],[tabindex]:not([tabindex="-1"])';

/** Keys that move the keyboard crosshair, as steps along x and y. */
const arrowSteps: Record<string, [number, number]> = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

/**
 * The screenshot with its marks. Drawn with a pointer (drag), or with the keyboard alone: the
 * canvas takes focus and shows a crosshair that the arrow keys move (1 % of the picture a step,
 * 5 % with Shift); Enter or Space starts a mark at the crosshair and finishes it; Escape cancels
 * the mark being drawn; Ctrl+Z (⌘Z) undoes the last one. Each step is announced in a live region.
 */
function Annotator(props: {
  base: HTMLCanvasElement;
  annotations: Annotation[];
  onChange(next: Annotation[]): void;
  tool: AnnotationTool;
  texts: WidgetTexts;
  announce(message: string): void;
}) {
  const { base, texts } = props;
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const draft = useRef<Annotation | null>(null);
  const start = useRef<[number, number]>([0, 0]);
  const crosshair = useRef<[number, number] | null>(null);
  const unit = base.width / Math.max(1, innerWidth);

  const redraw = () => {
    const context = canvasRef.current?.getContext('2d');
    if (!context) return;
    context.drawImage(base, 0, 0);
    drawAnnotations(context, draft.current ? [...props.annotations, draft.current] : props.annotations, unit);
    if (crosshair.current) drawCrosshair(context, crosshair.current, unit);
  };
  useEffect(redraw, [base, props.annotations]);

  const begin = ([x, y]: [number, number]) => {
    start.current = [x, y];
    draft.current = props.tool === 'pen' || props.tool === 'arrow' ? { tool: props.tool, points: [[x, y]] } : { tool: props.tool, x, y, width: 0, height: 0 };
  };
  const extend = ([x, y]: [number, number]) => {
    const current = draft.current;
    if (!current) return;
    if ('points' in current) current.points.push([x, y]);
    else Object.assign(current, dragRectangle(start.current[0], start.current[1], x, y));
  };
  /** Ends the mark being drawn; keeps it when it is more than a click. */
  const finish = () => {
    const current = draft.current;
    draft.current = null;
    const big = !!current && ('points' in current ? current.points.length > 1 : current.width > 2 && current.height > 2);
    if (big) props.onChange([...props.annotations, current!]);
    else redraw();
    return big;
  };

  const point = (event: PointerEvent): [number, number] => {
    const box = canvasRef.current!.getBoundingClientRect();
    return [((event.clientX - box.left) * base.width) / box.width, ((event.clientY - box.top) * base.height) / box.height];
  };
  const down = (event: PointerEvent) => {
    event.preventDefault();
    (event.target as Element).setPointerCapture?.(event.pointerId);
    crosshair.current = null;
    begin(point(event));
  };
  const move = (event: PointerEvent) => {
    if (!draft.current) return;
    extend(point(event));
    redraw();
  };

  const key = (event: KeyboardEvent) => {
    const here = crosshair.current ?? [Math.round(base.width / 2), Math.round(base.height / 2)];
    const step = arrowSteps[event.key];
    let message: string | undefined;
    if (step) {
      const distance = (event.shiftKey ? 0.05 : 0.01) * Math.max(base.width, base.height);
      const next: [number, number] = [Math.min(base.width, Math.max(0, here[0] + step[0] * distance)), Math.min(base.height, Math.max(0, here[1] + step[1] * distance))];
      crosshair.current = next;
      extend(next);
      message = texts.crosshairAt.replace('{x}', String(Math.round((next[0] * 100) / base.width))).replace('{y}', String(Math.round((next[1] * 100) / base.height)));
    } else if (event.key === 'Enter' || event.key === ' ') {
      crosshair.current = here;
      if (draft.current) message = finish() ? texts.markAdded : texts.markCancelled;
      else {
        begin(here);
        message = texts.markStarted;
      }
    } else if (event.key === 'Escape' && draft.current) {
      // Only the mark is cancelled; a second Escape closes the dialog.
      event.stopPropagation();
      draft.current = null;
      message = texts.markCancelled;
    } else if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 'z') {
      if (props.annotations.length) {
        props.onChange(props.annotations.slice(0, -1));
        message = texts.markUndone;
      }
    } else return;
    event.preventDefault();
    redraw();
    if (message) props.announce(message);
  };

  return (
    <canvas
      ref={canvasRef}
      width={base.width}
      height={base.height}
      tabIndex={0}
      role="application"
      aria-roledescription={texts.screenshot}
      aria-label={texts.drawingHelp}
      aria-keyshortcuts="ArrowLeft ArrowRight ArrowUp ArrowDown Shift+ArrowLeft Enter Space Escape Control+Z"
      onPointerDown={down}
      onPointerMove={move}
      onPointerUp={finish}
      onPointerCancel={finish}
      onKeyDown={key}
      onBlur={() => {
        crosshair.current = null;
        redraw();
      }}
    />
  );
}

/** A crosshair a keyboard user can see on any background: a dark line inside a light one. */
function drawCrosshair(context: CanvasRenderingContext2D, [x, y]: [number, number], unit: number) {
  const arm = 14 * unit;
  context.save();
  for (const [color, width] of [['#fff', 4], ['#111', 1.5]] as const) {
    context.strokeStyle = color;
    context.lineWidth = width * unit;
    context.beginPath();
    context.moveTo(x - arm, y);
    context.lineTo(x + arm, y);
    context.moveTo(x, y - arm);
    context.lineTo(x, y + arm);
    context.stroke();
  }
  context.restore();
}

function ReportDialog(props: { runtime: WidgetRuntime; openedAt: number; onClose(): void }) {
  const { runtime } = props;
  const { options } = runtime;
  const texts: WidgetTexts = { ...defaultTexts, ...options.texts };
  const [values, setValues] = useState<FormValues>({ description: '', expected: '', steps: '', email: runtime.user.email ?? '', includeLogs: true, website: '' });
  const [includeScreenshot, setIncludeScreenshot] = useState(options.screenshot !== false);
  const [shot, setShot] = useState<ShotState>(options.screenshot === false ? { kind: 'off' } : { kind: 'capturing' });
  const [annotations, setAnnotations] = useState<Annotation[]>([]);
  const [tool, setTool] = useState<AnnotationTool>('highlight');
  const [phase, setPhase] = useState<Phase>({ kind: 'editing' });
  const [invalid, setInvalid] = useState(false);
  const [announcement, setAnnouncement] = useState('');
  const panel = useRef<HTMLDivElement>(null);
  const pressedOnBackdrop = useRef(false);
  const reportId = useRef(createId());

  const adopt = (capture: Pick<Capture, 'canvas' | 'engine' | 'unreadableImages'>, focusPicture = false) => {
    setShot({ kind: 'ready', canvas: capture.canvas, engine: capture.engine, unreadableImages: capture.unreadableImages });
    // After a fallback the control that had focus is gone: focus moves to the picture.
    if (focusPicture) requestAnimationFrame(() => panel.current?.querySelector('canvas')?.focus());
  };
  const failed = (error: unknown) => {
    runtime.reportError(error);
    setShot({ kind: 'failed' });
  };
  /** Shows "capturing…", lets it paint, then runs `work` (which takes the main thread for a while). */
  const afterCapturingShows = (work: () => Promise<void>) => {
    setShot({ kind: 'capturing' });
    requestAnimationFrame(() => setTimeout(() => work().catch(failed), 0));
  };

  const captureNow = () =>
    afterCapturingShows(async () => {
      const engine = await import('../capture/screenshot');
      adopt(await engine.captureViewport({ exclude: runtime.host, maskSelector: options.maskSelector, fetch: runtime.fetch, engine: options.screenshotEngine }));
    });
  useEffect(() => {
    if (options.screenshot !== false) captureNow();
    panel.current?.querySelector('textarea')?.focus();
  }, []);

  /** The browser's screen capture, after the user agreed; the widget hides while the frame is taken. */
  const captureScreenNow = () =>
    afterCapturingShows(async () => {
      const engine = await import('../capture/screenshot');
      const masks = engine.findMaskRects(options.maskSelector);
      const hostStyle = runtime.host.style;
      try {
        const canvas = await captureScreen(() => {
          hostStyle.visibility = 'hidden';
          return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve())));
        });
        engine.paintMasks(canvas, masks, canvas.width / innerWidth);
        adopt({ canvas, engine: 'display-media', unreadableImages: 0 }, true);
      } finally {
        hostStyle.visibility = '';
      }
    });
  const attachImage = (event: Event) => {
    const file = (event.target as HTMLInputElement).files?.[0];
    if (!file) return;
    afterCapturingShows(async () => {
      const bitmap = await createImageBitmap(file);
      const canvas = document.createElement('canvas');
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
      canvas.getContext('2d')!.drawImage(bitmap, 0, 0);
      adopt({ canvas, engine: 'file', unreadableImages: 0 }, true);
    });
  };

  const onKeyDown = (event: KeyboardEvent) => {
    if (event.key === 'Escape') {
      event.stopPropagation();
      props.onClose();
    } else if (event.key === 'Tab' && panel.current) {
      // Focus stays inside the dialog while it is open.
      const focusable = Array.from(panel.current.querySelectorAll<HTMLElement>(focusableSelector)).filter((element) => element.offsetParent !== null || element.tagName === 'SUMMARY');
      if (!focusable.length) return;
      const first = focusable[0];
      const last = focusable[focusable.length - 1];
      const active = runtime.shadow.activeElement;
      if (event.shiftKey && (active === first || !panel.current.contains(active))) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && (active === last || !panel.current.contains(active))) {
        event.preventDefault();
        first.focus();
      }
    }
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    if (!values.description.trim()) {
      setInvalid(true);
      panel.current?.querySelector('textarea')?.focus();
      return;
    }
    setPhase({ kind: 'sending' });
    try {
      const withImage = includeScreenshot && shot.kind === 'ready';
      const image = withImage ? await encodeImage(composeImage(shot.canvas, annotations)) : undefined;
      let report: ReportInput = buildReport(runtime, values, {
        id: reportId.current,
        openedAt: props.openedAt,
        screenshot: withImage
          ? { width: Math.min(shot.canvas.width, 1920), height: Math.round(shot.canvas.height * Math.min(1, 1920 / shot.canvas.width)), engine: shot.engine, unreadableImages: shot.unreadableImages, annotations: annotations.length }
          : undefined,
      });
      if (options.beforeSend) {
        const changed = options.beforeSend(report as Record<string, unknown>);
        if (changed === false) return props.onClose();
        report = changed as ReportInput;
      }
      const outcome = await sendReport(runtime, runtime.serverUrl, options.projectKey, report, image);
      if (outcome.kind === 'accepted') {
        setPhase({ kind: 'sent', reference: outcome.answer.reference });
        // The host's callback failing must not turn a sent report into an error message.
        try {
          options.onSent?.({ id: report.id, reference: outcome.answer.reference });
        } catch (error) {
          runtime.reportError(error);
        }
      } else if (outcome.kind === 'rejected') {
        setPhase({ kind: 'failed', message: outcome.message });
        runtime.reportError(Object.assign(new Error(outcome.message), { code: outcome.code, status: outcome.status }));
      } else {
        enqueueReport({ server: runtime.serverUrl, key: options.projectKey, report, image: image ? await blobToDataUrl(image) : undefined, queuedAt: Date.now() });
        setPhase({ kind: 'queued' });
      }
    } catch (error) {
      runtime.reportError(error);
      setPhase({ kind: 'failed', message: String((error as Error)?.message ?? error) });
    }
  };

  useEffect(() => {
    if (phase.kind === 'sent' || phase.kind === 'queued') panel.current?.querySelector<HTMLButtonElement>('button')?.focus();
  }, [phase.kind]);

  const set = (field: keyof FormValues) => (event: Event) => setValues({ ...values, [field]: (event.target as HTMLInputElement).value });
  const theme = options.theme === 'dark' || (options.theme !== 'light' && matchMedia('(prefers-color-scheme: dark)').matches) ? 'dark' : 'light';
  const { logs } = runtime;

  return (
    <div
      class={`overlay ${theme}`}
      lang={options.language}
      onKeyDown={onKeyDown}
      // Only a click that starts and ends on the backdrop closes: a drawing stroke released outside
      // the panel must not throw the report away.
      onPointerDown={(event) => (pressedOnBackdrop.current = event.target === event.currentTarget)}
      onClick={(event) => pressedOnBackdrop.current && event.target === event.currentTarget && props.onClose()}
    >
      <div class="panel" ref={panel} role="dialog" aria-modal="true" aria-labelledby="bugloop-title">
        <h2 id="bugloop-title">{texts.title}</h2>
        {phase.kind === 'sent' || phase.kind === 'queued' ? (
          <div role="status">
            <p>{phase.kind === 'sent' ? texts.thanks : texts.queued}</p>
            {phase.kind === 'sent' && (
              <p>
                {texts.reference}: <span class="reference">{phase.reference}</span>
              </p>
            )}
            <div class="actions">
              <button type="button" class="primary" onClick={props.onClose}>
                {texts.close}
              </button>
            </div>
          </div>
        ) : (
          <form onSubmit={submit} noValidate>
            <div class="columns">
            <div>
            <label for="bugloop-description">{texts.description}</label>
            <textarea id="bugloop-description" required aria-required="true" aria-invalid={invalid} placeholder={texts.descriptionPlaceholder} value={values.description} onInput={set('description')} />
            {invalid && !values.description.trim() && (
              <div class="error" role="alert">
                {texts.required}
              </div>
            )}
            <label for="bugloop-expected">{texts.expected}</label>
            <textarea id="bugloop-expected" value={values.expected} onInput={set('expected')} />
            <label for="bugloop-steps">{texts.steps}</label>
            <textarea id="bugloop-steps" value={values.steps} onInput={set('steps')} />
            <label for="bugloop-email">{texts.email}</label>
            <input id="bugloop-email" type="email" autocomplete="email" value={values.email} onInput={set('email')} />
            <div class="trap" aria-hidden="true">
              <label for="bugloop-website">Website</label>
              <input id="bugloop-website" type="text" tabIndex={-1} autocomplete="off" value={values.website} onInput={set('website')} />
            </div>
            </div>

            {shot.kind !== 'off' && includeScreenshot && (
              <div>
                <label>{texts.screenshot}</label>
                {shot.kind === 'ready' && (
                  <div class="tools" role="toolbar" aria-label={texts.screenshot}>
                    {(['highlight', 'blackout', 'pen', 'arrow'] as const).map((name) => (
                      <button type="button" aria-pressed={tool === name} data-tool={name} onClick={() => setTool(name)}>
                        {{ highlight: texts.highlight, blackout: texts.blackOut, pen: texts.pen, arrow: texts.arrow }[name]}
                      </button>
                    ))}
                    <button type="button" data-tool="undo" aria-keyshortcuts="Control+Z" disabled={!annotations.length} onClick={() => setAnnotations(annotations.slice(0, -1))}>
                      {texts.undo}
                    </button>
                  </div>
                )}
                <div class="shot" aria-busy={shot.kind === 'capturing'}>
                  {shot.kind === 'capturing' && <span class="muted" role="status">{texts.capturing}</span>}
                  {shot.kind === 'ready' && <Annotator base={shot.canvas} annotations={annotations} onChange={setAnnotations} tool={tool} texts={texts} announce={setAnnouncement} />}
                  {shot.kind === 'failed' && (
                    <div class="muted">
                      <p>{texts.captureFailed}</p>
                      <div class="tools">
                        {!!navigator.mediaDevices?.getDisplayMedia && (
                          <button type="button" data-fallback="screen" onClick={captureScreenNow}>
                            {texts.captureScreen}
                          </button>
                        )}
                        <label class="check">
                          {texts.attachImage} <input type="file" name="attach-image" accept="image/png,image/jpeg,image/webp" onChange={attachImage} />
                        </label>
                      </div>
                    </div>
                  )}
                </div>
                <div class="trap" aria-live="polite">
                  {announcement}
                </div>
                {shot.kind === 'ready' && shot.unreadableImages > 0 && <p class="muted">{texts.unreadableImages.replace('{count}', String(shot.unreadableImages))}</p>}
              </div>
            )}
            </div>

            <details>
              <summary>{texts.whatWillBeSent}</summary>
              <ul>
                <li>{location.origin + location.pathname}</li>
                <li>
                  {navigator.userAgent.slice(0, 80)} · {innerWidth}×{innerHeight}
                </li>
                <li>
                  {texts.logSummary
                    .replace('{console}', String(logs.console.length))
                    .replace('{network}', String(logs.network.length))
                    .replace('{breadcrumbs}', String(logs.breadcrumbs.length))}
                </li>
              </ul>
              {shot.kind !== 'off' && (
                <label class="check">
                  <input type="checkbox" name="include-screenshot" checked={includeScreenshot} onChange={(event) => setIncludeScreenshot((event.target as HTMLInputElement).checked)} /> {texts.includeScreenshot}
                </label>
              )}
              <label class="check">
                <input type="checkbox" name="include-logs" checked={values.includeLogs} onChange={(event) => setValues({ ...values, includeLogs: (event.target as HTMLInputElement).checked })} /> {texts.includeLogs}
              </label>
            </details>
            {phase.kind === 'failed' && (
              <div class="error" role="alert">
                {texts.failed} {phase.message}
              </div>
            )}
            <div class="actions">
              <button type="button" onClick={props.onClose}>
                {texts.cancel}
              </button>
              <button type="submit" class="primary" disabled={phase.kind === 'sending' || shot.kind === 'capturing'}>
                {phase.kind === 'sending' ? texts.sending : texts.send}
              </button>
            </div>
          </form>
        )}
      </div>
    </div>
  );
}

const stylesAdded = new WeakSet<ShadowRoot>();

/** Opens the dialog in the widget's shadow root; `close()` unmounts it and returns focus. */
export function openDialog(runtime: WidgetRuntime): { close(): void } {
  if (!stylesAdded.has(runtime.shadow)) {
    runtime.addStyle(`${dialogCss}.overlay{--accent:${runtime.options.accentColor ?? '#0f766e'}}`);
    stylesAdded.add(runtime.shadow);
  }
  const container = document.createElement('div');
  runtime.shadow.append(container);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      render(null, container);
      container.remove();
    } catch (error) {
      runtime.reportError(error);
    }
    runtime.dialogClosed();
  };
  render(<ReportDialog runtime={runtime} openedAt={Date.now()} onClose={close} />, container);
  return { close };
}
