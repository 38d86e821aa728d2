/**
 * The duplicate score: how likely a stored report describes the same defect as a new one.
 * Pure (features in, number out), so it is unit-tested and tuned without a database.
 *
 * score = text · wText + Σ structural signals · weights, where
 *  - text: cosine similarity of sublinear TF-IDF vectors over title+description (title terms
 *    counted `titleBoost` times, BM25F-style field weighting), idf from the live corpus
 *    statistics. Cosine normalisation beat BM25 saturation on long reports with stack traces;
 *  - titleText: the same cosine over titles only (short, dense, written to summarise);
 *  - errorSignature / requestSignature: exact equality of enrichment's signatures; two
 *    different error signatures count against (and veto auto-merge);
 *  - route, component, release: same area of the product;
 *  - recency: duplicates arrive close in time (median gap 50 days in our data), so a
 *    smooth decay over the gap lifts recent look-alikes over old ones;
 *  - embedding: cosine of embeddings, when both reports have one.
 * Weights and how they were chosen: see `defaultWeights` and ARCHITECTURE.md.
 */

/** Term → frequency within one report. */
export type TermCounts = ReadonlyMap<string, number>;

/** What the scorer knows about one report (the new one or a stored one). */
export interface ReportFeatures {
  titleTerms: TermCounts;
  bodyTerms: TermCounts;
  receivedAt: Date;
  route: string | null;
  component: string | null;
  releaseId: string | null;
  errorSignature: string | null;
  requestSignature: string | null;
  embedding?: readonly number[] | null;
}

/** Corpus statistics for idf: number of documents and a document-frequency lookup. */
export interface CorpusStatistics {
  documentCount: number;
  documentFrequency(term: string): number;
}

export interface ScoreWeights {
  titleBoost: number;
  text: number;
  titleText: number;
  errorSignature: number;
  /** Subtracted when both reports carry an error signature and the two differ. */
  errorSignatureConflict: number;
  requestSignature: number;
  route: number;
  component: number;
  release: number;
  recency: number;
  /** Days after which the recency signal has halved. */
  recencyHalfLifeDays: number;
  embedding: number;
}

/**
 * Chosen by coordinate search on dev.jsonl (bench/dedup-tune.ts), maximising recall@5 while
 * watching recall@10 and MRR; signatures and release cannot be tuned there (the data has
 * none), so they are set by reasoning: an identical error signature is near-proof of the same
 * defect, a request signature a little less (one endpoint can fail for several reasons).
 */
export const defaultWeights: Readonly<ScoreWeights> = Object.freeze({
  titleBoost: 2,
  text: 1,
  titleText: 0.2,
  errorSignature: 0.35,
  errorSignatureConflict: 0.2,
  requestSignature: 0.2,
  route: 0.05,
  component: 0.05,
  release: 0.02,
  recency: 0.25,
  recencyHalfLifeDays: 180,
  embedding: 0.5,
});

/** Inverse document frequency, smoothed so a term seen everywhere weighs nearly nothing. */
export function inverseDocumentFrequency(documentCount: number, documentFrequency: number): number {
  return Math.log((documentCount + 1) / (documentFrequency + 1)) + 1;
}

/** A weighted sparse vector: term → weight, with its Euclidean norm. */
export interface WeightedVector {
  weights: Map<string, number>;
  norm: number;
}

/** Merges title and body counts, title terms counted `titleBoost` times. */
export function fieldWeightedCounts(titleTerms: TermCounts, bodyTerms: TermCounts, titleBoost: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [term, count] of bodyTerms) counts.set(term, count);
  for (const [term, count] of titleTerms) counts.set(term, (counts.get(term) ?? 0) + count * titleBoost);
  return counts;
}

/** Sublinear tf (1 + ln tf) times idf. */
export function tfidfVector(counts: TermCounts, statistics: CorpusStatistics): WeightedVector {
  const weights = new Map<string, number>();
  let sumSquares = 0;
  for (const [term, count] of counts) {
    if (count <= 0) continue;
    const weight = (1 + Math.log(count)) * inverseDocumentFrequency(statistics.documentCount, statistics.documentFrequency(term));
    weights.set(term, weight);
    sumSquares += weight * weight;
  }
  return { weights, norm: Math.sqrt(sumSquares) };
}

/** Cosine of two weighted vectors (0 when either is empty). */
export function cosine(a: WeightedVector, b: WeightedVector): number {
  return cosineAndOverlap(a, b).cosine;
}

/** The cosine and the number of shared terms, in one pass. */
export function cosineAndOverlap(a: WeightedVector, b: WeightedVector): { cosine: number; shared: number } {
  if (a.norm === 0 || b.norm === 0) return { cosine: 0, shared: 0 };
  const [small, large] = a.weights.size <= b.weights.size ? [a.weights, b.weights] : [b.weights, a.weights];
  let dot = 0;
  let shared = 0;
  for (const [term, weight] of small) {
    const other = large.get(term);
    if (other === undefined) continue;
    dot += weight * other;
    shared += 1;
  }
  // Stored norms may lag the live statistics slightly; a similarity never exceeds 1.
  return { cosine: Math.min(1, dot / (a.norm * b.norm)), shared };
}

/** Cosine of two dense vectors (embeddings). */
export function denseCosine(a: readonly number[], b: readonly number[]): number {
  if (a.length === 0 || a.length !== b.length) return 0;
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let index = 0; index < a.length; index += 1) {
    dot += a[index] * b[index];
    normA += a[index] * a[index];
    normB += b[index] * b[index];
  }
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB);
}

/** 1 for equal non-empty strings, 0 otherwise. */
function same(a: string | null, b: string | null): number {
  return a !== null && b !== null && a !== '' && a === b ? 1 : 0;
}

/** Overlap of comma-separated component lists (Jaccard), e.g. "namenode, datanode". */
export function componentOverlap(a: string | null, b: string | null): number {
  if (!a || !b) return 0;
  const left = new Set(a.split(',').map((part) => part.trim().toLowerCase()).filter(Boolean));
  const right = new Set(b.split(',').map((part) => part.trim().toLowerCase()).filter(Boolean));
  let shared = 0;
  for (const part of left) if (right.has(part)) shared += 1;
  const union = left.size + right.size - shared;
  return union === 0 ? 0 : shared / union;
}

/** 1 for the same route, 0.5 when they share their first path segment (same area), else 0. */
export function routeOverlap(a: string | null, b: string | null): number {
  if (!a || !b) return 0;
  if (a === b) return 1;
  const first = (route: string) => route.split('/').filter(Boolean)[0] ?? '';
  const left = first(a);
  return left !== '' && left === first(b) ? 0.5 : 0;
}

/** Smooth decay over the time between two reports: 1 at 0 days, 0.5 at the half-life. */
export function recencyScore(a: Date, b: Date, halfLifeDays: number): number {
  const days = Math.abs(a.getTime() - b.getTime()) / 86_400_000;
  return halfLifeDays / (halfLifeDays + days);
}

/**
 * The signals behind one score, stored with the candidate for the dashboard: similarities in
 * 0..1, plus two plain quantities the auto-merge model reads (days apart, shared terms).
 */
export interface ScoreSignals {
  text: number;
  titleText: number;
  errorSignature: number;
  /** 1 when both reports have an error signature and they differ: evidence of two defects. */
  errorSignatureConflict: number;
  requestSignature: number;
  route: number;
  component: number;
  release: number;
  recency: number;
  /** Days between the two reports. */
  daysApart: number;
  /** Terms the two texts share (among the query's retrieval terms for stored reports). */
  sharedTerms: number;
  embedding?: number;
}

/** Pre-computed vectors of a report, so a query's vectors are built once for all candidates. */
export interface PreparedReport {
  features: ReportFeatures;
  all: WeightedVector;
  title: WeightedVector;
}

/** Builds the vectors of one report under the current corpus statistics. */
export function prepareReport(features: ReportFeatures, statistics: CorpusStatistics, weights: ScoreWeights = defaultWeights): PreparedReport {
  return {
    features,
    all: tfidfVector(fieldWeightedCounts(features.titleTerms, features.bodyTerms, weights.titleBoost), statistics),
    title: tfidfVector(features.titleTerms, statistics),
  };
}

/**
 * A stored report as a prepared vector, when only some of its terms are known: the index
 * returns a candidate's counts for the query terms it was retrieved by, and dot products only
 * need shared terms. The norms are the full ones stored at indexing time (idf drifts little
 * once a project has a few hundred reports, and recomputing them would mean reading every
 * term of every candidate).
 */
export function prepareStoredReport(
  features: ReportFeatures,
  visibleTerms: Iterable<string>,
  norms: { norm: number; titleNorm: number },
  statistics: CorpusStatistics,
  weights: ScoreWeights = defaultWeights,
): PreparedReport {
  const all = new Map<string, number>();
  const title = new Map<string, number>();
  for (const term of visibleTerms) {
    const titleCount = features.titleTerms.get(term) ?? 0;
    const count = (features.bodyTerms.get(term) ?? 0) + titleCount * weights.titleBoost;
    if (count <= 0) continue;
    const idf = inverseDocumentFrequency(statistics.documentCount, statistics.documentFrequency(term));
    all.set(term, (1 + Math.log(count)) * idf);
    if (titleCount > 0) title.set(term, (1 + Math.log(titleCount)) * idf);
  }
  return { features, all: { weights: all, norm: norms.norm }, title: { weights: title, norm: norms.titleNorm } };
}

/** Scores one candidate against the query; both prepared under the same statistics. */
export function scoreCandidate(
  query: PreparedReport,
  candidate: PreparedReport,
  weights: ScoreWeights = defaultWeights,
): { score: number; signals: ScoreSignals } {
  const q = query.features;
  const c = candidate.features;
  const overlap = cosineAndOverlap(query.all, candidate.all);
  const signals: ScoreSignals = {
    text: overlap.cosine,
    titleText: cosine(query.title, candidate.title),
    errorSignature: same(q.errorSignature, c.errorSignature),
    errorSignatureConflict: q.errorSignature && c.errorSignature && q.errorSignature !== c.errorSignature ? 1 : 0,
    requestSignature: same(q.requestSignature, c.requestSignature),
    route: routeOverlap(q.route, c.route),
    component: componentOverlap(q.component, c.component),
    release: same(q.releaseId, c.releaseId),
    recency: recencyScore(q.receivedAt, c.receivedAt, weights.recencyHalfLifeDays),
    daysApart: Math.abs(q.receivedAt.getTime() - c.receivedAt.getTime()) / 86_400_000,
    sharedTerms: overlap.shared,
  };
  let score =
    signals.text * weights.text +
    signals.titleText * weights.titleText +
    signals.errorSignature * weights.errorSignature -
    signals.errorSignatureConflict * weights.errorSignatureConflict +
    signals.requestSignature * weights.requestSignature +
    signals.route * weights.route +
    signals.component * weights.component +
    signals.release * weights.release +
    signals.recency * weights.recency;
  if (q.embedding && c.embedding) {
    signals.embedding = denseCosine(q.embedding, c.embedding);
    score += signals.embedding * weights.embedding;
  }
  return { score, signals };
}


/** A defect-level candidate as the auto-merge policy reads it (score and rounded signals). */
export interface MergeCandidate {
  score: number;
  signals: { readonly [name: string]: number | undefined };
}

/**
 * What the auto-merge model looks at: the best candidate defect and how far it stands from the
 * runner-up. Everything is known when a new report arrives (no labels, no later reports).
 */
export const autoMergeFeatureNames = [
  'text',
  'titleText',
  'route',
  'logDaysApart',
  'runnerUpText',
  'logSharedTerms',
] as const;

export type AutoMergeFeatureName = (typeof autoMergeFeatureNames)[number];

/** The model's inputs for the best candidate and the runner-up (absent when there is none). */
export function autoMergeFeatures(best: MergeCandidate, runnerUp: MergeCandidate | undefined): Record<AutoMergeFeatureName, number> {
  const signal = (candidate: MergeCandidate | undefined, name: string) => candidate?.signals[name] ?? 0;
  return {
    text: signal(best, 'text'),
    titleText: signal(best, 'titleText'),
    route: signal(best, 'route'),
    logDaysApart: Math.log1p(signal(best, 'daysApart')),
    runnerUpText: signal(runnerUp, 'text'),
    logSharedTerms: Math.log1p(signal(best, 'sharedTerms')),
  };
}

/** A logistic model: P(the best candidate is the right defect) = σ(bias + Σ weight · feature). */
export interface AutoMergeModel {
  weights: Readonly<Record<AutoMergeFeatureName, number>>;
  bias: number;
  /** Merge when the probability reaches this. */
  threshold: number;
}

/** The modelled probability that merging into `best` is right. Pure. */
export function autoMergeProbability(best: MergeCandidate, runnerUp: MergeCandidate | undefined, model: AutoMergeModel): number {
  const features = autoMergeFeatures(best, runnerUp);
  let logit = model.bias;
  for (const name of autoMergeFeatureNames) logit += model.weights[name] * features[name];
  return 1 / (1 + Math.exp(-logit));
}

/** When the engine may put a report on an existing defect without a person looking. */
export interface AutoMergePolicy {
  /** Text path: the calibrated model over the words and the structure. */
  model: AutoMergeModel;
  /** Signature path: with the same error signature, this much text similarity is enough… */
  minTextWithSameError: number;
  /** …with the same failed request (but no shared error), this much… */
  minTextWithSameRequest: number;
  /** …and the best must lead the runner-up defect by this much (no coin flips). */
  minSignatureMargin: number;
}

/**
 * Text path, fitted by `bench/dedup-policy-fit.ts` on dev.jsonl with a time split: the weights
 * on the earliest 60% of the reports, the threshold on the latest 40% (the best F-beta there
 * with beta 0.25, i.e. precision counted four times as much as coverage, both as the issue
 * defines them: over every report, duplicate or not). What says "this is the one": high text
 * and title similarity, the same area, many shared terms; what says "there are several such":
 * a runner-up close in words. The time gap barely matters once the score has its recency
 * prior. The margin over the runner-up's score and its ratio were tried and left out: with the
 * runner-up's text in the model they added nothing (margin's weight came out at −0.004) or
 * took a sign that would merge more readily beside a close runner-up. Figures and the
 * precision this reaches: ARCHITECTURE.md ("Auto-merge policy").
 */
export const defaultAutoMergeModel: Readonly<AutoMergeModel> = Object.freeze({
  weights: Object.freeze({
    text: 3.211,
    titleText: 1.9698,
    route: 1.4182,
    logDaysApart: -0.1085,
    runnerUpText: -3.1233,
    logSharedTerms: 0.8536,
  }),
  bias: -7.6106,
  threshold: 0.1635,
});

/**
 * The signature path cannot be tuned on dev.jsonl (it has no signatures): an identical error
 * signature from enrichment (same exception, same top frames) is near-proof, so a little shared
 * wording suffices; one endpoint can fail for several reasons, so a shared failed request
 * needs more.
 */
export const defaultAutoMergePolicy: Readonly<AutoMergePolicy> = Object.freeze({
  model: defaultAutoMergeModel,
  minTextWithSameError: 0.1,
  minTextWithSameRequest: 0.25,
  minSignatureMargin: 0.3,
});

/** The candidate to auto-merge into, or null. `candidates` are defects, best first. Pure. */
export function autoMergeTarget<T extends MergeCandidate>(candidates: readonly T[], policy: AutoMergePolicy = defaultAutoMergePolicy): T | null {
  const [best, runnerUp] = candidates;
  if (!best) return null;
  // Two different errors are two defects, however alike the words.
  if ((best.signals.errorSignatureConflict ?? 0) > 0) return null;
  if (autoMergeProbability(best, runnerUp, policy.model) >= policy.model.threshold) return best;
  if (runnerUp && best.score - runnerUp.score < policy.minSignatureMargin) return null;
  const text = best.signals.text ?? 0;
  if ((best.signals.errorSignature ?? 0) >= 1 && text >= policy.minTextWithSameError) return best;
  if ((best.signals.requestSignature ?? 0) >= 1 && text >= policy.minTextWithSameRequest) return best;
  return null;
}
