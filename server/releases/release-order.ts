import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema';

type Executor = Kysely<Database> | Transaction<Database>;

/** The fields of a release row that decide its place in the order. */
export interface OrderableRelease {
  id: string;
  version: string;
  semverMajor: number | null;
  semverMinor: number | null;
  semverPatch: number | null;
  semverPrerelease: string | null;
  firstSeenAt: Date;
}

function isSemver(release: OrderableRelease): boolean {
  return release.semverMajor !== null && release.semverMinor !== null && release.semverPatch !== null;
}

/** Semantic-version precedence of two pre-release strings (null = a final release, which is higher). */
export function comparePrerelease(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  const left = a.split('.');
  const right = b.split('.');
  for (let index = 0; index < Math.max(left.length, right.length); index += 1) {
    const x = left[index];
    const y = right[index];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const xNumeric = /^\d+$/.test(x);
    const yNumeric = /^\d+$/.test(y);
    if (xNumeric && yNumeric) {
      const difference = Number(x) - Number(y);
      if (difference !== 0) return Math.sign(difference);
    } else if (xNumeric !== yNumeric) {
      return xNumeric ? -1 : 1; // numeric identifiers sort before alphanumeric ones
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
}

/** Compares two semver releases by precedence, then by first-seen time (1.4 and 1.4.0 tie). */
export function compareSemverReleases(a: OrderableRelease, b: OrderableRelease): number {
  return (
    a.semverMajor! - b.semverMajor! ||
    a.semverMinor! - b.semverMinor! ||
    a.semverPatch! - b.semverPatch! ||
    comparePrerelease(a.semverPrerelease, b.semverPrerelease) ||
    a.firstSeenAt.getTime() - b.firstSeenAt.getTime()
  );
}

/**
 * Orders releases oldest to newest: by semantic version where versions parse, by first-seen
 * time otherwise. A version that does not parse ("nightly-2026-11-02", a commit hash) is placed
 * right after the highest semantic version already seen when it first appeared, so
 * "1.4.0, nightly, 1.5.0" reads the way it happened. Pure: the same input gives the same order.
 */
export function orderReleases<T extends OrderableRelease>(releases: readonly T[]): T[] {
  const semver = releases.filter(isSemver).sort(compareSemverReleases);
  const other = releases.filter((release) => !isSemver(release)).sort((a, b) => a.firstSeenAt.getTime() - b.firstSeenAt.getTime() || (a.version < b.version ? -1 : 1));
  // For each other release: the position after which it goes (-1 = before every semver release).
  const slots = new Map<number, T[]>();
  for (const release of other) {
    let anchor = -1;
    let anchorIndex = -1;
    semver.forEach((candidate, index) => {
      if (candidate.firstSeenAt.getTime() <= release.firstSeenAt.getTime() && index > anchorIndex) {
        anchor = index;
        anchorIndex = index;
      }
    });
    const list = slots.get(anchor) ?? [];
    list.push(release);
    slots.set(anchor, list);
  }
  const ordered: T[] = [...(slots.get(-1) ?? [])];
  semver.forEach((release, index) => ordered.push(release, ...(slots.get(index) ?? [])));
  return ordered;
}

/** A project's releases in order with their rank (0 = oldest), for comparisons like "at or after". */
export async function releaseRanks(db: Executor, projectId: string): Promise<{ ordered: OrderableRelease[]; rank: Map<string, number> }> {
  const rows = await db
    .selectFrom('releases')
    .select(['id', 'version', 'semverMajor', 'semverMinor', 'semverPatch', 'semverPrerelease', 'firstSeenAt'])
    .where('projectId', '=', projectId)
    .execute();
  const ordered = orderReleases(rows);
  return { ordered, rank: new Map(ordered.map((release, index) => [release.id, index])) };
}
