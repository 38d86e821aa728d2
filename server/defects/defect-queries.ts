import { type Expression, type Kysely, type SqlBool, type Transaction, sql } from 'kysely';
import type { Database, DefectOrigin, DefectSeverity, DefectStatus } from '../db/schema';
import { AppError, notFound } from '../http/app-error';
import { isUuid } from '../projects/project-service';
import { isCoverageGap } from '../test-management/coverage-definition';

/** The shared coverage definition over the inbox's `defects` rows. */
const inboxCoverageGap = isCoverageGap({ id: sql.ref('defects.id'), origin: sql.ref('defects.origin') });

type Executor = Kysely<Database> | Transaction<Database>;

/** Statuses the inbox shows by default: everything someone still has to act on. */
export const openStatuses: DefectStatus[] = ['new', 'triaged', 'in_progress', 'reopened'];
export const inboxSorts = ['impact', 'last_seen', 'first_seen', 'reports', 'users', 'created'] as const;
export type InboxSort = (typeof inboxSorts)[number];

/** Everything the inbox can filter by; absent fields do not filter. */
export interface InboxFilters {
  statuses?: DefectStatus[];
  severities?: (DefectSeverity | 'none')[];
  component?: string;
  releaseId?: string;
  origin?: DefectOrigin | DefectOrigin[];
  hasTicket?: boolean;
  /** Reopened at least once. */
  reopened?: boolean;
  /** Field defects with no linked test case: what the test suite missed. */
  coverageGap?: boolean;
  assigneeId?: string | 'none';
  /** Full-text search over title and description (websearch syntax), or an exact key like WEB-42. */
  search?: string;
  /** Defects without a component (the metrics' "no component" group); `component` is ignored then. */
  noComponent?: boolean;
  /** Created in [createdFrom, createdTo] (the metrics' throughput weeks). */
  createdFrom?: Date;
  createdTo?: Date;
  /** Last entered a done status in [resolvedFrom, resolvedTo] (MTTR windows, resolved per week). */
  resolvedFrom?: Date;
  resolvedTo?: Date;
  /** Age at `now` in days, [minDays, maxDays): the metrics' open-defect age buckets. */
  age?: { minDays: number; maxDays: number | null; now: Date };
}

export interface InboxPage {
  defects: InboxRow[];
  /** Matching defects, counted up to 1,000; `totalIsLowerBound` when there are more. */
  total: number;
  totalIsLowerBound: boolean;
  offset: number;
  limit: number;
  hasMore: boolean;
}

export interface InboxRow {
  id: string;
  key: string;
  title: string;
  status: DefectStatus;
  severity: DefectSeverity | null;
  priority: string | null;
  component: string | null;
  origin: DefectOrigin;
  reportCount: number;
  affectedUsers: number;
  firstSeenAt: Date;
  lastSeenAt: Date;
  release: string | null;
  assigneeEmail: string | null;
  ticket: { kind: string; key: string | null; url: string | null; state: string | null } | null;
  coverageGap: boolean;
}

/**
 * Counting every match of a broad filter over 100,000 rows costs more than the page itself, so
 * the count stops at 1,000 ("1,000+"); paging goes on past it (up to offset 10,000) via hasMore.
 */
const countLimit = 1_000;
const offsetLimit = 10_000;

/**
 * One page of the inbox. Offset pagination: pages are shallow in practice (triage works from
 * the top), and offsets keep "page 3 of N" honest under any sort; offsets stop at 10,000.
 * The default order, impact, reads the `defects_impact` index (see migration 0200).
 */
export async function listInbox(
  db: Executor,
  projectId: string,
  filters: InboxFilters,
  options: { sort?: InboxSort; limit?: number; offset?: number } = {},
): Promise<InboxPage> {
  const limit = Math.min(Math.max(options.limit ?? 50, 1), 100);
  const offset = Math.min(Math.max(options.offset ?? 0, 0), offsetLimit);
  const base = () => {
    let query = db.selectFrom('defects').where('defects.projectId', '=', projectId).where('defects.mergedIntoId', 'is', null);
    if (filters.statuses?.length) query = query.where('defects.status', 'in', filters.statuses);
    if (filters.severities?.length) {
      const named = filters.severities.filter((value): value is DefectSeverity => value !== 'none');
      const none = filters.severities.includes('none');
      query = query.where((eb) => {
        const parts: Expression<SqlBool>[] = [];
        if (named.length) parts.push(eb('defects.severity', 'in', named));
        if (none) parts.push(eb('defects.severity', 'is', null));
        return eb.or(parts);
      });
    }
    if (filters.noComponent) query = query.where('defects.component', 'is', null);
    else if (filters.component) query = query.where('defects.component', '=', filters.component);
    if (filters.createdFrom) query = query.where('defects.createdAt', '>=', filters.createdFrom);
    if (filters.createdTo) query = query.where('defects.createdAt', '<=', filters.createdTo);
    if (filters.resolvedFrom) query = query.where('defects.resolvedAt', '>=', filters.resolvedFrom);
    if (filters.resolvedTo) query = query.where('defects.resolvedAt', '<=', filters.resolvedTo);
    if (filters.age) {
      // Same edges as the metrics' buckets: age = now − created, in [min, max) days.
      const day = 86_400_000;
      query = query.where('defects.createdAt', '<=', new Date(filters.age.now.getTime() - filters.age.minDays * day));
      if (filters.age.maxDays !== null) query = query.where('defects.createdAt', '>', new Date(filters.age.now.getTime() - filters.age.maxDays * day));
    }
    if (filters.releaseId) query = query.where('defects.foundInReleaseId', '=', filters.releaseId);
    if (Array.isArray(filters.origin)) query = query.where('defects.origin', 'in', filters.origin);
    else if (filters.origin) query = query.where('defects.origin', '=', filters.origin);
    if (filters.reopened !== undefined) query = query.where('defects.reopenCount', filters.reopened ? '>' : '=', 0);
    if (filters.assigneeId === 'none') query = query.where('defects.assigneeId', 'is', null);
    else if (filters.assigneeId) query = query.where('defects.assigneeId', '=', filters.assigneeId);
    if (filters.hasTicket !== undefined) {
      const tickets = sql<SqlBool>`exists (select 1 from external_tickets t where t.defect_id = defects.id)`;
      query = query.where(filters.hasTicket ? tickets : sql<SqlBool>`not ${tickets}`);
    }
    if (filters.coverageGap !== undefined) {
      const gap = sql<SqlBool>`${inboxCoverageGap}`;
      query = query.where(filters.coverageGap ? gap : sql<SqlBool>`not ${gap}`);
    }
    const search = filters.search?.trim();
    if (search) {
      query = query.where((eb) =>
        eb.or([
          sql<SqlBool>`defects.search @@ websearch_to_tsquery('english', ${search})`,
          eb('defects.key', '=', search.toUpperCase()),
        ]),
      );
    }
    return query;
  };

  const sort = options.sort ?? 'impact';
  const sortColumn = {
    impact: 'defects.impact',
    last_seen: 'defects.lastSeenAt',
    first_seen: 'defects.firstSeenAt',
    reports: 'defects.reportCount',
    users: 'defects.affectedUsers',
    created: 'defects.createdAt',
  } as const;
  const rowsQuery = base()
    .leftJoin('releases', 'releases.id', 'defects.foundInReleaseId')
    .leftJoin('users', 'users.id', 'defects.assigneeId')
    .select([
      'defects.id',
      'defects.key',
      'defects.title',
      'defects.status',
      'defects.severity',
      'defects.priority',
      'defects.component',
      'defects.origin',
      'defects.reportCount',
      'defects.affectedUsers',
      'defects.firstSeenAt',
      'defects.lastSeenAt',
      'releases.version as release',
      'users.email as assigneeEmail',
      sql<InboxRow['ticket']>`(
        select json_build_object('kind', t.destination_kind, 'key', t.external_key, 'url', t.url, 'state', t.state)
        from external_tickets t where t.defect_id = defects.id order by t.created_at limit 1
      )`.as('ticket'),
      inboxCoverageGap.as('coverageGap'),
    ])
    .orderBy(sortColumn[sort], 'desc')
    .orderBy('defects.id', 'desc')
    .limit(limit + 1)
    .offset(offset);
  const countQuery = db
    .selectFrom(base().select(sql`1`.as('one')).limit(countLimit + 1).as('matches'))
    .select((eb) => eb.fn.countAll<string>().as('count'));
  const [rows, counted] = await Promise.all([rowsQuery.execute(), countQuery.executeTakeFirstOrThrow()]);
  const total = Number(counted.count);
  return {
    defects: rows.slice(0, limit) as InboxRow[],
    // Past the counted range, the total is at least what the page shows.
    total: Math.max(Math.min(total, countLimit), offset + Math.min(rows.length, limit)),
    totalIsLowerBound: total > countLimit || rows.length > limit,
    offset,
    limit,
    hasMore: rows.length > limit,
  };
}

/** Finds a defect of a project by id or by key (WEB-42), or throws 404. */
export async function resolveDefectId(db: Executor, projectId: string, idOrKey: string): Promise<string> {
  const query = db.selectFrom('defects').select('id').where('projectId', '=', projectId);
  const row = isUuid(idOrKey)
    ? await query.where('id', '=', idOrKey).executeTakeFirst()
    : /^[A-Z][A-Z0-9]{0,9}-\d{1,9}$/i.test(idOrKey)
      ? await query.where('key', '=', idOrKey.toUpperCase()).executeTakeFirst()
      : undefined;
  if (!row) throw notFound('defect');
  return row.id;
}

/** The defect page's header and triage fields, with names resolved. */
export async function getDefectDetail(db: Executor, projectId: string, defectId: string) {
  const defect = await db
    .selectFrom('defects')
    .leftJoin('releases as found', 'found.id', 'defects.foundInReleaseId')
    .leftJoin('releases as fixed', 'fixed.id', 'defects.fixedInReleaseId')
    .leftJoin('users as assignee', 'assignee.id', 'defects.assigneeId')
    .leftJoin('defects as merged', 'merged.id', 'defects.mergedIntoId')
    .select([
      'defects.id',
      'defects.key',
      'defects.title',
      'defects.description',
      'defects.status',
      'defects.severity',
      'defects.priority',
      'defects.assigneeId',
      'assignee.email as assigneeEmail',
      'defects.component',
      'defects.route',
      'defects.origin',
      'defects.foundInReleaseId',
      'found.version as foundInRelease',
      'defects.fixedInReleaseId',
      'fixed.version as fixedInRelease',
      'defects.errorSignature',
      'defects.requestSignature',
      'defects.reportCount',
      'defects.affectedUsers',
      'defects.reopenCount',
      'defects.firstSeenAt',
      'defects.lastSeenAt',
      'defects.resolvedAt',
      'defects.createdAt',
      'defects.updatedAt',
      'defects.mergedIntoId',
      'merged.key as mergedIntoKey',
      inboxCoverageGap.as('coverageGap'),
    ])
    .where('defects.id', '=', defectId)
    .where('defects.projectId', '=', projectId)
    .executeTakeFirst();
  if (!defect) throw notFound('defect');
  const [breakdown, tests, tickets] = await Promise.all([
    deviceBreakdown(db, defectId),
    db
      .selectFrom('defectTestLinks')
      .innerJoin('testCases', 'testCases.id', 'defectTestLinks.testCaseId')
      .leftJoin('testResults', 'testResults.id', 'defectTestLinks.testResultId')
      .select(['defectTestLinks.id', 'defectTestLinks.kind', 'testCases.key', 'testCases.title', 'testCases.id as testCaseId', 'testResults.status as resultStatus', 'defectTestLinks.createdAt'])
      .where('defectTestLinks.defectId', '=', defectId)
      .orderBy('defectTestLinks.createdAt')
      .execute(),
    db
      .selectFrom('externalTickets')
      .select(['id', 'destinationKind', 'externalKey', 'url', 'state', 'createdAt', 'lastSyncedAt'])
      .where('defectId', '=', defectId)
      .orderBy('createdAt')
      .execute(),
  ]);
  return { defect, breakdown, tests, tickets };
}

/** How many reports came from each browser, OS and device type (from enrichment). */
async function deviceBreakdown(db: Executor, defectId: string) {
  const rows = await sql<{ dimension: 'browser' | 'os' | 'device'; name: string; count: number }>`
    select dimension, name, count(*)::int as count from (
      select 'browser' as dimension, coalesce(enrichment #>> '{device,browser,name}', 'Unknown') as name from reports where defect_id = ${defectId}
      union all
      select 'os', coalesce(enrichment #>> '{device,os,name}', 'Unknown') from reports where defect_id = ${defectId}
      union all
      select 'device', coalesce(enrichment #>> '{device,device,type}', 'Unknown') from reports where defect_id = ${defectId}
    ) facts
    group by dimension, name
    order by dimension, count desc, name
  `.execute(db);
  const result: Record<'browser' | 'os' | 'device', { name: string; count: number }[]> = { browser: [], os: [], device: [] };
  for (const row of rows.rows) result[row.dimension].push({ name: row.name, count: row.count });
  return result;
}

/** A defect's reports, newest first, with the payload, enrichment and attachment descriptions. */
export async function listDefectReports(db: Executor, defectId: string, options: { limit?: number; offset?: number } = {}) {
  const limit = Math.min(Math.max(options.limit ?? 20, 1), 50);
  const offset = Math.max(options.offset ?? 0, 0);
  const reports = await db
    .selectFrom('reports')
    .leftJoin('releases', 'releases.id', 'reports.releaseId')
    .select([
      'reports.id',
      'reports.origin',
      'reports.state',
      'reports.receivedAt',
      'reports.title',
      'reports.description',
      'reports.expected',
      'reports.steps',
      'reports.reporterEmail',
      'reports.reporterId',
      'reports.url',
      'reports.route',
      'reports.component',
      'reports.environment',
      'releases.version as release',
      // As text: the CamelCasePlugin would rename the reporter's own keys (metadata `order_id`
      // would come back as `orderId`); what a user sent is shown as sent.
      sql<string>`reports.payload::text`.as('payloadText'),
      'reports.enrichment',
      'reports.errorSignature',
      'reports.requestSignature',
    ])
    .where('reports.defectId', '=', defectId)
    .orderBy('reports.receivedAt', 'desc')
    .orderBy('reports.id')
    .limit(limit + 1)
    .offset(offset)
    .execute();
  const page = reports.slice(0, limit);
  const attachments = page.length
    ? await db
        .selectFrom('reportAttachments')
        .innerJoin('attachmentBlobs', 'attachmentBlobs.sha256', 'reportAttachments.sha256')
        .select([
          'reportAttachments.id',
          'reportAttachments.reportId',
          'reportAttachments.kind',
          'reportAttachments.filename',
          'attachmentBlobs.contentType',
          'attachmentBlobs.byteSize',
          'attachmentBlobs.width',
          'attachmentBlobs.height',
        ])
        .where('reportAttachments.reportId', 'in', page.map((report) => report.id))
        .execute()
    : [];
  return {
    reports: page.map(({ payloadText, ...report }) => ({
      ...report,
      payload: JSON.parse(payloadText) as Record<string, unknown>,
      attachments: attachments.filter((attachment) => attachment.reportId === report.id),
    })),
    hasMore: reports.length > limit,
  };
}

/** The history timeline: every event of the defect with the actor's email, oldest first. */
export async function listDefectEvents(db: Executor, defectId: string) {
  return db
    .selectFrom('defectEvents')
    .leftJoin('users', 'users.id', 'defectEvents.actorUserId')
    .select(['defectEvents.id', 'defectEvents.kind', 'defectEvents.field', 'defectEvents.oldValue', 'defectEvents.newValue', 'defectEvents.actorKind', 'users.email as actorEmail', 'defectEvents.createdAt'])
    .where('defectEvents.defectId', '=', defectId)
    .orderBy('defectEvents.createdAt')
    .orderBy('defectEvents.id')
    .limit(1000)
    .execute();
}

/** Comments, oldest first, with the author's email. */
export async function listDefectComments(db: Executor, defectId: string) {
  return db
    .selectFrom('defectComments')
    .leftJoin('users', 'users.id', 'defectComments.authorId')
    .select(['defectComments.id', 'defectComments.body', 'defectComments.createdAt', 'defectComments.authorId', 'users.email as authorEmail', 'users.name as authorName'])
    .where('defectComments.defectId', '=', defectId)
    .orderBy('defectComments.createdAt')
    .execute();
}

/** The newest history event of a project: the inbox polls it to notice new reports and changes. */
export async function latestProjectActivity(db: Executor, projectId: string): Promise<string | null> {
  const row = await db
    .selectFrom('defectEvents')
    .select(['id', 'createdAt'])
    .where('projectId', '=', projectId)
    .orderBy('createdAt', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? `${row.createdAt.toISOString()}/${row.id}` : null;
}

/** Checks that an id names a release of this project (404 otherwise). */
export async function assertProjectRelease(db: Executor, projectId: string, releaseId: string | null | undefined): Promise<void> {
  if (!releaseId) return;
  const release = isUuid(releaseId) ? await db.selectFrom('releases').select('id').where('id', '=', releaseId).where('projectId', '=', projectId).executeTakeFirst() : undefined;
  if (!release) throw new AppError('invalid_request', 'No such release in this project', { field: 'releaseId' });
}

/** Checks that a user is a member of the project, so defects are assigned only to teammates. */
export async function assertProjectMember(db: Executor, projectId: string, userId: string | null | undefined): Promise<void> {
  if (!userId) return;
  const member = isUuid(userId)
    ? await db.selectFrom('projectMembers').select('userId').where('projectId', '=', projectId).where('userId', '=', userId).executeTakeFirst()
    : undefined;
  if (!member) throw new AppError('invalid_request', 'The assignee must be a member of this project', { field: 'assigneeId' });
}

/**
 * The components used by a project's defects, for the filter bar. A loose index scan (one index
 * probe per distinct value) instead of reading every defect: 10 components among 100,000 defects
 * cost 10 probes.
 */
export async function listComponents(db: Executor, projectId: string): Promise<string[]> {
  const result = await sql<{ component: string }>`
    with recursive found as (
      (select component from defects where project_id = ${projectId} and component is not null order by component limit 1)
      union all
      select (select d.component from defects d where d.project_id = ${projectId} and d.component > found.component order by d.component limit 1)
      from found where found.component is not null
    )
    select component from found where component is not null limit 500
  `.execute(db);
  return result.rows.map((row) => row.component);
}
