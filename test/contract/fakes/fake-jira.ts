import { validateAdf } from './adf-validator';
import { FakeServer, jsonOf, parseMultipart, type FakeResponse, type RecordedRequest } from './fake-server';

export interface FakeJiraIssue {
  id: string;
  key: string;
  fields: { summary: string; description: unknown; labels: string[]; priority?: { name: string }; issuetype: { name: string }; project: { key: string } };
  status: { name: string; statusCategory: { key: string } };
  attachments: { id: string; filename: string; mimeType: string; data: Buffer }[];
  remoteLinks: { id: number; globalId?: string; object: { url: string; title: string } }[];
  comments: { id: string; body: unknown; created: string; properties: { key: string; value: unknown }[] }[];
  /** When it was created (ms); JQL search sees it only `searchLagMs` later. */
  createdAt: number;
}

/**
 * A fake Jira Cloud REST v3: issue create (ADF description checked), JQL search by label
 * (POST /rest/api/3/search/jql), attachments (multipart, `file` part, X-Atlassian-Token: no-check
 * required), remote links upserted by globalId, comments with entity properties (listed newest
 * first, and with their properties through POST /rest/api/3/comment/list?expand=properties).
 * Basic auth is checked. Like Jira's index, search sees a new issue only after `searchLagMs`.
 */
export function createFakeJira(options: { email: string; apiToken: string; projectKey: string; searchLagMs?: number }) {
  const issues: FakeJiraIssue[] = [];
  let commentSequence = 0;
  let sequence = 0;
  const expectedAuth = `Basic ${Buffer.from(`${options.email}:${options.apiToken}`).toString('base64')}`;
  const error = (status: number, message: string): FakeResponse => ({ status, body: { errorMessages: [message], errors: {} } });
  const findIssue = (idOrKey: string) => issues.find((issue) => issue.key === idOrKey || issue.id === idOrKey);

  const server: FakeServer = new FakeServer((request: RecordedRequest): FakeResponse => {
    if (request.headers.authorization !== expectedAuth) return error(401, 'Client must be authenticated to access this resource.');
    const issuePath = /^\/rest\/api\/3\/issue\/([^/]+)\/(attachments|remotelink|comment)$/.exec(request.path);
    const getIssue = /^\/rest\/api\/3\/issue\/([^/]+)$/.exec(request.path);
    if (getIssue && request.method === 'GET') {
      const issue = findIssue(decodeURIComponent(getIssue[1]));
      if (!issue) return error(404, 'Issue does not exist or you do not have permission to see it.');
      return {
        status: 200,
        body: {
          id: issue.id,
          key: issue.key,
          fields: { status: issue.status, attachment: issue.attachments.map((attachment) => ({ id: attachment.id, filename: attachment.filename, size: attachment.data.length, mimeType: attachment.mimeType })) },
        },
      };
    }
    if (request.method === 'POST' && request.path === '/rest/api/3/issue') {
      const body = jsonOf(request) as { fields?: Record<string, any> };
      const fields = body.fields ?? {};
      if (fields.project?.key !== options.projectKey) return { status: 400, body: { errorMessages: [], errors: { project: 'valid project is required' } } };
      if (!fields.issuetype?.name) return { status: 400, body: { errorMessages: [], errors: { issuetype: 'valid issue type is required' } } };
      if (typeof fields.summary !== 'string' || !fields.summary.trim() || fields.summary.length > 255 || /\n/.test(fields.summary)) {
        return { status: 400, body: { errorMessages: [], errors: { summary: 'Summary must be one line under 255 characters.' } } };
      }
      const problems = validateAdf(fields.description);
      if (problems.length > 0) return { status: 400, body: { errorMessages: [], errors: { description: `Operation value must be an Atlassian Document: ${problems.join('; ')}` } } };
      if ((fields.labels ?? []).some((label: string) => /\s/.test(label))) return { status: 400, body: { errorMessages: [], errors: { labels: 'The label must not contain spaces.' } } };
      sequence += 1;
      const issue: FakeJiraIssue = {
        id: String(10000 + sequence),
        key: `${options.projectKey}-${sequence}`,
        fields: { summary: fields.summary, description: fields.description, labels: fields.labels ?? [], priority: fields.priority, issuetype: fields.issuetype, project: fields.project },
        status: { name: 'To Do', statusCategory: { key: 'new' } },
        attachments: [],
        remoteLinks: [],
        comments: [],
        createdAt: Date.now(),
      };
      issues.push(issue);
      return { status: 201, body: { id: issue.id, key: issue.key, self: `${server.url}/rest/api/3/issue/${issue.id}` } };
    }
    if (request.method === 'POST' && request.path === '/rest/api/3/search/jql') {
      const body = jsonOf(request) as { jql?: string; maxResults?: number };
      const label = /labels\s*=\s*"([^"]+)"/.exec(body.jql ?? '')?.[1];
      const project = /project\s*=\s*"([^"]+)"/.exec(body.jql ?? '')?.[1];
      const indexed = issues.filter((issue) => issue.createdAt <= Date.now() - (options.searchLagMs ?? 0));
      const found = indexed.filter((issue) => (!label || issue.fields.labels.includes(label)) && (!project || issue.fields.project.key === project));
      return {
        status: 200,
        body: { issues: found.slice(0, body.maxResults ?? 50).map((issue) => ({ id: issue.id, key: issue.key, fields: { status: issue.status } })), isLast: true },
      };
    }
    if (issuePath) {
      const issue = findIssue(decodeURIComponent(issuePath[1]));
      if (!issue) return error(404, 'Issue does not exist or you do not have permission to see it.');
      if (issuePath[2] === 'attachments' && request.method === 'POST') {
        if (request.headers['x-atlassian-token'] !== 'no-check') return { status: 403, body: 'XSRF check failed' };
        const files = parseMultipart(request).filter((part) => part.name === 'file');
        if (files.length === 0) return error(400, 'no file part');
        const added = files.map((file) => {
          const attachment = { id: String(20000 + issue.attachments.length + 1), filename: file.filename ?? '', mimeType: file.contentType ?? '', data: file.data };
          issue.attachments.push(attachment);
          return { id: attachment.id, filename: attachment.filename, size: attachment.data.length, mimeType: attachment.mimeType };
        });
        return { status: 200, body: added };
      }
      if (issuePath[2] === 'remotelink' && request.method === 'POST') {
        const body = jsonOf(request) as { globalId?: string; object?: { url?: string; title?: string } };
        if (!body.object?.url || !body.object.title) return error(400, 'object.url and object.title are required');
        const existing = body.globalId ? issue.remoteLinks.find((link) => link.globalId === body.globalId) : undefined;
        if (existing) {
          existing.object = { url: body.object.url, title: body.object.title };
          return { status: 200, body: { id: existing.id, self: `${server.url}/rest/api/3/issue/${issue.key}/remotelink/${existing.id}` } };
        }
        const link = { id: issue.remoteLinks.length + 1, globalId: body.globalId, object: { url: body.object.url, title: body.object.title } };
        issue.remoteLinks.push(link);
        return { status: 201, body: { id: link.id, self: `${server.url}/rest/api/3/issue/${issue.key}/remotelink/${link.id}` } };
      }
      if (issuePath[2] === 'remotelink' && request.method === 'GET') return { status: 200, body: issue.remoteLinks };
      if (issuePath[2] === 'comment' && request.method === 'POST') {
        const body = jsonOf(request) as { body?: unknown };
        const problems = validateAdf(body.body);
        if (problems.length > 0) return error(400, `Comment body must be an Atlassian Document: ${problems.join('; ')}`);
        const properties = (body as { properties?: { key: string; value: unknown }[] }).properties ?? [];
        if (!Array.isArray(properties) || properties.some((property) => typeof property?.key !== 'string' || property.key.length > 255)) return error(400, 'invalid properties');
        commentSequence += 1;
        const comment = { id: String(30000 + commentSequence), body: body.body, created: new Date(Date.now() + commentSequence).toISOString(), properties };
        issue.comments.push(comment);
        return { status: 201, body: { id: comment.id, body: comment.body, created: comment.created } };
      }
      if (issuePath[2] === 'comment' && request.method === 'GET') {
        const newestFirst = request.query.get('orderBy') === '-created';
        const ordered = newestFirst ? [...issue.comments].reverse() : issue.comments;
        const startAt = Number(request.query.get('startAt') ?? 0);
        const maxResults = Number(request.query.get('maxResults') ?? 50);
        // Like Jira, the list never includes properties.
        const page = ordered.slice(startAt, startAt + maxResults).map(({ id, body, created }) => ({ id, body, created }));
        return { status: 200, body: { startAt, maxResults, total: issue.comments.length, comments: page } };
      }
    }
    if (request.method === 'POST' && request.path === '/rest/api/3/comment/list') {
      const body = jsonOf(request) as { ids?: number[] };
      if (!Array.isArray(body.ids) || body.ids.length === 0 || body.ids.length > 1000) return error(400, 'ids must list 1 to 1000 comment ids');
      const withProperties = (request.query.get('expand') ?? '').split(',').includes('properties');
      const all = issues.flatMap((issue) => issue.comments);
      const values = body.ids
        .map((id) => all.find((comment) => Number(comment.id) === Number(id)))
        .filter((comment) => comment !== undefined)
        .map(({ id, body: commentBody, created, properties }) => ({ id, body: commentBody, created, ...(withProperties ? { properties } : {}) }));
      return { status: 200, body: { startAt: 0, maxResults: values.length, total: values.length, isLast: true, values } };
    }
    return error(404, `no fake for ${request.method} ${request.path}`);
  });
  return { server, issues };
}
