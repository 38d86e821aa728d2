import { describe, expect, it } from 'vitest';
import {
  type CorpusStatistics,
  type ReportFeatures,
  autoMergeFeatures,
  autoMergeProbability,
  autoMergeTarget,
  defaultAutoMergeModel,
  componentOverlap,
  cosine,
  defaultAutoMergePolicy,
  prepareReport,
  prepareStoredReport,
  recencyScore,
  routeOverlap,
  scoreCandidate,
  tfidfVector,
} from '../../server/dedup/duplicate-score';
import { stemTerm, termFrequencies, textTerms } from '../../server/dedup/text-terms';

const statistics = (documentCount: number, frequencies: Record<string, number> = {}): CorpusStatistics => ({
  documentCount,
  documentFrequency: (term) => frequencies[term] ?? 0,
});

const features = (title: string, body = '', extra: Partial<ReportFeatures> = {}): ReportFeatures => ({
  titleTerms: termFrequencies(textTerms(title)),
  bodyTerms: termFrequencies(textTerms(body)),
  receivedAt: new Date('2026-01-10T00:00:00Z'),
  route: null,
  component: null,
  releaseId: null,
  errorSignature: null,
  requestSignature: null,
  ...extra,
});

describe('textTerms', () => {
  it('splits code identifiers into parts and keeps the whole identifier', () => {
    expect(textTerms('CompositeRecordReader failed')).toEqual(['compositerecordreader', 'composite', 'record', 'reader', 'fail']);
  });

  it('drops stop words and bare numbers', () => {
    // "nothing" stems to "noth": crude, but the same on both sides of every comparison
    expect(textTerms('The page is 404 and the button does nothing')).toEqual(['page', 'button', 'noth']);
  });

  it('drops opaque ids (UUIDs, hashes, hex addresses) and keeps words that merely look hexadecimal', () => {
    expect(textTerms('Order 3f2a9c1e-4b7d-4e2a-9c1e-0a1b2c3d4e5f failed at 0x7ffee4b2 (commit 9fceb02d0ae5)')).toEqual(['order', 'fail', 'commit']);
    expect(textTerms('decade facade beef cafe HTTP2 b2b')).toEqual(['decade', 'facade', 'beef', 'cafe', 'http2', 'b2b']);
  });

  it('stems plurals and -ing/-ed forms of longer words only', () => {
    expect([stemTerm('failing'), stemTerm('crashed'), stemTerm('buttons'), stemTerm('class'), stemTerm('bus')]).toEqual([
      'fail', 'crash', 'button', 'class', 'bus',
    ]);
  });
});

describe('cosine of tf-idf vectors', () => {
  it('is 1 for identical texts and 0 for texts without shared terms', () => {
    const stats = statistics(100, { checkout: 5, button: 20, avatar: 3 });
    const a = tfidfVector(termFrequencies(['checkout', 'button']), stats);
    const b = tfidfVector(termFrequencies(['avatar']), stats);
    expect(cosine(a, a)).toBeCloseTo(1, 6);
    expect(cosine(a, b)).toBe(0);
  });

  it('weighs a shared rare term above a shared common term', () => {
    const stats = statistics(1000, { checkout: 5, page: 600 });
    const query = tfidfVector(termFrequencies(['checkout', 'page']), stats);
    const sharesRare = tfidfVector(termFrequencies(['checkout', 'avatar']), stats);
    const sharesCommon = tfidfVector(termFrequencies(['page', 'avatar']), stats);
    expect(cosine(query, sharesRare)).toBeGreaterThan(cosine(query, sharesCommon));
  });
});

describe('structural signals', () => {
  it('gives component lists partial credit by overlap', () => {
    expect(componentOverlap('namenode, datanode', 'datanode')).toBeCloseTo(0.5);
    expect(componentOverlap('checkout', 'Checkout')).toBe(1);
    expect(componentOverlap(null, 'checkout')).toBe(0);
  });

  it('gives routes in the same area half credit', () => {
    expect(routeOverlap('/checkout/pay', '/checkout/pay')).toBe(1);
    expect(routeOverlap('/checkout/pay', '/checkout/cart')).toBe(0.5);
    expect(routeOverlap('/checkout', '/profile')).toBe(0);
  });

  it('halves the recency signal at the half-life and keeps decreasing', () => {
    const day = 86_400_000;
    const start = new Date(0);
    expect(recencyScore(start, start, 30)).toBe(1);
    expect(recencyScore(start, new Date(30 * day), 30)).toBeCloseTo(0.5);
    expect(recencyScore(start, new Date(300 * day), 30)).toBeLessThan(recencyScore(start, new Date(100 * day), 30));
  });
});

describe('scoreCandidate', () => {
  const stats = statistics(200, { checkout: 10, pay: 8, button: 30, nothing: 40, profile: 12, picture: 6, upload: 9 });

  it('ranks the same complaint in other words above a different complaint in similar words', () => {
    const query = prepareReport(features('Pay button does nothing on checkout'), stats);
    const same = prepareReport(features('Checkout: clicking pay does nothing'), stats);
    const other = prepareReport(features('Upload button does nothing on profile picture'), stats);
    expect(scoreCandidate(query, same).score).toBeGreaterThan(scoreCandidate(query, other).score);
  });

  it('adds the error signature signal only for equal signatures', () => {
    const query = prepareReport(features('Checkout broken', '', { errorSignature: 'TypeError:cart.total' }), stats);
    const sameError = prepareReport(features('Profile broken', '', { errorSignature: 'TypeError:cart.total' }), stats);
    const otherError = prepareReport(features('Profile broken', '', { errorSignature: 'RangeError:avatar' }), stats);
    const same = scoreCandidate(query, sameError);
    const other = scoreCandidate(query, otherError);
    expect(same.signals.errorSignature).toBe(1);
    expect(other.signals.errorSignature).toBe(0);
    expect(same.score).toBeGreaterThan(other.score);
  });

  it('prefers the more recent of two equally similar reports', () => {
    const query = prepareReport(features('Pay button does nothing', '', { receivedAt: new Date('2026-03-01T00:00:00Z') }), stats);
    const recent = prepareReport(features('Pay button does nothing', '', { receivedAt: new Date('2026-02-25T00:00:00Z') }), stats);
    const old = prepareReport(features('Pay button does nothing', '', { receivedAt: new Date('2024-02-25T00:00:00Z') }), stats);
    expect(scoreCandidate(query, recent).score).toBeGreaterThan(scoreCandidate(query, old).score);
  });

  it('scores a stored report from its query-term counts exactly as from its full text', () => {
    const query = prepareReport(features('Pay button does nothing on checkout'), stats);
    const full = prepareReport(features('Checkout pay fails', 'the pay button on checkout does nothing at all, profile is fine'), stats);
    const stored = prepareStoredReport(full.features, query.all.weights.keys(), { norm: full.all.norm, titleNorm: full.title.norm }, stats);
    expect(scoreCandidate(query, stored).score).toBeCloseTo(scoreCandidate(query, full).score, 10);
  });
});

describe('autoMergeTarget', () => {
  /** A defect candidate with the signals the model reads; a near-copy by default. */
  const candidate = (score: number, text: number, extra: Record<string, number> = {}) => ({
    defectId: `d${score}`,
    score,
    signals: { text, titleText: text, route: 1, component: 0, daysApart: 2, sharedTerms: 25, ...extra },
  });

  it('merges a clear, textually close winner', () => {
    const best = candidate(1.5, 0.95);
    expect(autoMergeProbability(best, candidate(0.3, 0.2), defaultAutoMergeModel)).toBeGreaterThan(defaultAutoMergeModel.threshold);
    expect(autoMergeTarget([best, candidate(0.3, 0.2)])).toBe(best);
  });

  it('never merges on a low score or with no candidates', () => {
    expect(autoMergeTarget([candidate(0.2, 0.2, { titleText: 0.1, sharedTerms: 3 })])).toBeNull();
    expect(autoMergeTarget([])).toBeNull();
  });

  it('does not merge on words alone across areas of the product', () => {
    const best = candidate(1.2, 0.7, { route: 0 });
    const runnerUp = candidate(0.5, 0.3);
    expect(autoMergeTarget([{ ...best, signals: { ...best.signals, route: 1 } }, runnerUp])).not.toBeNull();
    expect(autoMergeTarget([best, runnerUp])).toBeNull();
  });

  it('grows more confident with similarity and less with a close runner-up (the fitted signs)', () => {
    const runnerUp = candidate(0.4, 0.3);
    const probability = (text: number, runner = runnerUp) => autoMergeProbability(candidate(0.6 + text, text), runner, defaultAutoMergeModel);
    expect(probability(0.9)).toBeGreaterThan(probability(0.6));
    expect(probability(0.6)).toBeGreaterThan(probability(0.3));
    expect(probability(0.9, candidate(1.3, 0.8))).toBeLessThan(probability(0.9));
  });

  it('computes the features from the best candidate and the runner-up', () => {
    const features = autoMergeFeatures(candidate(2, 0.9, { daysApart: Math.E - 1, sharedTerms: 9 }), candidate(0.5, 0.4));
    expect(features).toMatchObject({ text: 0.9, titleText: 0.9, route: 1, runnerUpText: 0.4 });
    expect(features.logDaysApart).toBeCloseTo(1, 10);
    expect(features.logSharedTerms).toBeCloseTo(Math.log(10), 10);
    expect(autoMergeFeatures(candidate(2, 0.9), undefined)).toMatchObject({ runnerUpText: 0 });
  });

  it('merges on a shared error signature with little shared wording', () => {
    const best = candidate(0.6, 0.15, { errorSignature: 1, route: 0, titleText: 0, sharedTerms: 1 });
    expect(autoMergeProbability(best, undefined, defaultAutoMergeModel)).toBeLessThan(defaultAutoMergeModel.threshold);
    expect(autoMergeTarget([best])).toBe(best);
  });

  it('needs the signature path’s margin over the runner-up too', () => {
    const best = candidate(0.6, 0.15, { errorSignature: 1, route: 0, titleText: 0, sharedTerms: 1 });
    const close = candidate(0.6 - defaultAutoMergePolicy.minSignatureMargin / 2, 0.1, { route: 0, titleText: 0, sharedTerms: 1 });
    expect(autoMergeTarget([best, close])).toBeNull();
  });
});

describe('error signature conflict', () => {
  const stats = statistics(200, { pay: 8, save: 9, button: 30, click: 25 });

  it('never auto-merges two reports whose error signatures differ, however alike the words', () => {
    const query = prepareReport(features('Button does nothing', 'I click it and nothing happens', { errorSignature: 'TypeError at settings.js' }), stats);
    const candidate = prepareReport(features('Button does nothing', 'I click it and nothing happens', { errorSignature: 'TypeError at checkout.js' }), stats);
    const { score, signals } = scoreCandidate(query, candidate);
    expect(signals.text).toBeCloseTo(1, 6);
    expect(signals.errorSignatureConflict).toBe(1);
    expect(autoMergeTarget([{ defectId: 'd', score, signals: { ...signals } }])).toBeNull();
  });
});
