import { useLayoutEffect } from 'preact/hooks';
import { type DefectStatus, defectStatusLabels, settableStatuses } from '../../../shared/dashboard-api';

/** The `s` dialog: pick a status with a click or its number key. */
export function StatusPicker(props: { title: string; current?: DefectStatus; onPick: (status: DefectStatus) => void; onClose: () => void }) {
  // A layout effect: the key handler is attached as the dialog renders, so a key typed right
  // after the one that opened it (s, then 2) is not lost before a passive effect would run.
  useLayoutEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') props.onClose();
      const index = Number(event.key) - 1;
      if (index >= 0 && index < settableStatuses.length) {
        event.preventDefault();
        props.onPick(settableStatuses[index]);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [props.onPick, props.onClose]);
  return (
    <div class="modal-backdrop" onClick={props.onClose}>
      <div class="modal narrow" role="dialog" aria-modal="true" aria-label="Set status" onClick={(event) => event.stopPropagation()}>
        <header class="modal-header">
          <h2>{props.title}</h2>
        </header>
        <ol class="picker">
          {settableStatuses.map((status, index) => (
            <li key={status}>
              <button type="button" class={`picker-item ${status === props.current ? 'active' : ''}`} onClick={() => props.onPick(status)}>
                <kbd>{index + 1}</kbd> <span class={`status status-${status}`}>{defectStatusLabels[status]}</span>
              </button>
            </li>
          ))}
        </ol>
      </div>
    </div>
  );
}
