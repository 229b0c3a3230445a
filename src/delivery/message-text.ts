import type { Channel } from '../domain/policy.js';

interface Texts {
  body: (code: string, minutes: number, brand: string) => string;
  subject: (brand: string) => string;
}

const TEXTS: Record<string, Texts> = {
  en: {
    body: (code, minutes, brand) => `${code} is your ${brand} verification code. It expires in ${minutes} minutes. Do not share it with anyone.`,
    subject: (brand) => `Your ${brand} verification code`,
  },
  pt: {
    body: (code, minutes, brand) => `${code} é o seu código de verificação ${brand}. Ele expira em ${minutes} minutos. Não o compartilhe com ninguém.`,
    subject: (brand) => `Seu código de verificação ${brand}`,
  },
  es: {
    body: (code, minutes, brand) => `${code} es tu código de verificación de ${brand}. Caduca en ${minutes} minutos. No lo compartas con nadie.`,
    subject: (brand) => `Tu código de verificación de ${brand}`,
  },
};

/** The text of a code message in the request's locale (language part; English when unknown). */
export function renderCodeMessage(input: { code: string; ttlS: number; brand: string; locale: string | null; channel: Channel }): {
  subject: string | null;
  text: string;
} {
  const language = (input.locale ?? 'en').slice(0, 2).toLowerCase();
  const texts = TEXTS[language] ?? (TEXTS.en as Texts);
  const minutes = Math.max(1, Math.ceil(input.ttlS / 60));
  return {
    subject: input.channel === 'email' ? texts.subject(input.brand) : null,
    text: texts.body(input.code, minutes, input.brand),
  };
}
