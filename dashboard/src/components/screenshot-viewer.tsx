import { useLayoutEffect, useState } from 'preact/hooks';
import type { ReportAttachment } from '../../../shared/dashboard-api';
import { formatBytes } from './format';

/**
 * Full-screen screenshot viewer: fit to the window, original size, zoom in and out, download.
 * The image comes from the authenticated attachment route, never from a public URL.
 */
export function ScreenshotViewer(props: { projectId: string; attachment: ReportAttachment; onClose: () => void }) {
  const [zoom, setZoom] = useState<'fit' | number>('fit');
  const url = `/api/v1/projects/${props.projectId}/attachments/${props.attachment.id}`;
  // A layout effect: the key handler is attached as the dialog renders, so a key typed right
  // after the one that opened it (s, then 2) is not lost before a passive effect would run.
  useLayoutEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') props.onClose();
      else if (event.key === '+' || event.key === '=') setZoom((value) => Math.min(8, (value === 'fit' ? 1 : value) * 1.25));
      else if (event.key === '-') setZoom((value) => Math.max(0.1, (value === 'fit' ? 1 : value) / 1.25));
      else if (event.key === '0') setZoom(1);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [props.onClose]);
  const width = props.attachment.width ?? undefined;
  const style = zoom === 'fit' ? { maxWidth: '100%', maxHeight: '100%' } : { width: width ? `${width * zoom}px` : `${zoom * 100}%`, maxWidth: 'none' };
  return (
    <div class="viewer" role="dialog" aria-modal="true" aria-label="Screenshot">
      <div class="viewer-toolbar">
        <span class="muted">
          {props.attachment.width}×{props.attachment.height} · {formatBytes(props.attachment.byteSize)}
        </span>
        <span class="spacer" />
        <button type="button" class="button" onClick={() => setZoom((value) => Math.max(0.1, (value === 'fit' ? 1 : value) / 1.25))} aria-label="Zoom out">
          −
        </button>
        <span class="zoom-label">{zoom === 'fit' ? 'Fit' : `${Math.round(zoom * 100)}%`}</span>
        <button type="button" class="button" onClick={() => setZoom((value) => Math.min(8, (value === 'fit' ? 1 : value) * 1.25))} aria-label="Zoom in">
          +
        </button>
        <button type="button" class={`button ${zoom === 'fit' ? 'active' : ''}`} onClick={() => setZoom('fit')}>
          Fit
        </button>
        <button type="button" class={`button ${zoom === 1 ? 'active' : ''}`} onClick={() => setZoom(1)}>
          Original size
        </button>
        <a class="button" href={`${url}?download=1`} download>
          Download
        </a>
        <button type="button" class="button" onClick={props.onClose} aria-label="Close viewer">
          Close
        </button>
      </div>
      <div class={`viewer-stage ${zoom === 'fit' ? 'fit' : ''}`} onClick={(event) => event.target === event.currentTarget && props.onClose()}>
        <img src={url} alt="Screenshot attached to the report" style={style} />
      </div>
    </div>
  );
}
