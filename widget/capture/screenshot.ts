import { createContext, domToCanvas } from 'modern-screenshot';
import { DefaultStyles } from './default-styles';
import { surveyPage, type PageSurvey, type SurveyedRoot } from './page-survey';

/**
 * The screenshot chunk, loaded when the form opens. The primary engine is modern-screenshot
 * (the browser paints an SVG foreignObject clone: 9 KB gzipped, best fidelity, renders
 * iframes); html2canvas-pro is a second, lazily loaded try when it fails. See ARCHITECTURE.md
 * for the measurements behind the choice.
 */

/** What a capture produced. */
export interface Capture {
  canvas: HTMLCanvasElement;
  engine: string;
  /** Images no engine could read (cross-origin without CORS): left empty in the picture. */
  unreadableImages: number;
  /** Regions blacked out for privacy (password, card and `data-bugloop-mask` fields). */
  masked: number;
  durationMs: number;
}

/** Options of `captureViewport`. */
export interface CaptureOptions {
  /** The widget's own host element, never part of the picture. */
  exclude?: Element;
  /** Extra selector of elements to black out. */
  maskSelector?: string;
  /** Force one engine (the benchmark measures each); default: primary, then the fallback. */
  engine?: 'modern-screenshot' | 'html2canvas-pro';
  /** The page's unwrapped fetch, so image fetches are not logged as the page's requests. */
  fetch?: typeof fetch;
  /** Pixel ratio of the picture; default the device's, at most 2. */
  scale?: number;
}

const baseMaskSelector = 'input[type="password" i],[autocomplete^="cc-" i],[data-bugloop-mask]';

interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Viewport rectangles of every element to black out, in open shadow roots and same-origin
 * iframes too (the primary engine renders both).
 */
export function findMaskRects(extraSelector: string | undefined, roots: SurveyedRoot[] = surveyPage().roots): Rect[] {
  const selector = extraSelector ? `${baseMaskSelector},${extraSelector}` : baseMaskSelector;
  const rects: Rect[] = [];
  for (const { root, offsetX, offsetY } of roots) {
    for (const element of Array.from(root.querySelectorAll(selector))) {
      const box = element.getBoundingClientRect();
      if (box.width && box.height) rects.push({ x: box.x + offsetX, y: box.y + offsetY, width: box.width, height: box.height });
    }
  }
  return rects;
}

/** Paints the mask rectangles solid black: the pixels are gone, not blurred. */
export function paintMasks(canvas: HTMLCanvasElement, rects: Rect[], scale: number): void {
  const context = canvas.getContext('2d');
  if (!context) return;
  context.fillStyle = '#000';
  for (const rect of rects) context.fillRect(Math.floor(rect.x * scale) - 1, Math.floor(rect.y * scale) - 1, Math.ceil(rect.width * scale) + 2, Math.ceil(rect.height * scale) + 2);
}

const flowDisplays = new Set(['block', 'flow-root', 'list-item']);

/**
 * Fixed elements paint inside the viewport wherever their ancestors are, so no ancestor of one
 * is culled. (A sticky element stays within its parent's box, so culling never hides one.)
 */
function ancestorsOfFixedElements(fixed: Element[]): Set<Node> {
  const ancestors = new Set<Node>();
  for (const element of fixed) {
    for (let current: Node | null = element; current && !ancestors.has(current); current = current instanceof ShadowRoot ? current.host : current.parentNode) ancestors.add(current);
  }
  return ancestors;
}

/** What the node filter decided, for the benchmark (elements cloned drive a capture's cost). */
export interface FilterCounts {
  /** Elements looked at (children of cloned elements). */
  visited: number;
  /** Elements cloned with their content. */
  kept: number;
  /** Elements cloned as empty shells (outside the viewport, keeping their box). */
  hollowed: number;
  /** Elements left out with everything in them. */
  dropped: number;
}

/**
 * Decides whether a node is worth cloning; off-screen content is most of a long page, and cloning
 * costs milliseconds per element. An element wholly outside the viewport is:
 * - dropped, when it is below the viewport in normal block flow (statically or relatively
 *   positioned): nothing visible depends on it;
 * - otherwise kept as an empty shell: the clone copies its computed width and height in pixels,
 *   so it takes the same room while its descendants are skipped.
 * Table rows and cells below the viewport are emptied, never dropped: column widths depend on
 * every cell, and an emptied cell keeps its computed width in the clone, so the columns keep
 * theirs (the large-dom fixture puts its widest cell in the last row to check this). Ancestors of
 * fixed elements are never emptied (those paint in the viewport from anywhere).
 */
export function createNodeFilter(excluded: (node: Node) => boolean, fixed: Element[], counts: FilterCounts = { visited: 0, kept: 0, hollowed: 0, dropped: 0 }): (node: Node) => boolean {
  const viewportWidth = innerWidth;
  const viewportHeight = innerHeight;
  const pinned = ancestorsOfFixedElements(fixed);
  const hollow = new WeakSet<Node>();
  const parentDisplay = new WeakMap<Element, string>();
  return (node) => {
    if (excluded(node)) return false;
    const parentNode = node.parentNode instanceof ShadowRoot ? node.parentNode.host : node.parentNode;
    if (parentNode && hollow.has(parentNode)) return false;
    if (!(node instanceof Element)) return true;
    counts.visited++;
    const box = node.getBoundingClientRect();
    const outside = box.bottom < 0 || box.top > viewportHeight || box.right < 0 || box.left > viewportWidth;
    if (!outside || pinned.has(node)) return !!++counts.kept;
    const style = getComputedStyle(node);
    const parent = node.parentElement;
    if (parent && box.top > viewportHeight && (style.position === 'static' || style.position === 'relative')) {
      let display = parentDisplay.get(parent);
      if (display === undefined) {
        display = getComputedStyle(parent).display;
        parentDisplay.set(parent, display);
      }
      if (flowDisplays.has(display)) return !++counts.dropped;
    }
    if (style.display !== 'contents') hollow.add(node);
    counts.hollowed++;
    return true;
  };
}

/**
 * Web fonts are embedded only when the page declares some: modern-screenshot's font embedding
 * parses style sheets through a temporary inline `<style>`, which a strict CSP reports as a
 * violation. Pages with system fonts alone (most apps) never trigger it.
 */
function pageHasWebFonts(): boolean {
  try {
    return (document.fonts?.size ?? 0) > 0;
  } catch {
    return false;
  }
}

function readAsDataUrl(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

const emptyPixel = 'data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7';

const transparent = (color: string) => color === 'transparent' || /^rgba\(.*,\s*0\)$/.test(color);

/**
 * The color the browser paints behind everything: the root's background, else the body's (CSS
 * propagates it to the canvas), else white. The clone is only as tall as the content, so without
 * it a short page would come out transparent below its content.
 */
function canvasBackground(): string {
  const root = getComputedStyle(document.documentElement).backgroundColor;
  if (!transparent(root)) return root;
  const body = document.body ? getComputedStyle(document.body).backgroundColor : 'transparent';
  return transparent(body) ? '#ffffff' : body;
}

async function captureWithModernScreenshot(options: CaptureOptions, scale: number, counters: CaptureCounters, survey: PageSurvey): Promise<HTMLCanvasElement> {
  const pageFetch = options.fetch ?? fetch;
  const root = document.documentElement;
  const scrolled = scrollX || scrollY;
  const defaults = new DefaultStyles(survey.properties, options.exclude?.shadowRoot ?? root);
  const context = await createContext(root, {
    width: innerWidth,
    height: innerHeight,
    scale,
    filter: createNodeFilter((node) => node === options.exclude || node === defaults.host, survey.fixed, counters.filter),
    // Read only the properties the page's styles can set (see page-survey.ts), not all ~480.
    includeStyleProperties: survey.properties,
    font: pageHasWebFonts() ? undefined : false,
    backgroundColor: canvasBackground(),
    style: scrolled ? { transform: `translate(${-scrollX}px, ${-scrollY}px)` } : undefined,
    timeout: 5000,
    autoDestruct: true,
    fetchFn: async (url) => {
      if (url.startsWith('data:')) return false;
      const response = await pageFetch.call(window, url, { cache: 'force-cache', mode: 'cors', credentials: 'same-origin' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return readAsDataUrl(await response.blob());
    },
    fetch: {
      placeholderImage: () => {
        counters.unreadable++;
        return emptyPixel;
      },
    },
  });
  context.defaultComputedStyles = defaults;
  return domToCanvas(context);
}

async function captureWithHtml2canvas(options: CaptureOptions, scale: number, counters: CaptureCounters, survey: PageSurvey): Promise<HTMLCanvasElement> {
  const { default: html2canvas } = await import('html2canvas-pro');
  const filter = createNodeFilter((node) => node === options.exclude, survey.fixed, counters.filter);
  const canvas = await html2canvas(document.body, {
    x: scrollX,
    y: scrollY,
    width: innerWidth,
    height: innerHeight,
    windowWidth: innerWidth,
    windowHeight: innerHeight,
    scale,
    useCORS: true,
    logging: false,
    imageTimeout: 5000,
    ignoreElements: (element) => !filter(element),
  });
  // html2canvas leaves unreadable images out silently; count them the same way as the primary.
  for (const image of document.images) {
    const box = image.getBoundingClientRect();
    if (box.bottom < 0 || box.top > innerHeight || !image.src || image.src.startsWith('data:')) continue;
    if (new URL(image.src).origin !== location.origin && image.crossOrigin === null) counters.unreadable++;
  }
  return canvas;
}

interface CaptureCounters {
  unreadable: number;
  filter: FilterCounts;
}

/**
 * Captures the visible viewport, masks private fields, and says how it went. Tries the primary
 * engine, then the fallback; throws only when both fail (the form then offers screen capture or
 * an attached image).
 */
export async function captureViewport(options: CaptureOptions = {}): Promise<Capture> {
  const started = performance.now();
  const scale = options.scale ?? Math.min(devicePixelRatio || 1, 2);
  const survey = surveyPage();
  const masks = findMaskRects(options.maskSelector, survey.roots);
  const engines = options.engine ? [options.engine] : (['modern-screenshot', 'html2canvas-pro'] as const);
  let lastError: unknown;
  for (const engine of engines) {
    const counters: CaptureCounters = { unreadable: 0, filter: { visited: 0, kept: 0, hollowed: 0, dropped: 0 } };
    try {
      const canvas = engine === 'modern-screenshot' ? await captureWithModernScreenshot(options, scale, counters, survey) : await captureWithHtml2canvas(options, scale, counters, survey);
      if (!canvas.width || !canvas.height) throw new Error('empty capture');
      paintMasks(canvas, masks, canvas.width / innerWidth);
      const durationMs = performance.now() - started;
      // A User Timing entry, so the benchmark (or the host's own monitoring) can read capture times
      // and what drove them: elements cloned and computed-style properties read per element.
      performance.measure?.('bugloop:capture', {
        start: started,
        duration: durationMs,
        detail: { engine, unreadableImages: counters.unreadable, ...counters.filter, properties: survey.properties.length, allStylesReadable: survey.complete },
      });
      return { canvas, engine, unreadableImages: counters.unreadable, masked: masks.length, durationMs };
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}
