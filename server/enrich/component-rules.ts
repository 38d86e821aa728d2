/** One ordered rule: the first whose pattern matches the route names the component. */
export interface ComponentRule {
  pattern: string;
  patternKind: 'glob' | 'regex';
  component: string;
}

export const unassignedComponent = 'Unassigned';

/**
 * Glob syntax: `*` matches within one path segment, `**` across segments, `?` one character.
 * `/checkout/**` matches /checkout and everything under it.
 */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let index = 0; index < glob.length; index += 1) {
    const character = glob[index];
    if (character === '*' && glob[index + 1] === '*') {
      // "/**" at the end also matches the bare prefix (/checkout/** matches /checkout)
      if (source.endsWith('/') && index + 2 === glob.length) source = `${source.slice(0, -1)}(?:/.*)?`;
      else source += '.*';
      index += 1;
    } else if (character === '*') source += '[^/]*';
    else if (character === '?') source += '[^/]';
    else source += character.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 'i');
}

/** Validates a rule's pattern; returns an error message or undefined. */
export function validateRulePattern(rule: Pick<ComponentRule, 'pattern' | 'patternKind'>): string | undefined {
  if (!rule.pattern || rule.pattern.length > 500) return 'pattern must be 1–500 characters';
  if (rule.patternKind === 'regex') {
    try {
      new RegExp(rule.pattern);
    } catch (error) {
      return `invalid regular expression: ${(error as Error).message}`;
    }
  }
  return undefined;
}

/** The component of a route by the first matching rule, or "Unassigned". */
export function componentForRoute(route: string | null, rules: readonly ComponentRule[]): string {
  if (!route) return unassignedComponent;
  for (const rule of rules) {
    try {
      const expression = rule.patternKind === 'regex' ? new RegExp(rule.pattern, 'i') : globToRegExp(rule.pattern);
      if (expression.test(route)) return rule.component;
    } catch {
      // A bad rule never blocks a report; rules are validated when saved.
    }
  }
  return unassignedComponent;
}
