import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Database, ReleasesTable } from '../db/schema';

type Executor = Kysely<Database> | Transaction<Database>;
export type Release = Selectable<ReleasesTable>;

/** Parses "1.4.0", "v2.0.0-beta.1" or "1.4" into parts; undefined for anything else. */
export function parseSemver(version: string): { major: number; minor: number; patch: number; prerelease: string | null } | undefined {
  const match = /^v?(\d{1,9})\.(\d{1,9})(?:\.(\d{1,9}))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(version.trim());
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3] ?? 0), prerelease: match[4] ?? null };
}

/** The release row for a version string, created the first time the string is seen. */
export async function findOrCreateRelease(db: Executor, projectId: string, version: string): Promise<Release> {
  const trimmed = version.trim().slice(0, 100);
  // Almost every report names a release seen before: look first, so the common case is one read.
  const existing = await db.selectFrom('releases').selectAll().where('projectId', '=', projectId).where('version', '=', trimmed).executeTakeFirst();
  if (existing) return existing;
  const semver = parseSemver(trimmed);
  const inserted = await db
    .insertInto('releases')
    .values({
      projectId,
      version: trimmed,
      semverMajor: semver?.major ?? null,
      semverMinor: semver?.minor ?? null,
      semverPatch: semver?.patch ?? null,
      semverPrerelease: semver?.prerelease ?? null,
    })
    .onConflict((conflict) => conflict.columns(['projectId', 'version']).doNothing())
    .returningAll()
    .executeTakeFirst();
  return inserted ?? (await db.selectFrom('releases').selectAll().where('projectId', '=', projectId).where('version', '=', trimmed).executeTakeFirstOrThrow());
}
