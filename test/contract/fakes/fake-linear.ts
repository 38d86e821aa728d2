import { FakeServer, jsonOf, type FakeResponse, type RecordedRequest } from './fake-server';

export interface FakeLinearIssue {
  id: string;
  identifier: string;
  url: string;
  teamId: string;
  title: string;
  description: string;
  priority?: number;
  labelIds?: string[];
  state: { name: string; type: string };
  attachments: { id: string; url: string; title?: string; subtitle?: string; metadata?: Record<string, unknown> }[];
  comments: { id: string; body: string }[];
}

/**
 * A fake Linear GraphQL API (POST /graphql) answering the operations Bugloop sends through
 * @linear/sdk: issueCreate (client-chosen id honoured, duplicates refused), issue(id),
 * fileUpload (signed PUT URL with required headers; a new asset URL every time), attachmentCreate
 * (client-chosen id; the same URL on the same issue updates instead of adding), attachmentLinkURL
 * (one per URL and issue), attachment(id), commentCreate (client-chosen id, duplicates refused),
 * comment(id). The PUT target checks the headers and the byte count.
 */
export function createFakeLinear(options: { apiKey: string; teamId: string; teamKey: string }) {
  const issues: FakeLinearIssue[] = [];
  const uploads = new Map<string, { contentType: string; filename: string; size: number; requiredHeaders: Record<string, string>; data?: Buffer }>();
  let sequence = 0;
  let syncId = 100;
  const graphqlError = (message: string, type: string, status = 200): FakeResponse => ({ status, body: { errors: [{ message, extensions: { type, userPresentableMessage: message } }] } });

  const server: FakeServer = new FakeServer((request: RecordedRequest): FakeResponse => {
    const put = /^\/uploads\/([\w-]+)$/.exec(request.path);
    if (put && request.method === 'PUT') {
      const upload = uploads.get(put[1]);
      if (!upload) return { status: 404, body: 'no such upload' };
      if (request.headers['content-type'] !== upload.contentType) return { status: 400, body: `content-type must be ${upload.contentType}` };
      for (const [name, value] of Object.entries(upload.requiredHeaders)) {
        if (request.headers[name.toLowerCase()] !== value) return { status: 403, body: `signed header ${name} missing or different` };
      }
      if (request.body.length !== upload.size) return { status: 400, body: `expected ${upload.size} bytes, got ${request.body.length}` };
      upload.data = request.body;
      return { status: 200, body: '' };
    }
    if (request.method !== 'POST' || request.path !== '/graphql') return { status: 404, body: 'not found' };
    if (request.headers.authorization !== options.apiKey) return graphqlError('Authentication required, not authenticated', 'authentication error', 401);
    const { query, variables = {} } = jsonOf(request) as { query: string; variables?: Record<string, any> };
    const field = /^\s*(\w+)/.exec(query.slice(query.indexOf('{') + 1))?.[1];
    syncId += 1;
    switch (field) {
      case 'issueCreate': {
        const input = variables.input ?? {};
        if (input.teamId !== options.teamId) return graphqlError('Argument Validation Error: teamId', 'invalid input');
        if (!input.title) return graphqlError('Argument Validation Error: title', 'invalid input');
        if (input.id && issues.some((issue) => issue.id === input.id)) return graphqlError('Entity already exists with this id', 'invalid input');
        sequence += 1;
        const id = input.id ?? crypto.randomUUID();
        const identifier = `${options.teamKey}-${sequence}`;
        issues.push({
          id,
          identifier,
          url: `https://linear.app/acme/issue/${identifier}`,
          teamId: input.teamId,
          title: input.title,
          description: input.description ?? '',
          priority: input.priority,
          labelIds: input.labelIds,
          state: { name: 'Todo', type: 'unstarted' },
          attachments: [],
          comments: [],
        });
        return { status: 200, body: { data: { issueCreate: { __typename: 'IssuePayload', lastSyncId: syncId, success: true, issue: { __typename: 'Issue', id } } } } };
      }
      case 'issue': {
        const issue = issues.find((candidate) => candidate.id === variables.id || candidate.identifier === variables.id);
        if (!issue) return graphqlError('Entity not found: Issue', 'invalid input');
        return { status: 200, body: { data: { issue: { id: issue.id, identifier: issue.identifier, url: issue.url, state: issue.state } } } };
      }
      case 'fileUpload': {
        const id = crypto.randomUUID();
        const requiredHeaders = { 'x-goog-content-length-range': `${variables.size},${variables.size}`, 'Content-Disposition': `attachment; filename="${variables.filename}"` };
        uploads.set(id, { contentType: variables.contentType, filename: variables.filename, size: variables.size, requiredHeaders });
        return {
          status: 200,
          body: {
            data: {
              fileUpload: {
                __typename: 'UploadPayload',
                lastSyncId: syncId,
                success: true,
                uploadFile: {
                  __typename: 'UploadFile',
                  assetUrl: `https://uploads.linear.app/fake/${id}`,
                  contentType: variables.contentType,
                  filename: variables.filename,
                  metaData: null,
                  size: variables.size,
                  uploadUrl: `${server.url}/uploads/${id}`,
                  headers: Object.entries(requiredHeaders).map(([key, value]) => ({ __typename: 'UploadFileHeader', key, value })),
                },
              },
            },
          },
        };
      }
      case 'attachmentCreate':
      case 'attachmentLinkURL': {
        const input = field === 'attachmentCreate' ? (variables.input ?? {}) : variables;
        const issue = issues.find((candidate) => candidate.id === input.issueId);
        if (!issue) return graphqlError('Entity not found: Issue', 'invalid input');
        let attachment = issue.attachments.find((candidate) => candidate.url === input.url);
        if (!attachment && input.id && issues.some((candidate) => candidate.attachments.some((existing) => existing.id === input.id))) {
          return graphqlError('Entity already exists with this id', 'invalid input');
        }
        if (attachment) Object.assign(attachment, { title: input.title ?? attachment.title, subtitle: input.subtitle ?? attachment.subtitle });
        else {
          attachment = { id: input.id ?? crypto.randomUUID(), url: input.url, title: input.title, subtitle: input.subtitle, metadata: input.metadata };
          issue.attachments.push(attachment);
        }
        return { status: 200, body: { data: { [field]: { __typename: 'AttachmentPayload', lastSyncId: syncId, success: true, attachment: { __typename: 'Attachment', id: attachment.id } } } } };
      }
      case 'attachment': {
        const attachment = issues.flatMap((issue) => issue.attachments).find((candidate) => candidate.id === variables.id);
        if (!attachment) return graphqlError('Entity not found: Attachment', 'invalid input');
        return { status: 200, body: { data: { attachment: { id: attachment.id, url: attachment.url, title: attachment.title } } } };
      }
      case 'comment': {
        const comment = issues.flatMap((issue) => issue.comments).find((candidate) => candidate.id === variables.id);
        if (!comment) return graphqlError('Entity not found: Comment', 'invalid input');
        return { status: 200, body: { data: { comment: { id: comment.id } } } };
      }
      case 'commentCreate': {
        const input = variables.input ?? {};
        const issue = issues.find((candidate) => candidate.id === input.issueId);
        if (!issue) return graphqlError('Entity not found: Issue', 'invalid input');
        if (input.id && issues.some((candidate) => candidate.comments.some((existing) => existing.id === input.id))) return graphqlError('Entity already exists with this id', 'invalid input');
        const comment = { id: input.id ?? crypto.randomUUID(), body: input.body };
        issue.comments.push(comment);
        return { status: 200, body: { data: { commentCreate: { __typename: 'CommentPayload', lastSyncId: syncId, success: true, comment: { __typename: 'Comment', id: comment.id } } } } };
      }
      default:
        return graphqlError(`Cannot query field "${field}"`, 'graphql error', 400);
    }
  });
  return { server, issues, uploads };
}
