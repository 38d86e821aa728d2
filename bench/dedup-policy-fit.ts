/**
 * Fits the auto-merge model (`defaultAutoMergeModel` in server/dedup/duplicate-score.ts) on a
 * benchmark file, with a time split so the figures say how it does on reports it never saw:
 *
 *   npx tsx bench/dedup-policy-fit.ts [--data ../shared/data/dedup/dev.jsonl] [--fit-share 0.6] [--beta 0.25 | --min-precision P]
 *                                     [--query-terms N] [--postings-per-term N] [--rescored N]
 *
 * 1. Replays the file in memory exactly like the engine (bench/dedup-replay.ts) and keeps, for
 *    every report (duplicate or not), the features of its best candidate and runner-up; the
 *    label is whether the best candidate is in the report's duplicate group.
 * 2. Fits an L2-regularised logistic regression (Newton's method on standardised features) on
 *    the earliest `fit-share` of the reports.
 * 3. Chooses the threshold on the later reports only, by the precision (over all
 *    reports: a first report merged anywhere is a wrong merge) and coverage (merged duplicate
 *    queries over duplicate queries): with `--min-precision`, the most coverage at that
 *    precision; by default the best F-beta with beta 0.25 (precision counts four times as much
 *    as coverage: a wrong merge hides a bug, a missed one still shows as a suggestion).
 * 4. Prints the replay's recall@1/5/10 and MRR, precision and coverage on both parts and the
 *    model as TypeScript. The retrieval limits default to the engine's (`defaultRetrievalLimits`);
 *    the flags replay other limits, to check a change keeps recall before making it.
 */
import { parseArgs } from 'node:util';
import { readBenchmarkFile } from './dedup-data';
import { replay } from './dedup-replay';
import { defaultRetrievalLimits } from '../server/dedup/duplicate-index';
import { type AutoMergeFeatureName, autoMergeFeatureNames, autoMergeFeatures } from '../server/dedup/duplicate-score';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/dedup/dev.jsonl' },
    'fit-share': { type: 'string', default: '0.6' },
    'min-precision': { type: 'string' },
    beta: { type: 'string', default: '0.25' },
    l2: { type: 'string', default: '1' },
    /** Comma-separated features to leave out (their weight stays 0), for comparing feature sets. */
    without: { type: 'string', default: '' },
    'query-terms': { type: 'string' },
    'postings-per-term': { type: 'string' },
    rescored: { type: 'string' },
  },
});

const limits = {
  ...defaultRetrievalLimits,
  ...(values['query-terms'] ? { queryTerms: Number(values['query-terms']) } : {}),
  ...(values['postings-per-term'] ? { postingsPerTerm: Number(values['postings-per-term']) } : {}),
  ...(values.rescored ? { rescored: Number(values.rescored) } : {}),
};

interface Example {
  features: number[];
  right: boolean;
  isDuplicate: boolean;
}

const round = (value: number) => Math.round(value * 10_000) / 10_000;

const records = readBenchmarkFile(values.data!);
const examples: Example[] = [];
let duplicates = 0;
let hits1 = 0, hits5 = 0, hits10 = 0, reciprocal = 0;
replay(
  records,
  (report) => {
    if (report.isDuplicate) {
      duplicates += 1;
      const rank = report.relevantRank;
      if (rank >= 1 && rank <= 1) hits1 += 1;
      if (rank >= 1 && rank <= 5) hits5 += 1;
      if (rank >= 1 && rank <= 10) hits10 += 1;
      if (rank >= 1) reciprocal += 1 / rank;
    }
    const [best, runnerUp] = report.candidates;
    if (!best) return;
    const rounded = (candidate: typeof best) => ({
      score: round(candidate.score),
      signals: Object.fromEntries(Object.entries(candidate.signals).map(([name, value]) => [name, round(value as number)])),
    });
    const features = autoMergeFeatures(rounded(best), runnerUp ? rounded(runnerUp) : undefined);
    examples.push({ features: autoMergeFeatureNames.map((name) => features[name]), right: best.relevant, isDuplicate: report.isDuplicate });
  },
  2,
  limits,
);

const fitCount = Math.floor(examples.length * Number(values['fit-share']));
const fitPart = examples.slice(0, fitCount);
const choosePart = examples.slice(fitCount);
const left = new Set(values.without!.split(',').filter(Boolean));
const used = autoMergeFeatureNames.flatMap((name, column) => (left.has(name) ? [] : [column]));
for (const example of examples) example.features = autoMergeFeatureNames.map((_, column) => (used.includes(column) ? example.features[column] : 0));
const dimension = autoMergeFeatureNames.length;

// Standardise on the fitting part, so one L2 penalty treats every feature alike.
const mean = Array.from({ length: dimension }, (_, column) => fitPart.reduce((sum, example) => sum + example.features[column], 0) / fitPart.length);
const deviation = Array.from({ length: dimension }, (_, column) =>
  Math.sqrt(fitPart.reduce((sum, example) => sum + (example.features[column] - mean[column]) ** 2, 0) / fitPart.length) || 1,
);
const standardise = (features: number[]) => [...used.map((column) => (features[column] - mean[column]) / deviation[column]), 1];

/** Newton's method for L2-regularised logistic regression (the bias is not penalised). */
function fitLogistic(rows: number[][], labels: number[], l2: number): number[] {
  const size = rows[0].length;
  let weights = new Array(size).fill(0);
  for (let iteration = 0; iteration < 50; iteration += 1) {
    const gradient = new Array(size).fill(0);
    const hessian = Array.from({ length: size }, () => new Array(size).fill(0));
    rows.forEach((row, index) => {
      const probability = 1 / (1 + Math.exp(-row.reduce((sum, value, column) => sum + value * weights[column], 0)));
      const error = probability - labels[index];
      const curvature = probability * (1 - probability);
      for (let a = 0; a < size; a += 1) {
        gradient[a] += error * row[a];
        for (let b = 0; b < size; b += 1) hessian[a][b] += curvature * row[a] * row[b];
      }
    });
    for (let a = 0; a < size - 1; a += 1) {
      gradient[a] += l2 * weights[a];
      hessian[a][a] += l2;
    }
    const step = solve(hessian, gradient);
    weights = weights.map((weight, column) => weight - step[column]);
    if (Math.max(...step.map(Math.abs)) < 1e-9) break;
  }
  return weights;
}

/** Gaussian elimination with partial pivoting. */
function solve(matrix: number[][], vector: number[]): number[] {
  const size = vector.length;
  const rows = matrix.map((row, index) => [...row, vector[index]]);
  for (let column = 0; column < size; column += 1) {
    let pivot = column;
    for (let row = column + 1; row < size; row += 1) if (Math.abs(rows[row][column]) > Math.abs(rows[pivot][column])) pivot = row;
    [rows[column], rows[pivot]] = [rows[pivot], rows[column]];
    for (let row = column + 1; row < size; row += 1) {
      const factor = rows[row][column] / rows[column][column];
      for (let k = column; k <= size; k += 1) rows[row][k] -= factor * rows[column][k];
    }
  }
  const solution = new Array(size).fill(0);
  for (let row = size - 1; row >= 0; row -= 1) {
    let sum = rows[row][size];
    for (let k = row + 1; k < size; k += 1) sum -= rows[row][k] * solution[k];
    solution[row] = sum / rows[row][row];
  }
  return solution;
}

const standardWeights = fitLogistic(fitPart.map((example) => standardise(example.features)), fitPart.map((example) => (example.right ? 1 : 0)), Number(values.l2));
// Back to raw features: w_raw = w_std / sd, bias_raw = bias_std − Σ w_std · mean / sd.
const rawWeights = new Array(dimension).fill(0);
used.forEach((column, position) => (rawWeights[column] = standardWeights[position] / deviation[column]));
const rawBias = standardWeights[used.length] - used.reduce((sum, column, position) => sum + (standardWeights[position] * mean[column]) / deviation[column], 0);
const probability = (features: number[]) => 1 / (1 + Math.exp(-(rawBias + features.reduce((sum, value, column) => sum + value * rawWeights[column], 0))));

/** Precision (over every would-be merge) and coverage (merged duplicate queries / duplicate queries) at a threshold. */
function evaluate(part: Example[], threshold: number) {
  const merged = part.filter((example) => probability(example.features) >= threshold);
  const right = merged.filter((example) => example.right).length;
  const duplicateQueries = part.filter((example) => example.isDuplicate).length;
  const mergedDuplicates = merged.filter((example) => example.isDuplicate);
  return {
    merges: merged.length,
    precision: merged.length === 0 ? 1 : right / merged.length,
    coverage: mergedDuplicates.length / Math.max(1, duplicateQueries),
    precisionOnDuplicates: mergedDuplicates.length === 0 ? 1 : mergedDuplicates.filter((example) => example.right).length / mergedDuplicates.length,
  };
}

const thresholds = [...new Set(choosePart.map((example) => round(probability(example.features))))].sort((a, b) => a - b);
const beta = Number(values.beta);
const fBeta = ({ precision, coverage }: { precision: number; coverage: number }) =>
  precision + coverage === 0 ? 0 : ((1 + beta ** 2) * precision * coverage) / (beta ** 2 * precision + coverage);
let chosen = 1;
let chosenBy: string;
if (values['min-precision']) {
  const minPrecision = Number(values['min-precision']);
  chosenBy = `the most coverage with later-part precision ≥ ${minPrecision}`;
  // The lowest threshold meeting the precision floor gives the most coverage.
  chosen = thresholds.find((threshold) => {
    const figures = evaluate(choosePart, threshold);
    return figures.precision >= minPrecision && figures.merges >= 5;
  }) ?? 1;
} else {
  chosenBy = `the best later-part F-beta, beta ${beta}`;
  let best = -1;
  for (const threshold of thresholds) {
    const score = fBeta(evaluate(choosePart, threshold));
    if (score > best) [best, chosen] = [score, threshold];
  }
}

const format = (figures: ReturnType<typeof evaluate>) =>
  `${figures.merges} merges, precision ${figures.precision.toFixed(3)}, coverage ${figures.coverage.toFixed(3)}, precision on duplicates only ${figures.precisionOnDuplicates.toFixed(3)}`;
console.log(`retrieval limits ${JSON.stringify(limits)}`);
console.log(
  `recall@1 ${(hits1 / duplicates).toFixed(3)}  recall@5 ${(hits5 / duplicates).toFixed(3)}  recall@10 ${(hits10 / duplicates).toFixed(3)}  MRR ${(reciprocal / duplicates).toFixed(3)}`,
);
console.log(`${records.length} reports (${duplicates} duplicates); fit on the first ${fitPart.length} with a candidate, threshold chosen on the last ${choosePart.length}`);
console.log('precision / coverage on the later part by threshold:');
for (const threshold of [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6]) console.log(`  ≥ ${threshold.toFixed(2)}: ${format(evaluate(choosePart, threshold))}`);
console.log(`chosen threshold ${chosen} (${chosenBy}):`);
console.log(`  fitting part: ${format(evaluate(fitPart, chosen))}`);
console.log(`  later part:   ${format(evaluate(choosePart, chosen))}`);
console.log(`  whole file:   ${format(evaluate(examples, chosen))}`);
const weights = Object.fromEntries(autoMergeFeatureNames.map((name, column) => [name, round(rawWeights[column])])) as Record<AutoMergeFeatureName, number>;
console.log(JSON.stringify({ weights, bias: round(rawBias), threshold: chosen }));
