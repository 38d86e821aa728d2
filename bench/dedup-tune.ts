/**
 * Weight tuning for the duplicate score, in memory (no database): replays a benchmark file in
 * creation order with the same term extraction and scoring as the engine, retrieves candidates
 * like the engine's index does, and prints recall for weight variants. Used to choose
 * `defaultWeights`; run: npx tsx bench/dedup-tune.ts --data ../shared/data/dedup/dev.jsonl
 */
import { parseArgs } from 'node:util';
import { benchmarkFeatures, readBenchmarkFile } from './dedup-data';
import {
  type CorpusStatistics,
  type ReportFeatures,
  type ScoreSignals,
  type ScoreWeights,
  defaultWeights,
  inverseDocumentFrequency,
  prepareReport,
  prepareStoredReport,
  scoreCandidate,
} from '../server/dedup/duplicate-score';

const titleBoost = Number(process.env.TITLE_BOOST ?? defaultWeights.titleBoost);
const { values } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/dedup/dev.jsonl' },
    limit: { type: 'string' },
    retrieve: { type: 'string', default: '200' },
    'query-terms': { type: 'string', default: '40' },
    'per-term': { type: 'string', default: '0' },
    grid: { type: 'string' },
  },
});

const records = readBenchmarkFile(values.data!, values.limit ? Number(values.limit) : undefined);
const retrieveCount = Number(values.retrieve);
const queryTermCount = Number(values['query-terms']);
const perTerm = Number(values['per-term']);

const features: ReportFeatures[] = records.map(benchmarkFeatures);
const groupOf = records.map((record) => record.dup_of ?? record.id);

const documentFrequency = new Map<string, number>();
const postings = new Map<string, number[]>();
let documentCount = 0;
const statistics: CorpusStatistics = { get documentCount() { return documentCount; }, documentFrequency: (term) => documentFrequency.get(term) ?? 0 };

const truncate = process.env.TRUNCATE === '1';
const staleNorms = process.env.STALE_NORMS === '1' || truncate;
const storedNorms: [number, number][] = [];
function withStoredNorms(doc: number, prepared: ReturnType<typeof prepareReport>) {
  if (!staleNorms) return prepared;
  return { ...prepared, all: { ...prepared.all, norm: storedNorms[doc][0] }, title: { ...prepared.title, norm: storedNorms[doc][1] } };
}
interface QueryRecord { candidates: { index: number; signals: ScoreSignals; relevant: boolean; days: number }[]; }
const queries: QueryRecord[] = [];
let retrievalMisses = 0;
const started = performance.now();
for (let index = 0; index < records.length; index += 1) {
  const feature = features[index];
  const terms = new Set([...feature.titleTerms.keys(), ...feature.bodyTerms.keys()]);
  if (records[index].dup_of) {
    const query = prepareReport(feature, statistics, { ...defaultWeights, titleBoost });
    // Retrieval: the query's rarest terms, accumulate idf-weighted matches (as the SQL does).
    const ranked = [...query.all.weights.entries()]
      .map(([term, weight]) => ({ term, weight, df: documentFrequency.get(term) ?? 0 }))
      .filter((entry) => entry.df > 0 && entry.df < documentCount * 0.2)
      .sort((a, b) => b.weight - a.weight)
      .slice(0, queryTermCount);
    const accumulated = new Map<number, { sum: number; terms: Set<string> }>();
    for (const { term, weight } of ranked) {
      const list = postings.get(term)!;
      const from = perTerm > 0 ? Math.max(0, list.length - perTerm) : 0;
      for (let position = from; position < list.length; position += 1) {
        const doc = list[position];
        let entry = accumulated.get(doc);
        if (!entry) accumulated.set(doc, (entry = { sum: 0, terms: new Set() }));
        entry.sum += weight;
        entry.terms.add(term);
      }
    }
    const candidates = [...accumulated.entries()].sort((a, b) => b[1].sum - a[1].sum).slice(0, retrieveCount);
    const relevantExists = candidates.some(([doc]) => groupOf[doc] === groupOf[index]);
    if (!relevantExists) retrievalMisses += 1;
    queries.push({
      candidates: candidates.map(([doc, entry]) => ({
        index: doc,
        signals: scoreCandidate(query, truncate ? prepareStoredReport(
          features[doc], entry.terms, { norm: storedNorms[doc][0], titleNorm: storedNorms[doc][1] }, statistics, { ...defaultWeights, titleBoost }) : withStoredNorms(doc, prepareReport(features[doc], statistics, { ...defaultWeights, titleBoost }))).signals,
        relevant: groupOf[doc] === groupOf[index],
        days: Math.abs(features[index].receivedAt.getTime() - features[doc].receivedAt.getTime()) / 86_400_000,
      })),
    });
  }
  if (staleNorms) { const prepared = prepareReport(feature, statistics, { ...defaultWeights, titleBoost }); storedNorms[index] = [prepared.all.norm, prepared.title.norm]; }
  for (const term of terms) {
    documentFrequency.set(term, (documentFrequency.get(term) ?? 0) + 1);
    let list = postings.get(term);
    if (!list) postings.set(term, (list = []));
    list.push(index);
  }
  documentCount += 1;
}
console.log(`replayed ${records.length} reports, ${queries.length} queries in ${((performance.now() - started) / 1000).toFixed(1)} s; relevant not retrieved: ${retrievalMisses}`);

function evaluate(weights: ScoreWeights): { r1: number; r5: number; r10: number; mrr: number } {
  let r1 = 0, r5 = 0, r10 = 0, mrr = 0;
  for (const query of queries) {
    const scored = query.candidates.map((candidate) => {
      const s = candidate.signals;
      return {
        relevant: candidate.relevant,
        score: s.text * weights.text + s.titleText * weights.titleText + s.route * weights.route + s.component * weights.component + (weights.recencyHalfLifeDays / (weights.recencyHalfLifeDays + candidate.days)) * weights.recency,
      };
    }).sort((a, b) => b.score - a.score);
    const rank = scored.findIndex((candidate) => candidate.relevant) + 1;
    if (rank >= 1 && rank <= 1) r1 += 1;
    if (rank >= 1 && rank <= 5) r5 += 1;
    if (rank >= 1 && rank <= 10) r10 += 1;
    if (rank >= 1 && rank <= 100) mrr += 1 / rank;
  }
  const n = queries.length;
  return { r1: r1 / n, r5: r5 / n, r10: r10 / n, mrr: mrr / n };
}

const format = (result: ReturnType<typeof evaluate>) =>
  `r@1 ${result.r1.toFixed(3)} r@5 ${result.r5.toFixed(3)} r@10 ${result.r10.toFixed(3)} mrr ${result.mrr.toFixed(3)}`;
console.log('default', format(evaluate(defaultWeights)));
console.log('text only', format(evaluate({ ...defaultWeights, titleText: 0, route: 0, component: 0, recency: 0 })));
if (values.grid) {
  const grid = JSON.parse(values.grid) as Record<string, number[]>;
  let variants: Partial<ScoreWeights>[] = [{}];
  for (const [key, options] of Object.entries(grid)) variants = variants.flatMap((variant) => options.map((option) => ({ ...variant, [key]: option })));
  const results = variants.map((variant) => ({ variant, result: evaluate({ ...defaultWeights, ...variant }) }));
  results.sort((a, b) => b.result.r5 + b.result.r10 - a.result.r5 - a.result.r10);
  for (const { variant, result } of results.slice(0, 15)) console.log(JSON.stringify(variant), format(result));
}
void inverseDocumentFrequency;
