import type { BugloopApi, WidgetOptions, WidgetUser } from './options';
import type { DialogModule, TransportModule } from './runtime';
import { createWidget } from './widget-core';

export type { BugloopApi, WidgetOptions, WidgetTexts, WidgetUser } from './options';

/**
 * The module entry (`import { init } from 'bugloop/widget'`): the same widget as the script tag,
 * built to `dist/widget/widget-module.js` beside the lazy chunks it shares with the loader. Give
 * `server` (the Bugloop server's URL) unless the page and the server share an origin: there is
 * no script URL to take it from.
 */
let instance: BugloopApi | undefined;
const widget = () =>
  (instance ??= createWidget({
    defaultServer: location.origin,
    loadDialog: () => import('./dialog/open-dialog') as Promise<DialogModule>,
    loadTransport: () => import('./transport') as Promise<TransportModule>,
  }));

/** Starts the widget with `options` (see `WidgetOptions`). */
export const init = (options: WidgetOptions) => widget().init(options);
/** Opens the report form. */
export const open = () => widget().open();
/** Closes the report form. */
export const close = () => widget().close();
/** Sets who the reporter is; their email prefills the form. */
export const identify = (user: WidgetUser) => widget().identify(user);
/** Adds custom metadata sent with every report. */
export const setMetadata = (metadata: Record<string, string | number | boolean | null>) => widget().setMetadata(metadata);
/** Removes the widget, its listeners and its patches from the page. */
export const destroy = () => {
  instance?.destroy();
  instance = undefined;
};
