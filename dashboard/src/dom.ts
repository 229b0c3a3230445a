/** Builds DOM nodes without HTML strings: text is always text (nothing from the API is parsed as markup). */
type Attr = string | number | boolean | null | undefined | EventListener;
export type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, Attr> = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = String(value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'number' ? String(child) : child);
  }
}

let ids = 0;
export const uid = (prefix: string): string => `${prefix}-${++ids}`;

/** A labelled form control: `<div class="field"><label for>…</label>control<small>hint</small></div>`. */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLDivElement {
  control.id ||= uid('f');
  const hintEl = hint ? h('small', { id: uid('hint') }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  const error = h('small', { class: 'field-error', id: uid('err'), 'aria-live': 'polite' });
  control.setAttribute('aria-errormessage', error.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl, error);
}

/** Shows an error under a field made by `field` (empty text clears it). */
export function setFieldError(control: Element, message: string): void {
  const id = control.getAttribute('aria-errormessage');
  const el = id ? document.getElementById(id) : null;
  if (el) el.textContent = message;
  if (message) control.setAttribute('aria-invalid', 'true');
  else control.removeAttribute('aria-invalid');
}

export function table(headers: string[], rows: Child[][], caption?: string): HTMLElement {
  return h(
    'div',
    { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': caption ?? headers.join(', ') },
    h('table', {}, caption ? h('caption', {}, caption) : null, h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, rows.length ? rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c)))) : h('tr', {}, h('td', { colspan: headers.length, class: 'empty' }, 'Nothing yet.')))),
  );
}

export function select(options: Array<[string, string]>, value: string, attrs: Record<string, Attr> = {}): HTMLSelectElement {
  return h('select', attrs, options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}

export const when = (iso: string | null | undefined): string => (iso ? new Date(iso).toLocaleString() : '—');

/** A status message region (a live region: errors are alerts). */
export function notice(text = '', kind: 'info' | 'error' | 'ok' = 'info'): HTMLParagraphElement {
  const el = h('p');
  say(el, text, kind);
  return el;
}

/** Puts a message in a `notice`, announced politely, or at once when it is an error. */
export function say(el: HTMLElement, text: string, kind: 'info' | 'error' | 'ok' = 'info'): void {
  el.className = `notice ${kind}`;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  el.textContent = text;
}

/** A modal dialog (native <dialog>: focus trapped, Escape closes), removed when closed. */
export function dialog(title: string, body: Child[], actions: (close: () => void) => HTMLElement[]): HTMLDialogElement {
  const heading = h('h2', { id: uid('dlg') }, title);
  const d = h('dialog', { 'aria-labelledby': heading.id });
  const close = () => d.close();
  d.append(heading, h('div', { class: 'dialog-body' }, ...body), h('div', { class: 'actions' }, ...actions(close)));
  d.addEventListener('close', () => d.remove());
  document.body.append(d);
  d.showModal();
  return d;
}

export function confirmDialog(title: string, text: string, confirmLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    let answer = false;
    const d = dialog(title, [h('p', {}, text)], (close) => [
      h('button', { type: 'button', class: 'secondary', onclick: close }, 'Cancel'),
      h('button', { type: 'button', class: 'danger', onclick: () => { answer = true; close(); } }, confirmLabel),
    ]);
    d.addEventListener('close', () => resolve(answer));
  });
}

/** A read-only secret with a copy button. */
export function secretField(label: string, value: string): HTMLDivElement {
  const input = h('input', { type: 'text', readonly: true, value, class: 'secret', spellcheck: 'false' });
  const status = h('span', { class: 'copy-status', role: 'status' });
  const copy = h('button', { type: 'button', class: 'secondary', 'aria-label': `Copy ${label}` }, 'Copy');
  copy.addEventListener('click', () => {
    input.select();
    navigator.clipboard.writeText(value).then(
      () => (status.textContent = 'Copied'),
      () => (status.textContent = 'Select the text and copy it (the clipboard is not available here)'),
    );
  });
  const f = field(label, input);
  f.append(h('div', { class: 'row' }, copy, status));
  return f;
}
