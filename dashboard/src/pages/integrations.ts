import { ApiError, allIntegrations, del, get, patch, post, type Integration, type IssuedKey } from '../api.js';
import { pageHeader, type PageContext } from '../app-shell.js';
import { confirmDialog, dialog, field, h, notice, secretField, select, setFieldError, table, when, say } from '../dom.js';
import { PRESETS, policyForm, presetPolicy, type PolicyForm } from '../policy-form.js';

type Trust = 'strict' | 'relaxed' | 'trusted';
const TRUST: Array<[string, string]> = [
  ['strict', 'Strict (enrollment, redemption and coupon usage need an OTP)'],
  ['relaxed', 'Relaxed (redemption and coupon usage need an OTP)'],
  ['trusted', 'Trusted (no action gated; partner validation trusted)'],
];

export async function integrationsPage(ctx: PageContext): Promise<void> {
  const list = await allIntegrations();
  ctx.main.append(
    pageHeader('Integrations', h('a', { class: 'button', href: '/dashboard/integrations/new' }, 'New integration')),
    table(
      ['Name', 'Id', 'Trust level', 'Created'],
      list.map((i) => [h('a', { href: `/dashboard/integrations/${i.id}` }, i.name), h('code', {}, i.id), i.trust_level, when(i.created_at)]),
      'Integrations',
    ),
  );
}

/** Shows new keys and their signing secrets, once, in a dialog with copy buttons. */
function showKeys(title: string, keys: IssuedKey[]): Promise<void> {
  return new Promise((resolve) => {
    const d = dialog(
      title,
      [
        h('p', { class: 'notice info' }, 'Copy these now: the keys and signing secrets are shown only once.'),
        ...keys.flatMap((k) => [h('h3', {}, `${k.mode === 'live' ? 'Live' : 'Test'} key ${k.id}`), secretField(`${k.mode} API key`, k.key), secretField(`${k.mode} signing secret`, k.signing_secret)]),
      ],
      (close) => [h('button', { type: 'button', onclick: close, id: 'keys-done' }, 'I have copied them')],
    );
    d.addEventListener('close', () => resolve());
  });
}

/** Name, trust level with presets, and the policy form; shared by create and edit. */
function integrationForm(initial: { name: string; trust: Trust; policy: Record<string, unknown> }, mode: 'create' | 'edit') {
  const name = h('input', { type: 'text', required: true, maxlength: 100, value: initial.name, autocomplete: 'off' });
  const trust = select(TRUST, initial.trust);
  const presetSel = select(PRESETS.map((p) => [p.id, p.name]), 'defaults');
  const applyPreset = h('button', { type: 'button', class: 'secondary' }, 'Apply preset');
  const form: PolicyForm = policyForm();
  form.load(initial.policy);
  trust.addEventListener('change', () => {
    // The trust level decides the gate and partner trust: show the new level's values for those.
    const next = presetPolicy(trust.value as Trust, {});
    form.load(mode === 'create' ? next : { ...initial.policy, require_otp_for: next.require_otp_for, trust_partner_validation: next.trust_partner_validation });
  });
  applyPreset.addEventListener('click', () => {
    const preset = PRESETS.find((p) => p.id === presetSel.value)!;
    form.show(presetPolicy(trust.value as Trust, preset.patch));
  });
  const element = h(
    'div',
    {},
    field('Name', name),
    field('Trust level', trust, 'The preset of which actions need an OTP session; the policy below can override it.'),
    h('div', { class: 'row' }, field('Policy preset', presetSel, 'Fills the form; only what differs from the trust level’s policy is saved.'), applyPreset),
    h('details', { open: mode === 'create' }, h('summary', {}, 'Policy (every field)'), form.element),
  );
  return { element, name, trust, form };
}

function problemOn(form: PolicyForm, name: HTMLInputElement, status: HTMLElement, error: unknown): void {
  if (error instanceof ApiError) {
    const errors = error.problem.errors ?? {};
    if (errors.name) setFieldError(name, `Refused by the server: ${errors.name.join(', ')}.`);
    form.showServerErrors(errors);
    say(status, error.message, 'error');
  } else say(status, 'Could not reach the server.', 'error');
}

export async function newIntegrationPage(ctx: PageContext): Promise<void> {
  const f = integrationForm({ name: '', trust: 'strict', policy: presetPolicy('strict', {}) }, 'create');
  const status = notice();
  const submit = h('button', { type: 'submit' }, 'Create integration');
  const formEl = h('form', { novalidate: true, 'aria-label': 'New integration' }, f.element, submit, status);
  formEl.addEventListener('submit', async (event) => {
    event.preventDefault();
    setFieldError(f.name, f.name.value.trim() ? '' : 'Required.');
    const policy = f.form.patch();
    if (!f.name.value.trim() || policy === null) return;
    submit.disabled = true;
    try {
      const created = await post<Integration & { keys: { test: IssuedKey; live: IssuedKey } }>('/admin/v1/integrations', {
        name: f.name.value.trim(),
        trust_level: f.trust.value,
        ...(Object.keys(policy).length ? { policy } : {}),
      });
      await showKeys(`Integration “${created.name}” created`, [created.keys.test, created.keys.live]);
      ctx.go(`/dashboard/integrations/${created.id}`);
    } catch (error) {
      problemOn(f.form, f.name, status, error);
    } finally {
      submit.disabled = false;
    }
  });
  ctx.main.append(pageHeader('New integration'), formEl);
}

export async function integrationDetailPage(ctx: PageContext): Promise<void> {
  const id = ctx.params[0]!;
  const integration = await get<Integration>(`/admin/v1/integrations/${id}`);
  let trust = (['strict', 'relaxed', 'trusted'].includes(integration.trust_level) ? integration.trust_level : 'strict') as Trust;
  const f = integrationForm({ name: integration.name, trust, policy: integration.policy }, 'edit');
  const status = notice();
  const save = h('button', { type: 'submit' }, 'Save changes');
  const formEl = h('form', { novalidate: true, 'aria-label': 'Edit integration' }, f.element, save, status);
  formEl.addEventListener('submit', async (event) => {
    event.preventDefault();
    const policy = f.form.patch();
    if (policy === null) return;
    const body: Record<string, unknown> = {};
    if (f.name.value.trim() !== integration.name) body.name = f.name.value.trim();
    if (f.trust.value !== trust) body.trust_level = f.trust.value;
    if (Object.keys(policy).length) body.policy = policy;
    if (Object.keys(body).length === 0) {
      say(status, 'Nothing changed.', 'info');
      return;
    }
    save.disabled = true;
    try {
      const saved = await patch<Integration>(`/admin/v1/integrations/${id}`, body);
      Object.assign(integration, saved);
      trust = f.trust.value as Trust;
      f.form.load(saved.policy);
      say(status, 'Saved. Keys of this integration see the new policy at once.', 'ok');
    } catch (error) {
      problemOn(f.form, f.name, status, error);
    } finally {
      save.disabled = false;
    }
  });

  const keysBox = h('div');
  const keyStatus = notice();
  const drawKeys = async () => {
    const fresh = await get<Integration>(`/admin/v1/integrations/${id}`);
    keysBox.replaceChildren(
      table(
        ['Key', 'Mode', 'Created', 'Revoked', ''],
        (fresh.keys ?? []).map((k) => [
          h('code', {}, `${k.prefix}…`),
          k.mode,
          when(k.created_at),
          when(k.revoked_at),
          k.revoked_at
            ? ''
            : h('button', {
                type: 'button',
                class: 'danger small',
                'aria-label': `Revoke key ${k.prefix}`,
                onclick: async () => {
                  if (!(await confirmDialog('Revoke this key?', `Requests with ${k.prefix}… are refused at once. This cannot be undone.`, 'Revoke key'))) return;
                  await del(`/admin/v1/integrations/${id}/keys/${k.id}`);
                  keyStatus.textContent = `Key ${k.prefix}… revoked.`;
                  await drawKeys();
                },
              }, 'Revoke'),
        ]),
        'API keys',
      ),
    );
  };
  const newKey = (mode: 'test' | 'live') =>
    h('button', {
      type: 'button',
      class: 'secondary',
      onclick: async () => {
        const issued = await post<IssuedKey>(`/admin/v1/integrations/${id}/keys`, { mode });
        await showKeys(`New ${mode} key`, [issued]);
        await drawKeys();
      },
    }, `New ${mode} key`);

  const remove = h('button', { type: 'button', class: 'danger' }, 'Delete integration');
  remove.addEventListener('click', async () => {
    if (!(await confirmDialog(`Delete “${integration.name}”?`, 'Its keys stop working at once. Its data stays in the store until retention removes it.', 'Delete integration'))) return;
    await del(`/admin/v1/integrations/${id}`);
    ctx.go('/dashboard/integrations');
  });

  ctx.main.append(
    pageHeader(integration.name),
    h('p', {}, h('code', {}, integration.id), ` · created ${when(integration.created_at)} · effective trust level ${integration.policy.trust_level as string}`),
    h(
      'p',
      { class: 'row' },
      h('a', { href: `/dashboard/verifications?integration=${id}` }, 'Verifications'),
      h('a', { href: `/dashboard/webhooks?integration=${id}` }, 'Webhooks'),
      h('a', { href: `/dashboard/sandbox?integration=${id}` }, 'Sandbox'),
      h('a', { href: `/dashboard/billing?integration=${id}` }, 'Billing'),
    ),
    h('section', { 'aria-labelledby': 'keys-title' }, h('h2', { id: 'keys-title' }, 'API keys'), h('div', { class: 'row' }, newKey('test'), newKey('live')), keyStatus, keysBox),
    h('section', { 'aria-labelledby': 'settings-title' }, h('h2', { id: 'settings-title' }, 'Settings and policy'), formEl),
    h('section', { 'aria-labelledby': 'danger-title' }, h('h2', { id: 'danger-title' }, 'Delete'), remove),
  );
  await drawKeys();
}
