/**
 * Finds the one-time code in a message body: the first standalone run of 4–10 digits (optionally
 * split by one space or dash, as "123 456" or "123-456"), the way an SMS app offers to copy it.
 */
export function extractCode(body: string): string | null {
  const match = /(?<![\d])(\d{3,5})[ -]?(\d{3,5})(?![\d])|(?<![\d])(\d{4,10})(?![\d])/.exec(body);
  if (!match) return null;
  if (match[3]) return match[3];
  const joined = `${match[1]}${match[2]}`;
  return joined.length <= 10 ? joined : null;
}
