/**
 * Finds the one-time code in a message body, the way a phone offers to copy it: the first
 * standalone run of 4–10 digits, or else a code written in two groups of three ("123 456", "123-456").
 */
export function extractCode(body: string): string | null {
  const whole = /(?<![\d])\d{4,10}(?![\d])/.exec(body);
  if (whole) return whole[0];
  const split = /(?<![\d])(\d{3})[ -](\d{3})(?![\d])/.exec(body);
  return split ? `${split[1]}${split[2]}` : null;
}
