/**
 * Ranking of test cases that probably cover a field defect: same component, the defect's route
 * named in the test, and text similarity. Pure, so it is unit-tested without a database.
 */

export interface SuggestionDefect {
  title: string;
  description: string;
  component: string | null;
  route: string | null;
}

export interface SuggestionCandidate {
  title: string;
  suite: string | null;
  component: string | null;
  tags: string[];
  steps: unknown[];
  identity: string | null;
}

export interface SuggestionScore {
  score: number;
  reasons: string[];
}

const stopWords = new Set(
  'a an and are as at be but by can could does doesnt for from has have in into is it its not of on or that the then this to was were when where which while with without after before should user users page test tests spec it when error fails failed failing works work'.split(' '),
);

/** Lower-cased word stems of a text: letters and digits, stop words out, plural/-ing/-ed trimmed. */
export function textTerms(text: string): Set<string> {
  const terms = new Set<string>();
  for (const raw of text.toLowerCase().split(/[^a-z0-9]+/)) {
    if (raw.length < 3 || stopWords.has(raw) || /^\d+$/.test(raw)) continue;
    terms.add(raw.replace(/(ing|ed|es|s)$/, '') || raw);
  }
  return terms;
}

/** Route segments that carry meaning (/checkout/:id/pay → checkout, pay). */
export function routeTerms(route: string | null): string[] {
  if (!route) return [];
  return route
    .toLowerCase()
    .split(/[/?#&=.]+/)
    .filter((segment) => segment.length >= 3 && !segment.startsWith(':') && !/^[0-9a-f-]{8,}$/.test(segment) && !/^\d+$/.test(segment) && !segment.startsWith('{'));
}

/** Overlap of two term sets relative to the smaller one (a short test title inside a long report scores high). */
function overlap(a: Set<string>, b: Set<string>): { score: number; shared: string[] } {
  const shared = [...a].filter((term) => b.has(term));
  const smaller = Math.min(a.size, b.size);
  return { score: smaller === 0 ? 0 : shared.length / smaller, shared };
}

/** Scores one candidate between 0 and 1, with the reasons a person can check. */
export function scoreSuggestion(defect: SuggestionDefect, candidate: SuggestionCandidate): SuggestionScore {
  const reasons: string[] = [];
  let score = 0;
  if (defect.component && candidate.component && defect.component.toLowerCase() === candidate.component.toLowerCase()) {
    score += 0.35;
    reasons.push(`same component (${candidate.component})`);
  }
  const testText = [candidate.title, candidate.suite ?? '', candidate.identity ?? '', candidate.tags.join(' '), JSON.stringify(candidate.steps)].join(' ').toLowerCase();
  const routeHits = routeTerms(defect.route).filter((segment) => testText.includes(segment));
  if (routeHits.length > 0) {
    score += 0.25 * Math.min(1, routeHits.length / Math.max(1, routeTerms(defect.route).length));
    reasons.push(`route ${defect.route} named in the test (${routeHits.join(', ')})`);
  }
  const similarity = overlap(textTerms(`${defect.title} ${defect.description.slice(0, 2000)}`), textTerms(testText));
  if (similarity.shared.length > 0) {
    score += 0.4 * similarity.score;
    reasons.push(`shares words: ${similarity.shared.slice(0, 6).join(', ')} (similarity ${similarity.score.toFixed(2)})`);
  }
  return { score: Math.round(score * 1000) / 1000, reasons };
}
