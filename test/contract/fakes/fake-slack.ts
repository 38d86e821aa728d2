import { FakeServer, parseMultipart, type FakeResponse, type RecordedRequest } from './fake-server';

export interface FakeSlackMessage {
  channel: string;
  text: string;
  blocks: Record<string, any>[];
  ts: string;
  unfurlLinks?: string;
}

/**
 * A fake Slack Web API under /api/: chat.postMessage and the files.uploadV2 flow
 * (files.getUploadURLExternal → POST bytes to the upload URL → files.completeUploadExternal).
 * Bodies are form-encoded as the SDK sends them; the bot token is checked; the uploaded byte
 * count must match the announced length.
 */
export function createFakeSlack(options: { botToken: string }) {
  const messages: FakeSlackMessage[] = [];
  const files = new Map<string, { filename: string; length: number; data?: Buffer; completed?: { channel: string; threadTs?: string; title?: string } }>();
  let sequence = 0;
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
        sequence += 1;
        const ts = `1700000000.${String(sequence).padStart(6, '0')}`;
        messages.push({ channel, text: form.get('text') ?? '', blocks, ts, unfurlLinks: form.get('unfurl_links') ?? undefined });
        return { status: 200, body: { ok: true, channel, ts, message: { text: form.get('text'), ts } } };
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
          file.completed = { channel: form.get('channel_id') ?? '', threadTs: form.get('thread_ts') ?? undefined, title: entry.title };
        }
        return { status: 200, body: { ok: true, files: list.map((entry) => ({ id: entry.id, title: entry.title })) } };
      }
      default:
        return fail('unknown_method');
    }
  });
  return { server, messages, files };
}
