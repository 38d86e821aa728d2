import { useLayoutEffect } from 'preact/hooks';

const shortcuts: [string, string][] = [
  ['j / k', 'Move down / up in the inbox'],
  ['Enter', 'Open the selected defect'],
  ['/', 'Search'],
  ['s', 'Set the status of the selected or open defect'],
  ['m', 'Merge: on a defect, into a possible duplicate; in the inbox, the checked defects into the selected one'],
  ['x', 'Check the selected defect (for bulk actions)'],
  ['Esc', 'Close a dialog, leave a field'],
  ['?', 'Show this list'],
];

/** The `?` dialog listing every keyboard shortcut. */
export function ShortcutsHelp(props: { onClose: () => void }) {
  // A layout effect: the key handler is attached as the dialog renders, so a key typed right
  // after the one that opened it (s, then 2) is not lost before a passive effect would run.
  useLayoutEffect(() => {
    const onKey = (event: KeyboardEvent) => event.key === 'Escape' && props.onClose();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [props.onClose]);
  return (
    <div class="modal-backdrop" onClick={props.onClose}>
      <div class="modal" role="dialog" aria-modal="true" aria-label="Keyboard shortcuts" onClick={(event) => event.stopPropagation()}>
        <header class="modal-header">
          <h2>Keyboard shortcuts</h2>
          <button type="button" class="button ghost" onClick={props.onClose} aria-label="Close">
            ✕
          </button>
        </header>
        <table class="shortcuts">
          <tbody>
            {shortcuts.map(([keys, action]) => (
              <tr key={keys}>
                <td>
                  <kbd>{keys}</kbd>
                </td>
                <td>{action}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
