import { type RawBuilder, sql } from 'kysely';

/**
 * SQL: how many reports of the defect `defectId` (in project `projectId`) were received between
 * `start` and `end` (both inclusive), read from its `defect_report_tallies` row `tally` (joined
 * on defect and project; null columns when the defect has no tally row). Equal to
 * `select count(*) from reports where defect_id = … and project_id = … and received_at between …`
 * (test/db/metrics-report-tallies.test.ts checks this on random histories), but it touches
 * `reports` only for a defect whose received-at bounds straddle an end of the window: the
 * bounds never lie inside the reports' span (migration 20261203_0100_defect_report_tallies), so
 * bounds inside the window mean every report is in it, and bounds outside it mean none is.
 */
export function reportsReceivedBetween(
  tally: string,
  defectId: RawBuilder<string>,
  projectId: string,
  start: Date,
  end: Date,
): RawBuilder<number> {
  const column = (name: string) => sql.ref(`${tally}.${name}`);
  return sql<number>`case
    when ${column('reports')} is null or ${column('reports')} = 0
      or ${column('last_received_at')} < ${start} or ${column('first_received_at')} > ${end} then 0
    when ${column('first_received_at')} >= ${start} and ${column('last_received_at')} <= ${end} then ${column('reports')}
    else (select count(*)::int from reports r
          where r.defect_id = ${defectId} and r.project_id = ${projectId} and r.received_at between ${start} and ${end})
  end`;
}
