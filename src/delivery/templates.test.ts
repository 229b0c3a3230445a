import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { extractCode } from '../sandbox/extract-code.js';
import {
  SUPPORTED_LOCALES,
  isValidAndroidAppHash,
  isValidAppDomain,
  renderCodeMessage,
  resolveLocale,
  validateTemplate,
  type Locale,
  type RenderCodeMessageInput,
} from './templates.js';

const base: RenderCodeMessageInput = { code: '482913', brand: 'Acme', ttlS: 300, locale: 'en', channel: 'whatsapp' };
const render = (input: Partial<RenderCodeMessageInput>) => renderCodeMessage({ ...base, ...input });
const lastLine = (text: string): string => text.split('\n').at(-1) ?? '';

describe('renderCodeMessage: built-in texts', () => {
  // [locale, text for 5 minutes, text for 1 minute]
  const cases: Array<[Locale, string, string]> = [
    [
      'en',
      '482913 is your Acme verification code. It expires in 5 minutes.\nDo not share it with anyone.',
      '482913 is your Acme verification code. It expires in 1 minute.\nDo not share it with anyone.',
    ],
    [
      'pt-BR',
      '482913 é o seu código de verificação Acme. Ele expira em 5 minutos.\nNão o compartilhe com ninguém.',
      '482913 é o seu código de verificação Acme. Ele expira em 1 minuto.\nNão o compartilhe com ninguém.',
    ],
    [
      'es',
      '482913 es tu código de verificación de Acme. Expira en 5 minutos.\nNo lo compartas con nadie.',
      '482913 es tu código de verificación de Acme. Expira en 1 minuto.\nNo lo compartas con nadie.',
    ],
    [
      'id',
      '482913 adalah kode verifikasi Acme Anda. Kode ini berlaku selama 5 menit.\nJangan berikan kode ini kepada siapa pun.',
      '482913 adalah kode verifikasi Acme Anda. Kode ini berlaku selama 1 menit.\nJangan berikan kode ini kepada siapa pun.',
    ],
    [
      'hi',
      '482913 आपका Acme सत्यापन कोड है। यह 5 मिनट में समाप्त हो जाएगा।\nइसे किसी के साथ साझा न करें।',
      '482913 आपका Acme सत्यापन कोड है। यह 1 मिनट में समाप्त हो जाएगा।\nइसे किसी के साथ साझा न करें।',
    ],
  ];

  it('covers every supported locale', () => {
    expect(cases.map(([locale]) => locale)).toEqual([...SUPPORTED_LOCALES]);
  });

  it.each(cases)('%s: code first, brand, minutes (plural and singular), do-not-share line', (locale, fiveMinutes, oneMinute) => {
    const text = render({ locale, ttlS: 300 }).text;
    expect(text).toBe(fiveMinutes);
    expect(text.startsWith('482913 ')).toBe(true);
    expect(text).toContain('Acme');
    expect(render({ locale, ttlS: 60 }).text).toBe(oneMinute);
    // Every channel carries the same body when nothing is added to it.
    expect(render({ locale, channel: 'sms' }).text).toBe(fiveMinutes);
    expect(render({ locale, channel: 'email' }).text).toBe(fiveMinutes);
  });

  it('rounds the minutes up, and never below 1', () => {
    expect(render({ ttlS: 61 }).text).toContain('in 2 minutes.');
    expect(render({ ttlS: 600 }).text).toContain('in 10 minutes.');
    expect(render({ ttlS: 1 }).text).toContain('in 1 minute.');
    expect(render({ ttlS: 0 }).text).toContain('in 1 minute.');
    expect(() => render({ ttlS: Number.NaN })).toThrow(TypeError);
  });

  it('falls back to English for a locale it does not know', () => {
    expect(render({ locale: 'xx' as Locale }).text).toBe(render({ locale: 'en' }).text);
  });

  it('gives WhatsApp and SMS neither a subject nor HTML', () => {
    for (const channel of ['whatsapp', 'sms'] as const) {
      const message = render({ channel });
      expect(message.subject).toBeNull();
      expect(message.html).toBeNull();
    }
  });

  it('always lets a phone find the code, whatever the language, code length and extra lines', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^\d{4,10}$/),
        fc.constantFrom(...SUPPORTED_LOCALES),
        fc.constantFrom('whatsapp', 'sms', 'email'),
        fc.integer({ min: 1, max: 86_400 }),
        (code, locale, channel, ttlS) => {
          const { text } = renderCodeMessage({ code, brand: 'Acme 24', ttlS, locale, channel, appDomain: 'acme.example', androidAppHash: 'FA+9qCX9VSu' });
          expect(extractCode(text)).toBe(code);
        },
      ),
    );
  });
});

describe('resolveLocale', () => {
  it.each<[string | null, string | null, Locale]>([
    // The request's locale, exact or by language, case-insensitive.
    ['pt-BR', null, 'pt-BR'],
    ['PT-br', null, 'pt-BR'],
    ['pt_BR', null, 'pt-BR'],
    ['pt', null, 'pt-BR'],
    ['pt-PT', null, 'pt-BR'],
    ['es', null, 'es'],
    ['es-MX', null, 'es'],
    ['ES-419', null, 'es'],
    ['en-GB', null, 'en'],
    ['hi-IN', null, 'hi'],
    ['id', null, 'id'],
    ['id-ID', null, 'id'],
    ['in', null, 'id'],
    [' en ', null, 'en'],
    // The request wins over the country.
    ['en', 'BR', 'en'],
    ['es-AR', 'IN', 'es'],
    // An unsupported or missing request falls back to the phone's country.
    ['fr-FR', 'BR', 'pt-BR'],
    ['de', 'MX', 'es'],
    [null, 'PT', 'pt-BR'],
    [null, 'AO', 'pt-BR'],
    [null, 'MZ', 'pt-BR'],
    [null, 'CV', 'pt-BR'],
    [null, 'GW', 'pt-BR'],
    [null, 'ST', 'pt-BR'],
    [null, 'TL', 'pt-BR'],
    [null, 'ES', 'es'],
    [null, 'GQ', 'es'],
    [null, 'AR', 'es'],
    [null, 'CO', 'es'],
    [null, 'CL', 'es'],
    [null, 'PE', 'es'],
    [null, 'VE', 'es'],
    [null, 'UY', 'es'],
    [null, 'PR', 'es'],
    [null, 'ID', 'id'],
    [null, 'IN', 'hi'],
    [null, 'br', 'pt-BR'],
    ['', 'ID', 'id'],
    // Else English.
    [null, 'US', 'en'],
    [null, 'FR', 'en'],
    [null, null, 'en'],
    ['xx', null, 'en'],
    ['fr', 'DE', 'en'],
  ])('%s, %s → %s', (requested, country, expected) => {
    expect(resolveLocale(requested, country)).toBe(expected);
  });
});

describe('renderCodeMessage: email', () => {
  it('puts the code in the subject, first', () => {
    expect(render({ channel: 'email' }).subject).toBe('482913 is your Acme verification code');
    expect(render({ channel: 'email', locale: 'pt-BR' }).subject).toBe('482913 é o seu código de verificação Acme');
    expect(render({ channel: 'email', locale: 'es' }).subject).toBe('482913 es tu código de verificación de Acme');
    expect(render({ channel: 'email', locale: 'id' }).subject).toBe('482913 adalah kode verifikasi Acme Anda');
    expect(render({ channel: 'email', locale: 'hi' }).subject).toBe('482913 आपका Acme सत्यापन कोड है');
  });

  it('has a self-contained HTML document in the locale, the code prominent', () => {
    const html = render({ channel: 'email', locale: 'es' }).html ?? '';
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toContain('<html lang="es">');
    expect(html).toContain('<meta charset="utf-8">');
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    expect(html).toMatch(/<p style="[^"]*font-size:32px[^"]*">482913<\/p>/);
    expect(html).toContain('Expira en 5 minutos.');
    expect(html).toContain('No lo compartas con nadie.');
    // Nothing fetched from elsewhere.
    expect(html).not.toMatch(/<(?:link|script|img)\b|https?:/);
  });

  it('escapes the brand in the HTML part but not in the plain parts', () => {
    const message = render({ channel: 'email', brand: '<b>&Co' });
    expect(message.html).toContain('482913 is your &lt;b&gt;&amp;Co verification code');
    expect(message.html).not.toContain('<b>');
    expect(message.html).not.toContain('&Co');
    expect(message.subject).toBe('482913 is your <b>&Co verification code');
    expect(message.text.startsWith('482913 is your <b>&Co verification code.')).toBe(true);
    expect(render({ channel: 'email', brand: `"Q's"` }).html).toContain('&quot;Q&#39;s&quot;');
  });

  it('adds neither the WebOTP nor the app hash line', () => {
    const message = render({ channel: 'email', appDomain: 'acme.example', androidAppHash: 'FA+9qCX9VSu' });
    expect(message.text).not.toContain('@acme.example');
    expect(message.text).not.toContain('FA+9qCX9VSu');
  });
});

describe('renderCodeMessage: SMS autofill lines', () => {
  // The WebOTP / origin-bound one-time code format: the last line is `@host #code`, one space between.
  const WEB_OTP_LINE = /^@([A-Za-z0-9.-]+) #(\S+)$/;

  it('ends with the WebOTP line when appDomain is set', () => {
    const { text } = render({ channel: 'sms', appDomain: 'app.acme.example' });
    expect(lastLine(text)).toBe('@app.acme.example #482913');
    expect(WEB_OTP_LINE.exec(lastLine(text))?.slice(1)).toEqual(['app.acme.example', '482913']);
    expect(text).toBe(`${render({ channel: 'sms' }).text}\n@app.acme.example #482913`);
  });

  it('puts the Android app hash on its own final line', () => {
    const { text } = render({ channel: 'sms', androidAppHash: 'FA+9qCX9VSu', locale: 'hi' });
    expect(text).toBe(`${render({ channel: 'sms', locale: 'hi' }).text}\nFA+9qCX9VSu`);
  });

  it('with both, puts the hash before the WebOTP line, which stays last', () => {
    const lines = render({ channel: 'sms', appDomain: 'acme.example', androidAppHash: 'FA+9qCX9VSu' }).text.split('\n');
    expect(lines.slice(-2)).toEqual(['FA+9qCX9VSu', '@acme.example #482913']);
    expect(lines).toHaveLength(4);
  });

  it('adds nothing on WhatsApp, nor for empty values', () => {
    const plain = render({ channel: 'sms' }).text;
    expect(render({ channel: 'whatsapp', appDomain: 'acme.example', androidAppHash: 'FA+9qCX9VSu' }).text).toBe(plain);
    expect(render({ channel: 'sms', appDomain: '', androidAppHash: '' }).text).toBe(plain);
    expect(render({ channel: 'sms', appDomain: null, androidAppHash: null }).text).toBe(plain);
  });

  it('refuses a domain or hash that would make a broken line', () => {
    for (const appDomain of ['https://acme.example', 'acme.example:443', 'acme.example/login', 'acme example', '-acme.example']) {
      expect(isValidAppDomain(appDomain), appDomain).toBe(false);
      expect(() => render({ channel: 'sms', appDomain }), appDomain).toThrow(RangeError);
    }
    for (const androidAppHash of ['FA+9qCX9VS', 'FA+9qCX9VSuX', 'FA+9qCX9VS!', 'FA+9qCX 9VS']) {
      expect(isValidAndroidAppHash(androidAppHash), androidAppHash).toBe(false);
      expect(() => render({ channel: 'sms', androidAppHash }), androidAppHash).toThrow(RangeError);
    }
    expect(isValidAppDomain('xn--acm-9la.example')).toBe(true);
    expect(isValidAndroidAppHash('abc/DEF+123')).toBe(true);
  });
});

describe('renderCodeMessage: operator override', () => {
  it('replaces the body, filling every placeholder', () => {
    const { text } = render({ override: '{brand}: {code} ({minutes} min). {code}', ttlS: 600, locale: 'pt-BR' });
    expect(text).toBe('Acme: 482913 (10 min). 482913');
  });

  it('does not substitute placeholders that come in through the values', () => {
    expect(render({ brand: 'Evil {code} {minutes}', override: '{brand} {code}' }).text).toBe('Evil {code} {minutes} 482913');
    expect(render({ brand: 'Evil {brand}', override: '{code} {brand}' }).text).toBe('482913 Evil {brand}');
  });

  it('keeps the autofill lines after an SMS override', () => {
    const { text } = render({ channel: 'sms', override: 'Code {code}', appDomain: 'acme.example', androidAppHash: 'FA+9qCX9VSu' });
    expect(text).toBe('Code 482913\nFA+9qCX9VSu\n@acme.example #482913');
  });

  it('keeps the email subject, and puts the escaped override in the HTML shell', () => {
    const message = render({ channel: 'email', brand: '<b>&Co', override: 'Hi!\n{code} for {brand} <i>now</i>' });
    expect(message.subject).toBe('482913 is your <b>&Co verification code');
    expect(message.text).toBe('Hi!\n482913 for <b>&Co <i>now</i>');
    expect(message.html).toContain('Hi!<br>482913 for &lt;b&gt;&amp;Co &lt;i&gt;now&lt;/i&gt;');
    expect(message.html?.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(message.html).toContain('<title>482913 is your &lt;b&gt;&amp;Co verification code</title>');
    expect(message.html).not.toContain('verification code.</p>'); // the built-in body is gone
  });

  it('ignores an invalid override, so the code is always sent', () => {
    expect(render({ override: 'no code here' }).text).toBe(render({}).text);
    expect(render({ override: '{code} {foo}' }).text).toBe(render({}).text);
    expect(render({ override: '' }).text).toBe(render({}).text);
  });
});

describe('validateTemplate', () => {
  it('accepts texts with {code} and only known placeholders', () => {
    expect(validateTemplate('{code}')).toBeNull();
    expect(validateTemplate('{brand}: {code}, valid {minutes} min.')).toBeNull();
    expect(validateTemplate('} {code} {')).toBeNull(); // unpaired braces are plain text
    expect(validateTemplate(`{code}${'x'.repeat(994)}`)).toBeNull(); // 1,000 characters
    expect(validateTemplate(`{code}${'é'.repeat(994)}`)).toBeNull();
  });

  it.each([
    ['', /empty/],
    ['Your code is ready', /\{code\}/],
    ['{brand} {minutes}', /\{code\}/],
    ['{code} {foo}', /\{foo\}/],
    ['{Code}', /\{Code\}/],
    ['{code} { code }', /\{ code \}/],
    ['{code} {}', /\{\}/],
    [`{code}${'x'.repeat(995)}`, /1000/],
  ])('refuses %j', (text, reason) => {
    expect(validateTemplate(text)).toMatch(reason);
  });
});
