import { describe, expect, it } from 'vitest';
import { candidatesByDefect, reportTitle } from '../../server/dedup/assign-report';
import type { ScoredReport } from '../../server/dedup/duplicate-index';

const signals = { text: 0.5, titleText: 0.1, errorSignature: 0, errorSignatureConflict: 0, requestSignature: 0, route: 1, component: 0, release: 0, recency: 0.9, daysApart: 3, sharedTerms: 4 };
const scored = (reportId: string, defectId: string, score: number): ScoredReport => ({ reportId, defectId, score, signals });

describe('candidatesByDefect', () => {
  it('keeps the best report of each defect, in score order', () => {
    const candidates = candidatesByDefect([scored('r1', 'd1', 0.9), scored('r2', 'd2', 0.8), scored('r3', 'd1', 0.7)]);
    expect(candidates.map((candidate) => [candidate.defectId, candidate.reportId, candidate.score])).toEqual([
      ['d1', 'r1', 0.9],
      ['d2', 'r2', 0.8],
    ]);
  });

  it('stops at the limit', () => {
    const reports = Array.from({ length: 15 }, (_, index) => scored(`r${index}`, `d${index}`, 1 - index / 100));
    expect(candidatesByDefect(reports)).toHaveLength(10);
  });
});

describe('reportTitle', () => {
  it('prefers the reporter’s title, then the drafted one, then the first words', () => {
    expect(reportTitle({ title: 'Pay fails', enrichment: { title: 'Drafted' }, description: 'words' })).toBe('Pay fails');
    expect(reportTitle({ title: null, enrichment: { title: 'Drafted' }, description: 'words' })).toBe('Drafted');
    expect(reportTitle({ title: '  ', enrichment: {}, description: 'first words of it' })).toBe('first words of it');
  });
});
