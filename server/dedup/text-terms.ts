/**
 * Turns report text into index terms. Pure and deterministic: the same function feeds the
 * stored postings, the corpus statistics and the query, so they always agree.
 *
 * Bug reports mix prose with code: identifiers (`CompositeRecordReader`, `getBlockLocations`),
 * dotted class names and stack frames. Each identifier is kept whole (it is very specific)
 * and also split into its camel-case parts (so "record reader" in prose meets
 * `RecordReader` in a trace).
 */

const stopWords = new Set(
  (
    'a about above after again against all am an and any are as at be because been before being below between both but by ' +
    'can could did do does doing down during each few for from further had has have having he her here hers him his how ' +
    'i if in into is it its itself just me more most my no nor not now of off on once only or other our out over own same ' +
    'she should so some such than that the their them then there these they this those through to too under until up very ' +
    'was we were what when where which while who whom why will with would you your yours also get got gets one two use used ' +
    'using us let lets like may might must need needs via etc eg ie please thanks thank hi hello'
  ).split(' '),
);

/** Splits `getBlockLocations` / `HTTPServer2` into lower-case parts: get, block, locations / http, server. */
function camelParts(word: string): string[] {
  return word
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/**
 * A light English suffix stripper (plurals, -ing, -ed). Full Porter stemming merged too many
 * code identifiers in our tuning; this keeps "failing/failed/fails" together and leaves
 * short words alone.
 */
export function stemTerm(term: string): string {
  if (term.length <= 4 || /\d/.test(term)) return term;
  if (term.endsWith('ies') && term.length > 5) return `${term.slice(0, -3)}y`;
  if (term.endsWith('sses')) return term.slice(0, -2);
  if (term.endsWith('ing') && term.length > 6) return term.slice(0, -3);
  if (term.endsWith('ed') && term.length > 5) return term.slice(0, -2);
  if (term.endsWith('s') && !term.endsWith('ss') && !term.endsWith('us') && !term.endsWith('is')) return term.slice(0, -1);
  return term;
}

/**
 * Opaque ids: UUIDs, hashes, hex addresses and tokens (at least six hex digits mixing digits and
 * letters). Each is unique to one report, so it carries the highest idf of the report's terms
 * while saying nothing about the problem: a thousand reports of one crash that each quote their
 * own order id scored as different texts, and once the shared words grew common, every report
 * opened a defect of its own (bench:ingest's reports, measured in bench/processing-lab.ts).
 */
const uuidPattern = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const opaqueIdPattern = /^(?:0x)?(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,}$/;

function keep(term: string): boolean {
  if (term.length < 2 || term.length > 40) return false;
  if (stopWords.has(term)) return false;
  // bare numbers (ports, line numbers, timestamps) match by accident far more often than by cause
  if (/^\d+$/.test(term)) return false;
  if (opaqueIdPattern.test(term)) return false;
  return true;
}

/** The index terms of a text, in order, with repeats (term frequencies come from counting them). */
export function textTerms(text: string): string[] {
  const terms: string[] = [];
  // Words keep inner dots/underscores/dashes for a moment, so `org.apache.Foo` can be split on purpose.
  for (const match of text.replace(uuidPattern, ' ').matchAll(/[A-Za-z0-9_]+(?:[.$][A-Za-z0-9_]+)*/g)) {
    const raw = match[0];
    const pieces = raw.split(/[.$]/);
    for (const piece of pieces) {
      if (!piece) continue;
      const lower = piece.toLowerCase();
      const parts = camelParts(piece.replace(/_/g, ' '));
      if (parts.length > 1 && keep(lower) && lower.length >= 6) terms.push(lower);
      for (const part of parts) {
        const stemmed = stemTerm(part);
        if (keep(stemmed)) terms.push(stemmed);
      }
    }
  }
  return terms;
}

/** Counts repeats: term → frequency. */
export function termFrequencies(terms: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const term of terms) counts.set(term, (counts.get(term) ?? 0) + 1);
  return counts;
}
