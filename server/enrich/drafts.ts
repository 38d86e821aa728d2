import type { Breadcrumb } from '../../shared/report-schema';

/** A title from the user's first sentence, cut at a word boundary; deterministic. */
export function draftTitle(description: string, maxLength = 80): string {
  const text = description.replace(/\s+/g, ' ').trim();
  const firstSentence = /^(.+?[.!?])(\s|$)/.exec(text)?.[1] ?? text;
  const sentence = firstSentence.replace(/[.!?]+$/, '').trim();
  if (sentence.length <= maxLength) return capitalize(sentence) || 'Untitled report';
  const cut = sentence.slice(0, maxLength + 1);
  const atWord = cut.slice(0, Math.max(cut.lastIndexOf(' '), Math.floor(maxLength * 0.6)));
  return `${capitalize(atWord.trim())}…`;
}

function capitalize(value: string): string {
  return value.charAt(0).toUpperCase() + value.slice(1);
}

/**
 * Steps to reproduce from breadcrumbs: "1. Open /checkout", "2. Click “Pay now” (button#pay)".
 * Repeated identical steps collapse into one ("3 times").
 */
export function draftSteps(breadcrumbs: readonly Breadcrumb[] | undefined, pageUrl?: string | null, maxSteps = 15): string | null {
  const steps: string[] = [];
  const path = (url: string | undefined | null) => {
    if (!url) return '';
    try {
      return new URL(url, 'http://relative.invalid').pathname;
    } catch {
      return url;
    }
  };
  const sorted = [...(breadcrumbs ?? [])].sort((a, b) => a.time - b.time);
  if (sorted.length === 0 && !pageUrl) return null;
  if (sorted[0]?.kind !== 'navigation' && pageUrl) steps.push(`Open ${path(pageUrl)}`);
  for (const crumb of sorted) {
    let step: string | undefined;
    if (crumb.kind === 'navigation') step = `Go to ${path(crumb.to) || 'a new page'}`;
    else if (crumb.kind === 'click') {
      const label = crumb.text?.trim() ? `“${crumb.text.trim().slice(0, 60)}”` : (crumb.selector ?? 'an element');
      step = `Click ${label}${crumb.text?.trim() && crumb.selector ? ` (${crumb.selector})` : ''}`;
    } else if (crumb.kind === 'input') step = `Type into ${crumb.selector ?? 'a field'}`;
    else if (crumb.message) step = crumb.message;
    if (!step) continue;
    const last = steps[steps.length - 1];
    const repeated = last?.match(/^(.*?)(?: \((\d+) times\))?$/);
    if (repeated && repeated[1] === step) steps[steps.length - 1] = `${step} (${Number(repeated[2] ?? 1) + 1} times)`;
    else steps.push(step);
  }
  const kept = steps.length > maxSteps ? steps.slice(-maxSteps) : steps;
  return kept.map((step, index) => `${index + 1}. ${step}`).join('\n') || null;
}
