import { get, post } from '../api.js';
import { pageHeader, type PageContext } from '../app-shell.js';
import { confirmDialog, h, notice, table, when, say } from '../dom.js';

interface SigningKey {
  kid: string;
  alg: string;
  status: string;
  created_at: string;
  retired_at: string | null;
}

export async function signingKeysPage(ctx: PageContext): Promise<void> {
  const status = notice();
  const list = h('div');
  const rotate = h('button', { type: 'button', id: 'rotate-key' }, 'Rotate signing key');
  const draw = (keys: SigningKey[]) =>
    list.replaceChildren(table(['Key id', 'Algorithm', 'Status', 'Created', 'Retired'], keys.map((k) => [h('code', {}, k.kid), k.alg, k.status, when(k.created_at), when(k.retired_at)]), 'Signing keys'));
  rotate.addEventListener('click', async () => {
    if (!(await confirmDialog('Rotate the signing key?', 'New access tokens are signed with a new key; the current one stays published in the JWKS until the tokens it signed expire.', 'Rotate'))) return;
    rotate.disabled = true;
    try {
      const answer = await post<{ kid: string; data: SigningKey[] }>('/admin/v1/signing-keys/rotate');
      draw(answer.data);
      say(status, `New active key ${answer.kid}.`, 'ok');
    } catch (error) {
      say(status, (error as Error).message, 'error');
    } finally {
      rotate.disabled = false;
    }
  });
  ctx.main.append(
    pageHeader('Signing keys', rotate),
    h('p', {}, 'Ed25519 keys that sign access tokens, as /.well-known/jwks.json publishes them.'),
    status,
    list,
  );
  draw((await get<{ data: SigningKey[] }>('/admin/v1/signing-keys')).data);
}
