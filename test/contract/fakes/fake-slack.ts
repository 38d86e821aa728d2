import { FakeServer, parseMultipart, type FakeResponse, type RecordedRequest } from './fake-server';

export interface FakeSlackMessage {
  channel: string;
  text: string;
  blocks: Record<string, any>[];
  ts: string;
  unfurlLinks?: string;
  /** Message metadata as posted (`metadata` form field, JSON). */
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
}

/**
 * A fake Slack Web API under /api/: chat.postMessage (with message metadata), the files.uploadV2
 * flow (files.getUploadURLExternal → POST bytes to the upload URL → files.completeUploadExternal,
 * which shares the file into the thread), conversations.history (newest first, `oldest`, pages
 * of at most 15 as for non-Marketplace apps, metadata only with include_all_metadata) and
 * conversations.replies. Bodies are form-encoded as the SDK sends them; the bot token is checked;
 * the uploaded byte count must match the announced length. Timestamps are real times, as Slack's.
 */
export function createFakeSlack(options: { botToken: string }) {
  const messages: FakeSlackMessage[] = [];
  const files = new Map<string, { filename: string; length: number; data?: Buffer; completed?: { channel: string; threadTs?: string; title?: string } }>();
  /** Messages that share a completed upload into a thread. */
  const fileShares: { channel: string; threadTs: string; ts: string; fileId: string; name: string }[] = [];
  let sequence = 0;
  const nextTs = () => {
    sequence += 1;
    return `${Math.floor(Date.now() / 1000)}.${String(sequence).padStart(6, '0')}`;
  };
  const page = <T>(items: T[], form: URLSearchParams) => {
    const limit = Math.min(15, Math.max(1, Number(form.get('limit') ?? 15)));
    const offset = Number(form.get('cursor') ? Buffer.from(form.get('cursor')!, 'base64').toString('utf8').replace('offset:', '') : 0);
    const slice = items.slice(offset, offset + limit);
    const more = offset + limit < items.length;
    return { slice, more, cursor: more ? Buffer.from(`offset:${offset + limit}`).toString('base64') : '' };
  };
  const fail = (error: string): FakeResponse => ({ status: 200, body: { ok: false, error } });

  const server: FakeServer = new FakeServer((request: RecordedRequest): FakeResponse => {
    const upload = /^\/upload\/(F\w+)$/.exec(request.path);
    if (upload && request.method === 'POST') {
      const file = files.get(upload[1]);
      if (!file) return { status: 404, body: 'unknown upload' };
      const type = request.headers['content-type'] ?? '';
      const data = type.startsWith('multipart/form-data') ? parseMultipart(request)[0]?.data : request.body;
      if (!data || data.length !== file.length) return { status: 400, body: `expected ${file.length} bytes` };
      file.data = data;
      return { status: 200, body: `OK - ${data.length}` };
    }
    const method = /^\/api\/([\w.]+)$/.exec(request.path)?.[1];
    if (request.method !== 'POST' || !method) return { status: 404, body: 'not found' };
    if (request.headers.authorization !== `Bearer ${options.botToken}`) return fail('invalid_auth');
    if (!String(request.headers['content-type']).startsWith('application/x-www-form-urlencoded')) return fail('invalid_form_data');
    const form = new URLSearchParams(request.body.toString('utf8'));
    switch (method) {
      case 'chat.postMessage': {
        const channel = form.get('channel');
        if (!channel) return fail('channel_not_found');
        if (!form.get('text') && !form.get('blocks')) return fail('no_text');
        let blocks: Record<string, any>[] = [];
        try {
          blocks = form.get('blocks') ? JSON.parse(form.get('blocks')!) : [];
        } catch {
          return fail('invalid_blocks');
        }
        if (!Array.isArray(blocks) || blocks.length > 50 || blocks.some((block) => typeof block?.type !== 'string')) return fail('invalid_blocks');
        let metadata: FakeSlackMessage['metadata'];
        try {
          metadata = form.get('metadata') ? JSON.parse(form.get('metadata')!) : undefined;
        } catch {
          return fail('invalid_metadata_format');
        }
        if (metadata && (typeof metadata.event_type !== 'string' || typeof metadata.event_payload !== 'object')) return fail('invalid_metadata_schema');
        const ts = nextTs();
        messages.push({ channel, text: form.get('text') ?? '', blocks, ts, unfurlLinks: form.get('unfurl_links') ?? undefined, metadata });
        return { status: 200, body: { ok: true, channel, ts, message: { text: form.get('text'), ts } } };
      }
      case 'conversations.history': {
        const channel = form.get('channel');
        if (!channel) return fail('channel_not_found');
        const oldest = Number(form.get('oldest') ?? 0);
        const withMetadata = form.get('include_all_metadata') === 'true' || form.get('include_all_metadata') === '1';
        const inChannel = messages.filter((message) => message.channel === channel && Number(message.ts) > oldest).reverse();
        const { slice, more, cursor } = page(inChannel, form);
        return {
          status: 200,
          body: {
            ok: true,
            messages: slice.map((message) => ({ type: 'message', ts: message.ts, text: message.text, ...(withMetadata && message.metadata ? { metadata: message.metadata } : {}) })),
            has_more: more,
            response_metadata: { next_cursor: cursor },
          },
        };
      }
      case 'conversations.replies': {
        const channel = form.get('channel');
        const ts = form.get('ts');
        const parent = messages.find((message) => message.channel === channel && message.ts === ts);
        if (!parent) return fail('thread_not_found');
        const replies = fileShares
          .filter((share) => share.channel === channel && share.threadTs === ts)
          .map((share) => ({ type: 'message', ts: share.ts, thread_ts: ts, files: [{ id: share.fileId, name: share.name }] }));
        const { slice, more, cursor } = page([{ type: 'message', ts: parent.ts, thread_ts: parent.ts, text: parent.text }, ...replies], form);
        return { status: 200, body: { ok: true, messages: slice, has_more: more, response_metadata: { next_cursor: cursor } } };
      }
      case 'files.getUploadURLExternal': {
        const filename = form.get('filename');
        const length = Number(form.get('length'));
        if (!filename || !Number.isInteger(length) || length <= 0) return fail('invalid_arguments');
        sequence += 1;
        const id = `F${String(sequence).padStart(8, '0')}`;
        files.set(id, { filename, length });
        return { status: 200, body: { ok: true, upload_url: `${server.url}/upload/${id}`, file_id: id } };
      }
      case 'files.completeUploadExternal': {
        let list: { id: string; title?: string }[];
        try {
          list = JSON.parse(form.get('files') ?? '[]');
        } catch {
          return fail('invalid_arguments');
        }
        for (const entry of list) {
          const file = files.get(entry.id);
          if (!file?.data) return fail('file_not_found');
          if (file.completed) continue; // completing twice shares nothing new
          file.completed = { channel: form.get('channel_id') ?? '', threadTs: form.get('thread_ts') ?? undefined, title: entry.title };
          if (file.completed.threadTs) fileShares.push({ channel: file.completed.channel, threadTs: file.completed.threadTs, ts: nextTs(), fileId: entry.id, name: file.filename });
        }
        return { status: 200, body: { ok: true, files: list.map((entry) => ({ id: entry.id, title: entry.title })) } };
      }
      default:
        return fail('unknown_method');
    }
  });
  return { server, messages, files, fileShares };
}
