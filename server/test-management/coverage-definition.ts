import { type Expression, type RawBuilder, sql } from 'kysely';
import { defectTestLinkKinds } from '../../shared/test-case-schema';

/**
 * The one definition of test coverage (docs/metrics.md, "Coverage"), used by the inbox (its
 * `coverageGap` flag and filter), the defect page, `GET …/coverage/gaps`, the metrics (escaped
 * without coverage, escaped by component, ineffective tests' denominator) and release readiness:
 *
 * A defect is **covered** when a test case is linked to it by a link of any kind (`covers`,
 * `failed_in`, `regression_test_added`: every kind says a test exercises what went wrong) and
 * that test case is not archived. At an instant `asOf` (the metrics), only links created by then
 * count, and a test case archived after `asOf` still counted then.
 *
 * A **coverage gap** is a field defect (origin `field`: users found it) that is not covered.
 */
export const coveringLinkKinds = defectTestLinkKinds;

/** The conditions on a link `l` and its test case `tc` that make it a covering link (now, or at `asOf`). */
function coveringLinkConditions(asOf?: Date): RawBuilder<boolean> {
  const kinds = sql`l.kind in (${sql.join([...coveringLinkKinds])})`;
  return asOf
    ? sql<boolean>`${kinds} and l.created_at <= ${asOf} and (tc.archived_at is null or tc.archived_at > ${asOf})`
    : sql<boolean>`${kinds} and tc.archived_at is null`;
}

/** SQL: a subquery of the covering links, `(defect_id, test_case_id)` (for statements over many defects). */
export function coveringLinks(asOf?: Date): RawBuilder<{ defect_id: string; test_case_id: string }> {
  return sql`select l.defect_id, l.test_case_id from defect_test_links l join test_cases tc on tc.id = l.test_case_id where ${coveringLinkConditions(asOf)}`;
}

/** SQL: whether the defect with id `defectId` is covered (now, or at `asOf`). */
export function hasCoveringTest(defectId: Expression<string> | RawBuilder<string>, asOf?: Date): RawBuilder<boolean> {
  return sql<boolean>`exists (
    select 1 from defect_test_links l join test_cases tc on tc.id = l.test_case_id
    where l.defect_id = ${defectId} and ${coveringLinkConditions(asOf)}
  )`;
}

/** SQL: whether a defect (its id and origin columns) is a coverage gap (now, or at `asOf`). */
export function isCoverageGap(defect: { id: Expression<string> | RawBuilder<string>; origin: Expression<string> | RawBuilder<string> }, asOf?: Date): RawBuilder<boolean> {
  return sql<boolean>`(${defect.origin} = 'field' and not ${hasCoveringTest(defect.id, asOf)})`;
}
