import { get, qs, type Page } from '../api.js';
import { integrationPicker, liveEvents, pageHeader, type PageContext } from '../app-shell.js';
import { dialog, h, table, when } from '../dom.js';
// The API's own description of a captured message (the SDK's types; erased from the bundle).
import type { SandboxMessage as Message } from '../../../packages/client/src/types.js';

interface InboxDetail extends Inbox {
  messages: Array<{ id: string; channel: string; from: string; subject: string | null; text: string; code: string | null; received_at: string }>;
}
interface Inbox {
  id: string;
  kind: string;
  address: string;
  status: string;
  otp_code: string | null;
  otp_count: number;
  expires_at: string;
  created_at: string;
}

export async function sandboxPage(ctx: PageContext): Promise<void> {
  ctx.main.append(pageHeader('Sandbox'));
  const picked = await integrationPicker(ctx, { mode: false });
  if (!picked) return;
  const { integration, picker } = picked;
  const base = `/admin/v1/integrations/${integration.id}/sandbox`;
  const messages = h('div', { id: 'sandbox-messages' });
  const inboxes = h('div', { id: 'sandbox-inboxes' });
  const draw = async () => {
    const [m, i] = await Promise.all([get<Page<Message>>(`${base}/messages${qs({ limit: 50 })}`), get<Page<Inbox>>(`${base}/inboxes${qs({ limit: 50 })}`)]);
    messages.replaceChildren(
      table(['Received', 'To', 'Channel', 'Code', 'Text'], m.data.map((x) => [when(x.received_at), x.to, x.channel, x.code ? h('code', {}, x.code) : '—', x.subject ? `${x.subject}: ${x.body}` : x.body]), 'Captured messages'),
    );
    inboxes.replaceChildren(
      table(
        ['Inbox', 'Kind', 'Address', 'Status', 'Latest code', 'Codes', 'Expires'],
        i.data.map((x) => [
          h('button', { type: 'button', class: 'secondary small', 'aria-label': `Messages of ${x.id} (${x.address})`, onclick: () => void showInbox(x.id) }, h('code', {}, x.id)),
          x.kind,
          x.address,
          x.status,
          x.otp_code ? h('code', {}, x.otp_code) : '—',
          String(x.otp_count),
          when(x.expires_at),
        ]),
        'Inboxes',
      ),
    );
  };
  const showInbox = async (inboxId: string) => {
    const inbox = await get<InboxDetail>(`${base}/inboxes/${inboxId}`);
    dialog(
      `Inbox ${inbox.address}`,
      [
        h('p', {}, `${inbox.status} · ${inbox.otp_count} code(s) · expires ${when(inbox.expires_at)}`),
        table(['Received', 'From', 'Channel', 'Code', 'Text'], inbox.messages.map((m) => [when(m.received_at), m.from, m.channel, m.code ? h('code', {}, m.code) : '—', m.subject ? `${m.subject}: ${m.text}` : m.text]), 'Messages'),
      ],
      (close) => [h('button', { type: 'button', onclick: close }, 'Close')],
    );
  };
  // Live: a capture records verification.delivered (test mode); an inbox message records sandbox.message_received.
  const liveStatus = h('span', { class: 'live-status', role: 'status' }, 'Live: connecting…');
  let pending = false;
  liveEvents(
    ctx,
    integration.id,
    'test',
    (type) => {
      if (type !== 'verification.delivered' && type !== 'sandbox.message_received' && type !== 'verification.created') return;
      if (pending) return;
      pending = true;
      setTimeout(() => {
        pending = false;
        void draw();
      }, 300);
    },
    liveStatus,
  );
  ctx.main.append(
    picker,
    h('p', {}, 'Test-mode messages are captured here, never delivered. ', liveStatus),
    h('section', { 'aria-labelledby': 'msg-title' }, h('h2', { id: 'msg-title' }, 'Captured messages'), messages),
    h('section', { 'aria-labelledby': 'inb-title' }, h('h2', { id: 'inb-title' }, 'Inboxes'), inboxes),
  );
  await draw();
}
