/**
 * One look at the page before a capture: its documents and open shadow roots, which CSS
 * properties its styles can set, and which elements may be `position: fixed`. The capture then
 * reads only those properties of each cloned element instead of all ~480 computed ones (the read
 * of computed styles is most of a capture's cost), and finds fixed elements without computing the
 * style of every element of the page.
 */

/** A document or open shadow root, with its offset from the top viewport (same-origin iframes). */
export interface SurveyedRoot {
  root: Document | ShadowRoot;
  offsetX: number;
  offsetY: number;
}

export interface PageSurvey {
  roots: SurveyedRoot[];
  /**
   * Computed-style properties worth reading: those the page's styles name, plus the ones the
   * browser's own styles set. Every visual property when a style sheet could not be read
   * (cross-origin without CORS, still loading).
   */
  properties: string[];
  /** Whether every style sheet could be read (else `properties` is the full visual list). */
  complete: boolean;
  /** Elements that are `position: fixed` now (they paint in the viewport wherever their ancestors are). */
  fixed: Element[];
}

const sides = ['top', 'right', 'bottom', 'left'];
const corners = ['top-left', 'top-right', 'bottom-right', 'bottom-left'];
const each = (prefix: string, suffixes: string) => suffixes.split(' ').map((suffix) => prefix + suffix);

// Read on every page. The clone keeps each element's tag, attributes and nesting, so the browser's
// own styles, HTML's presentational attributes and SVG's presentation attributes apply to it as in
// the page: a property no author style names needs no copying, with these exceptions. Built-in
// styles that depend on state (a modal <dialog>, :popover-open, autofilled fields, focus rings)
// do not carry over, nor do quirks-mode table resets; and sizes are always copied in pixels.
const alwaysRead = [
  ...'display position width height min-width min-height max-width max-height overflow-x overflow-y visibility color font-family font-size font-style font-weight font-kerning line-height text-align white-space-collapse text-wrap-mode direction list-style-type list-style-position background-color background-image background-clip -webkit-text-fill-color'.split(' '),
  ...sides.flatMap((side) => [side, `margin-${side}`, `padding-${side}`, ...each(`border-${side}-`, 'width style color')]),
  ...corners.map((corner) => `border-${corner}-radius`),
  ...each('outline-', 'color style width offset'),
  ...each('text-decoration-', 'line color style thickness'),
];

/**
 * Logical properties are not read (their physical twins hold the same computed values), so an
 * author's logical property stands for its physical ones: `margin-inline-start` → the four
 * margins, `max-block-size` → max-width and max-height, `border-start-end-radius` → the four radii.
 */
function physicalNames(name: string): string[] {
  let match = /^(.*?)-?(?:block|inline)-size$/.exec(name);
  if (match) return ['width', 'height'].map((axis) => (match![1] ? `${match![1]}-${axis}` : axis));
  if (/^inset-/.test(name)) return sides;
  match = /^(border|corner)-(?:start|end)-(?:start|end)-(radius|shape)$/.exec(name);
  if (match) return corners.map((corner) => `${match![1]}-${corner}-${match![2]}`);
  if (/^overflow-(block|inline)$/.test(name)) return ['overflow-x', 'overflow-y'];
  match = /^(.+)-(?:block|inline)(?:-start|-end)?(-.+)?$/.exec(name);
  return match ? sides.map((side) => `${match![1]}-${side}${match![2] ?? ''}`) : [name];
}

/**
 * Properties that never change a still picture (animation and scrolling machinery, interaction),
 * left out of what is read.
 */
const invisible = /^(animation|transition|scroll-|view-|timeline|anchor|position-[at]|interest|caret|cursor|pointer|user-select|touch|speak|overscroll|will-change|-webkit-(user|tap))/;

const notFixed = new Set(['static', 'relative', 'absolute', 'sticky', '']);

interface Collected {
  names: Set<string>;
  /** Selectors of rules that may make an element fixed. */
  fixedSelectors: string[];
  /** A sheet could not be read: every visual property must be read. */
  unreadable: boolean;
  /** A rule that may fix elements has a selector we cannot query (nested, @scope): scan every element. */
  fixedUnknown: boolean;
}

function collectDeclarations(style: CSSStyleDeclaration | undefined, into: Collected): boolean {
  if (!style) return false;
  for (let index = 0; index < style.length; index++) {
    const name = style.item(index);
    if (!name.startsWith('--')) for (const physical of physicalNames(name)) into.names.add(physical);
  }
  return !notFixed.has(style.getPropertyValue('position').trim());
}

function collectRules(rules: CSSRuleList, into: Collected, nested: boolean): void {
  for (const rule of Array.from(rules)) {
    const style = (rule as CSSStyleRule).style;
    if ('selectorText' in rule && style) {
      if (collectDeclarations(style, into)) {
        const selector = (rule as CSSStyleRule).selectorText;
        // Shadow-tree selectors (:host, ::slotted, ::part) and nested ones cannot be queried as they are.
        if (nested || /:host|::slotted|::part/.test(selector)) into.fixedUnknown = true;
        // A fixed pseudo-element paints with its element: query the element.
        else into.fixedSelectors.push(selector.replace(/::?(before|after|marker|backdrop|placeholder|first-line|first-letter|selection|-webkit-[\w-]+)/g, '') || '*');
      }
      // Nested rules (CSS nesting) have relative selectors.
      if ((rule as CSSStyleRule).cssRules?.length) collectRules((rule as CSSStyleRule).cssRules, into, true);
    } else if ('styleSheet' in rule) {
      collectSheet((rule as CSSImportRule).styleSheet, into);
    } else if ('cssRules' in rule) {
      // @media, @supports, @layer, @container, @keyframes (each keyframe has a style), @scope.
      collectRules((rule as CSSGroupingRule).cssRules, into, nested || 'start' in rule);
    } else if ('keyText' in rule || rule.constructor.name === 'CSSNestedDeclarations') {
      // A keyframe, or declarations nested after rules (not @font-face or @property descriptors).
      if (collectDeclarations(style, into)) into.fixedUnknown = true;
    }
  }
}

function collectSheet(sheet: CSSStyleSheet | null, into: Collected): void {
  if (!sheet) return;
  let rules: CSSRuleList;
  try {
    rules = sheet.cssRules;
  } catch {
    into.unreadable = true;
    return;
  }
  collectRules(rules, into, false);
}

const kebab = (name: string) => (name === 'cssFloat' ? 'float' : name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`));

/** Every computed property that can show in a picture, for pages whose styles cannot all be read. */
function visibleComputedProperties(): string[] {
  const style = getComputedStyle(document.documentElement);
  return Array.from({ length: style.length }, (_, index) => style.item(index)).filter((name) => !invisible.test(name));
}

/** Looks at the page once; see `PageSurvey`. Never throws for a sheet or frame it cannot read. */
export function surveyPage(): PageSurvey {
  const roots: SurveyedRoot[] = [];
  const collected: Collected = { names: new Set(alwaysRead), fixedSelectors: ['dialog', '[popover]'], unreadable: false, fixedUnknown: false };
  const inlineFixed: Element[] = [];

  const visit = (root: Document | ShadowRoot, offsetX: number, offsetY: number) => {
    roots.push({ root, offsetX, offsetY });
    for (const sheet of Array.from(root.styleSheets)) collectSheet(sheet, collected);
    for (const sheet of root.adoptedStyleSheets ?? []) collectSheet(sheet, collected);
    for (const element of Array.from(root.querySelectorAll('[style]'))) if (collectDeclarations((element as HTMLElement).style, collected)) inlineFixed.push(element);
    for (const animation of root.getAnimations?.() ?? []) {
      const effect = animation.effect as KeyframeEffect | null;
      for (const keyframe of effect?.getKeyframes?.() ?? []) for (const key of Object.keys(keyframe)) if (!/^(offset|computedOffset|easing|composite)$/.test(key)) collected.names.add(kebab(key));
    }
    for (const element of Array.from(root.querySelectorAll('*'))) {
      if (element.shadowRoot) visit(element.shadowRoot, offsetX, offsetY);
      if (element instanceof HTMLIFrameElement) {
        try {
          const inner = element.contentDocument;
          if (!inner) continue;
          const box = element.getBoundingClientRect();
          visit(inner, offsetX + box.x + element.clientLeft, offsetY + box.y + element.clientTop);
        } catch {
          /* cross-origin frame: no in-page engine renders it either */
        }
      }
    }
  };
  visit(document, 0, 0);


  const candidates = new Set<Element>(inlineFixed);
  for (const { root } of roots) {
    if (collected.unreadable || collected.fixedUnknown) {
      root.querySelectorAll('*').forEach((element) => candidates.add(element));
      continue;
    }
    for (const selector of collected.fixedSelectors) {
      let matched: NodeListOf<Element>;
      try {
        matched = root.querySelectorAll(selector);
      } catch {
        matched = root.querySelectorAll('*');
      }
      matched.forEach((element) => candidates.add(element));
    }
  }
  const fixed = [...candidates].filter((element) => getComputedStyle(element).position === 'fixed');
  const complete = !collected.unreadable;
  const properties = complete ? [...collected.names].filter((name) => !invisible.test(name)) : visibleComputedProperties();
  return { roots, properties, complete, fixed };
}
