import { createHash } from 'node:crypto';

/**
 * Stable identity of an automated test across runs, machines and CI providers, and the
 * references a test carries (explicit test-case id, requirements). Pure functions.
 */

/** What a runner told us about one test, as far as identity is concerned. */
export interface TestNaming {
  classname: string;
  name: string;
  /** Playwright project (browser) name; the same test in two projects is two tests. */
  project?: string | null;
  properties?: ReadonlyArray<readonly [string, string]>;
}

export interface ResolvedIdentity {
  /** `id:TC-123` for an explicit id, otherwise `test:<classname>::<name>` (normalized). */
  identity: string;
  /** The catalog key to use: the explicit id when there is one. */
  explicitKey: string | null;
  /** The name without [TC-…]/[REQ:…] tags, for the catalog title. */
  title: string;
  /** Normalized classname (file paths normalized), usable as the suite. */
  suite: string;
  requirements: string[];
}

const explicitIdPattern = /\[(TC-\d+)\]/i;
const requirementTagPattern = /\[REQ:\s*([^\]\s][^\]]*)\]/gi;
const explicitIdProperties = new Set(['test_id', 'testrail_case_id', 'test_case_id', 'testcase_id']);
const requirementProperties = new Set(['requirement', 'requirements', 'refs', 'references', 'story']);

/**
 * Prefixes CI providers put in front of checkouts. Absolute paths from any of them become the
 * same relative path, so a test keeps its identity when the job moves to another runner.
 */
const checkoutRoots: RegExp[] = [
  /^\/home\/runner\/work\/[^/]+\/[^/]+\//, // GitHub Actions
  /^\/github\/workspace\//, // GitHub container actions
  /^\/builds\/[^/]+\/[^/]+\//, // GitLab (group/project)
  /^\/var\/lib\/jenkins\/workspace\/[^/]+\//, // Jenkins
  /^\/home\/jenkins\/(?:agent\/)?workspace\/[^/]+\//,
  /^\/home\/circleci\/(?:project|repo)\//, // CircleCI
  /^\/var\/lib\/buildkite-agent\/builds\/[^/]+\/[^/]+\/[^/]+\//, // Buildkite
  /^\/opt\/atlassian\/pipelines\/agent\/build\//, // Bitbucket
  /^\/(?:workspace|app|src|code|repo|project)\//, // common container mounts
  /^[a-z]:\/(?:.*?\/)?(?:_work|a)\/\d+\/s\//i, // Azure Pipelines (D:\a\1\s\, C:\agent\_work\1\s\)
];

/** Normalizes a path-like string: forward slashes, no ./, CI checkout roots removed. */
export function normalizeTestPath(value: string, extraRoots: string[] = []): string {
  let path = value.trim().replace(/\\/g, '/');
  if (!path.includes('/')) return path;
  for (const root of extraRoots) {
    const normalizedRoot = root.replace(/\\/g, '/').replace(/\/?$/, '/');
    if (normalizedRoot !== '/' && path.startsWith(normalizedRoot)) {
      path = path.slice(normalizedRoot.length);
      break;
    }
  }
  for (const pattern of checkoutRoots) {
    if (pattern.test(path)) {
      path = path.replace(pattern, '');
      break;
    }
  }
  return path.replace(/^(?:\.\/)+/, '').replace(/\/{2,}/g, '/');
}

/** Collapses what varies between runs of the same test: whitespace, object addresses. */
function normalizeName(value: string): string {
  return value
    .replace(/\s+/g, ' ')
    .replace(/\b0x[0-9a-f]{6,16}\b/gi, '0x?')
    .trim();
}

/** Removes [TC-…] and [REQ:…] tags from a test name. */
export function stripTags(name: string): string {
  return name.replace(explicitIdPattern, ' ').replace(requirementTagPattern, ' ').replace(/\s+/g, ' ').trim();
}

/** Splits a requirement list ("SHOP-12, SHOP-13" or URLs) into distinct references. */
export function splitRequirements(value: string): string[] {
  return value
    .split(/[,;\s]+/)
    .map((part) => part.trim())
    .filter((part) => part.length > 0 && part.length <= 500);
}

/** Normalizes an explicit test id: TestRail's bare numbers become C123, keys are upper-cased. */
export function normalizeExplicitKey(value: string, property: string): string | null {
  const trimmed = value.trim();
  if (!trimmed || trimmed.length > 100) return null;
  if (property === 'testrail_case_id' && /^\d+$/.test(trimmed)) return `C${trimmed}`;
  return trimmed.toUpperCase();
}

/**
 * Resolves identity and references: an explicit id (`test_id`/`testrail_case_id` property or a
 * `[TC-123]` tag) wins; otherwise normalized classname + name. Requirements come from
 * `requirement`/`refs` properties and `[REQ:SHOP-12]` tags.
 */
export function resolveIdentity(naming: TestNaming, options: { pathRoots?: string[] } = {}): ResolvedIdentity {
  let explicitKey: string | null = null;
  const requirements = new Set<string>();
  for (const [rawName, value] of naming.properties ?? []) {
    const property = rawName.trim().toLowerCase();
    if (!explicitKey && explicitIdProperties.has(property)) explicitKey = normalizeExplicitKey(value, property);
    if (requirementProperties.has(property)) for (const requirement of splitRequirements(value)) requirements.add(requirement);
  }
  const tag = explicitIdPattern.exec(naming.name);
  if (!explicitKey && tag) explicitKey = tag[1].toUpperCase();
  for (const match of naming.name.matchAll(requirementTagPattern)) {
    for (const requirement of splitRequirements(match[1])) requirements.add(requirement);
  }
  const title = normalizeName(stripTags(naming.name)) || naming.name.trim() || '(unnamed test)';
  const suite = normalizeName(stripTags(normalizeTestPath(naming.classname, options.pathRoots)));
  const qualifiedTitle = naming.project ? `${title} [${naming.project}]` : title;
  const identity = explicitKey
    ? `id:${explicitKey}${naming.project ? ` [${naming.project}]` : ''}`
    : `test:${suite}::${qualifiedTitle}`;
  return { identity: identity.slice(0, 2000), explicitKey, title: qualifiedTitle.slice(0, 500), suite: suite.slice(0, 500), requirements: [...requirements] };
}

/**
 * A short fingerprint of how a test failed, stable across runs of the same failure: the failure
 * type, the first line of the message and the first stack frames, with numbers, addresses,
 * ids, durations and line:column positions blanked out.
 */
export function failureSignature(failure: { type?: string | null; message?: string | null; details?: string | null }): string {
  const messageLine = (failure.message ?? '').split('\n').find((line) => line.trim()) ?? '';
  const frames = (failure.details ?? '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^(at |❯ |File "|\w[\w.$]*\(.*\)$|[\w./-]+\.\w+:\d+)/.test(line))
    .slice(0, 3);
  const text = [failure.type ?? '', messageLine, ...frames].join('\n');
  const normalized = text
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
    .replace(/\b0x[0-9a-f]+\b/gi, '<addr>')
    .replace(/\b[0-9a-f]{12,}\b/gi, '<hex>')
    .replace(/\d{4}-\d{2}-\d{2}[T ][\d:.]+Z?/g, '<time>')
    .replace(/:\d+(?::\d+)?\b/g, ':<line>')
    .replace(/\b\d+(\.\d+)?\s?(ms|s|seconds|milliseconds)\b/gi, '<duration>')
    .replace(/\d{3,}/g, '<n>')
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase();
  return createHash('sha256').update(normalized).digest('hex').slice(0, 16);
}
