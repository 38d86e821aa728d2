/**
 * modern-screenshot writes into each cloned element only the computed values that differ from
 * the element's defaults. It finds those defaults in a hidden iframe that it adds to the page on
 * every capture (inserting and removing a frame costs a layout of the whole page, and each default
 * style reads all ~480 properties). This map computes them in a hidden shadow tree of the widget
 * instead, with inherited values reset, for only the properties the capture reads. Same values
 * as the iframe's for every common tag (compared property by property when this was written);
 * keys it does not know (SVG elements with presentation attributes) fall back to the library's
 * own way, through the same cache.
 */

const ignored = new Set(['width', 'height', '-webkit-text-fill-color']);
const svgNamespace = 'http://www.w3.org/2000/svg';

/** A drop-in for the library context's `defaultComputedStyles` cache. */
export class DefaultStyles extends Map<string, Map<string, string>> {
  /** The hidden element holding the probes; never part of a picture. */
  host: HTMLElement | undefined;
  private probes: HTMLElement | undefined;

  constructor(
    private readonly properties: string[],
    private readonly parent: Node,
  ) {
    super();
  }

  override has(key: string): boolean {
    if (!super.has(key)) {
      const computed = this.compute(key);
      if (computed) this.set(key, computed);
    }
    return super.has(key);
  }

  override clear(): void {
    super.clear();
    this.host?.remove();
    this.host = this.probes = undefined;
  }

  private compute(key: string): Map<string, string> | undefined {
    // Keys are `tag`, `tag:::before`, `svg:tag` and `svg:tag:<presentation attributes>` (see the
    // library's getDefaultStyle). Attributes are left out of the probe: a value they set then
    // differs from the default and is written inline, which paints the same.
    const match = /^(svg:)?([a-z][\w-]*)(?::(?!:)[^:]*)?(?::(::[\w-]+))?$/i.exec(key);
    if (!match) return undefined;
    const [, svg, tag, pseudo] = match;
    if (!this.probes) {
      this.host = document.createElement('div');
      this.host.hidden = true;
      this.host.style.display = 'none';
      const shadow = this.host.attachShadow({ mode: 'open' });
      this.probes = document.createElement('div');
      // Inherited values as in a blank document, whatever the page or the widget sets above.
      this.probes.style.setProperty('all', 'initial');
      this.probes.style.direction = 'ltr';
      this.probes.style.unicodeBidi = 'normal';
      shadow.append(this.probes);
      this.parent.appendChild(this.host);
    }
    let root: Element;
    let element: Element;
    if (svg) {
      root = document.createElementNS(svgNamespace, 'svg');
      element = root.appendChild(document.createElementNS(svgNamespace, tag));
    } else {
      // A custom element's defaults are an unknown element's; creating the real one would run the page's code.
      root = element = document.createElement(tag.includes('-') ? 'span' : tag);
    }
    element.textContent = ' ';
    this.probes.append(root);
    const computed = getComputedStyle(element, pseudo);
    const styles = new Map<string, string>();
    for (const name of this.properties) if (!ignored.has(name)) styles.set(name, computed.getPropertyValue(name));
    root.remove();
    return styles;
  }
}
