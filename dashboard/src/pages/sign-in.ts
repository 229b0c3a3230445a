import { ApiError, request, setCsrf, type SessionInfo } from '../api.js';
import type { PageContext } from '../app-shell.js';
import { field, h, notice, setFieldError, say } from '../dom.js';

export async function signInPage(ctx: PageContext): Promise<void> {
  document.title = 'Sign in · otpgate console';
  const token = h('input', { type: 'password', name: 'token', autocomplete: 'current-password', required: true, maxlength: 512 });
  const status = notice();
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'otpgate console'),
    h('p', {}, 'Sign in with the admin token (OTPGATE_ADMIN_TOKEN).'),
    field('Admin token', token),
    submit,
    status,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    setFieldError(token, '');
    status.textContent = '';
    submit.disabled = true;
    request<SessionInfo>('POST', '/dashboard/session', { token: token.value })
      .then((session) => {
        setCsrf(session.csrf_token);
        const next = ctx.query.get('next') ?? '';
        location.assign(/^\/dashboard\/[A-Za-z0-9/_-]*(\?[A-Za-z0-9=&_%.-]*)?$/.test(next) && !next.startsWith('/dashboard/sign-in') ? next : '/dashboard/');
      })
      .catch((error: unknown) => {
        const message = error instanceof ApiError ? error.message : 'Could not reach the server.';
        setFieldError(token, message);
        say(status, message, 'error');
        token.focus();
      })
      .finally(() => (submit.disabled = false));
  });
  ctx.main.append(form);
  token.focus();
}
