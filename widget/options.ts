/**
 * The widget's one options object. Every field is optional except `projectKey`; the script tag's
 * `data-*` attributes fill the same fields for the no-code case (`data-project-key`,
 * `data-position`, `data-button-text`, `data-accent-color`, `data-theme`, `data-language`,
 * `data-release`, `data-environment`, `data-hide-button`, `data-nonce`, `data-server`, `data-screenshot`, `data-screenshot-engine`).
 *
 * This file holds only types: the loader and the lazy chunks both import it, so anything heavy
 * here would be paid twice. The default texts live with the dialog (`dialog/texts.ts`).
 */

/** Every text the user sees; pass some or all to translate. */
export interface WidgetTexts {
  button: string;
  title: string;
  description: string;
  descriptionPlaceholder: string;
  expected: string;
  steps: string;
  email: string;
  screenshot: string;
  capturing: string;
  captureFailed: string;
  captureScreen: string;
  attachImage: string;
  highlight: string;
  blackOut: string;
  pen: string;
  arrow: string;
  undo: string;
  /** Read to screen-reader users on the drawing area: how to draw with the keyboard. */
  drawingHelp: string;
  /** `{x}` and `{y}` are replaced by percentages of the picture's width and height. */
  crosshairAt: string;
  markStarted: string;
  markAdded: string;
  markCancelled: string;
  markUndone: string;
  whatWillBeSent: string;
  /** `{console}`, `{network}` and `{breadcrumbs}` are replaced by counts. */
  logSummary: string;
  /** `{count}` is replaced by the number of images left out. */
  unreadableImages: string;
  includeScreenshot: string;
  includeLogs: string;
  send: string;
  sending: string;
  cancel: string;
  close: string;
  thanks: string;
  reference: string;
  queued: string;
  failed: string;
  required: string;
}

/** Options for `Bugloop.init(options)`. */
export interface WidgetOptions {
  /** The project's public key (`pk_…`), shown on the project's settings page. Required. */
  projectKey: string;
  /** Base URL of the Bugloop server. Default: the origin the loader script was served from. */
  server?: string;
  /** Where the default button sits. Default `bottom-right`. */
  position?: 'bottom-right' | 'bottom-left' | 'top-right' | 'top-left';
  /** Hide the default button (use `Bugloop.open()` or `data-bugloop-trigger` instead). */
  hideButton?: boolean;
  /** `light`, `dark`, or `auto` (follows `prefers-color-scheme`). Default `auto`. */
  theme?: 'light' | 'dark' | 'auto';
  /** Accent color of the button and primary actions (any CSS color). */
  accentColor?: string;
  /** Texts, for translation; missing ones fall back to English. */
  texts?: Partial<WidgetTexts>;
  /** Language tag for the dialog's `lang` attribute. */
  language?: string;
  /** Release/version of the host app, e.g. `1.4.0`. */
  release?: string;
  /** Environment of the host app, e.g. `production`. */
  environment?: string;
  /** Query parameters kept in reported URLs; all others (and the fragment) are dropped. */
  allowQueryParameters?: string[];
  /** Keep the URL fragment (off by default: fragments often carry tokens). */
  keepFragment?: boolean;
  /** Take a screenshot when the form opens. Default true. */
  screenshot?: boolean;
  /** Pin the screenshot engine (benchmarks, or a page one engine renders badly). Default: modern-screenshot, then html2canvas-pro. */
  screenshotEngine?: 'modern-screenshot' | 'html2canvas-pro';
  /** CSP nonce for the `<style>` element, when constructable stylesheets are unavailable. */
  nonce?: string;
  /** Extra CSS selector whose elements are blacked out in screenshots. */
  maskSelector?: string;
  /** Requests slower than this are recorded even when they succeed. Default 3000 ms. */
  slowRequestMs?: number;
  /** Called with every error the widget catches (it never throws into the page). */
  onError?: (error: unknown) => void;
  /** Called after a report was accepted, with the server's reference. */
  onSent?: (result: { id: string; reference: string }) => void;
  /** Called before sending: return a changed report, or `false` to drop it. */
  beforeSend?: (report: Record<string, unknown>) => Record<string, unknown> | false;
}

/** The public API on `window.Bugloop` (the module entry exports the same functions). */
export interface BugloopApi {
  /** Starts the widget (once; later calls are ignored until `destroy()`). */
  init(options: WidgetOptions): void;
  /** Opens the report form. */
  open(): void;
  /** Closes the report form. */
  close(): void;
  /** Sets who the reporter is; their email prefills the form. */
  identify(user: WidgetUser): void;
  /** Adds custom metadata sent with every report (merged with earlier calls). */
  setMetadata(metadata: Record<string, string | number | boolean | null>): void;
  /** Removes the widget, its listeners, its patches and `window.Bugloop` from the page. */
  destroy(): void;
  /** The widget's version. */
  version: string;
}

/** Who the reporter is, from `Bugloop.identify()`. */
export interface WidgetUser {
  id?: string;
  email?: string;
  name?: string;
}
