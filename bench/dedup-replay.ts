/**
 * An in-memory replay of a duplicate-benchmark file that mirrors the engine without a database:
 * the same terms (`reportFeatures`), the same retrieval limits (the query's 30 highest-weighted
 * terms, the 100 newest postings of each, the best 100 by summed weight), the same stored
 * norms (computed at indexing time and refreshed each time the corpus doubles, as the
 * norm-refresh job does) and the same scorer. Every report is its own defect (auto-merge
 * off), exactly like `npm run bench:dedup`, whose figures it reproduces to the third decimal.
 * Used to tune the weights and to fit the auto-merge model (bench/dedup-policy-fit.ts).
 */
import { type BenchmarkRecord, benchmarkFeatures } from './dedup-data';
import { type RetrievalLimits, chooseRetrievalTerms, defaultRetrievalLimits, shouldRefreshNorms } from '../server/dedup/duplicate-index';
import {
  type CorpusStatistics,
  type ScoreSignals,
  defaultWeights,
  prepareReport,
  prepareStoredReport,
  scoreCandidate,
} from '../server/dedup/duplicate-score';

/** One ranked candidate of a replayed report. */
export interface ReplayCandidate {
  /** Index of the candidate record in the replayed file. */
  index: number;
  score: number;
  signals: ScoreSignals;
  /** True when the candidate is in the report's duplicate group (the label; never a feature). */
  relevant: boolean;
}

export interface ReplayedReport {
  index: number;
  isDuplicate: boolean;
  /** Best first, at most `keep`. */
  candidates: ReplayCandidate[];
  /** 1-based rank of the first relevant candidate among the 100 re-scored, 0 when none. */
  relevantRank: number;
}

/** Replays `records` (sorted by creation) and calls `onReport` for each report after ranking it. */
export function replay(
  records: readonly BenchmarkRecord[],
  onReport: (report: ReplayedReport) => void,
  keep = 10,
  limits: Readonly<RetrievalLimits> = defaultRetrievalLimits,
): void {
  const features = records.map(benchmarkFeatures);
  const groupOf = records.map((record) => record.dup_of ?? record.id);
  const documentFrequency = new Map<string, number>();
  const postings = new Map<string, number[]>();
  let documentCount = 0;
  const statistics: CorpusStatistics = {
    get documentCount() {
      return documentCount;
    },
    documentFrequency: (term) => documentFrequency.get(term) ?? 0,
  };
  const norms: { norm: number; titleNorm: number }[] = [];
  for (let index = 0; index < records.length; index += 1) {
    const query = prepareReport(features[index], statistics, defaultWeights);
    const retrievalTerms = chooseRetrievalTerms(query, statistics, limits);
    const accumulated = new Map<number, { sum: number; terms: string[] }>();
    for (const [term, weight] of retrievalTerms) {
      const list = postings.get(term)!;
      for (let position = Math.max(0, list.length - limits.postingsPerTerm); position < list.length; position += 1) {
        const document = list[position];
        let entry = accumulated.get(document);
        if (!entry) accumulated.set(document, (entry = { sum: 0, terms: [] }));
        entry.sum += weight;
        entry.terms.push(term);
      }
    }
    const candidates = [...accumulated.entries()]
      .sort((a, b) => b[1].sum - a[1].sum || a[0] - b[0])
      .slice(0, limits.rescored)
      .map(([document, entry]) => {
        const stored = prepareStoredReport(features[document], entry.terms, norms[document], statistics, defaultWeights);
        const { score, signals } = scoreCandidate(query, stored, defaultWeights);
        return { index: document, score, signals, relevant: groupOf[document] === groupOf[index] };
      })
      .sort((a, b) => b.score - a.score || a.index - b.index);
    onReport({
      index,
      isDuplicate: records[index].dup_of !== null,
      candidates: candidates.slice(0, keep),
      relevantRank: candidates.findIndex((candidate) => candidate.relevant) + 1,
    });
    norms[index] = { norm: query.all.norm, titleNorm: query.title.norm };
    for (const term of new Set([...features[index].titleTerms.keys(), ...features[index].bodyTerms.keys()])) {
      documentFrequency.set(term, (documentFrequency.get(term) ?? 0) + 1);
      let list = postings.get(term);
      if (!list) postings.set(term, (list = []));
      list.push(index);
    }
    documentCount += 1;
    if (shouldRefreshNorms(documentCount)) {
      for (let document = 0; document < documentCount; document += 1) {
        const refreshed = prepareReport(features[document], statistics, defaultWeights);
        norms[document] = { norm: refreshed.all.norm, titleNorm: refreshed.title.norm };
      }
    }
  }
}
