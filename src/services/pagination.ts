export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/** A keyset position: the sort time and id of the last item of a page. */
export interface CursorPosition {
  t: number;
  id: string;
}

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/** Undefined → first page; anything that is not a cursor this server made → 'invalid'. */
export function decodeCursor(cursor: string | undefined): CursorPosition | null | 'invalid' {
  if (cursor === undefined || cursor === '') return null;
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (typeof value === 'object' && value !== null && Number.isSafeInteger((value as CursorPosition).t) && typeof (value as CursorPosition).id === 'string') {
      return { t: (value as CursorPosition).t, id: (value as CursorPosition).id };
    }
  } catch {
    // falls through to 'invalid'
  }
  return 'invalid';
}

/**
 * One page from `limit + 1` rows read newest first: the extra row only says whether another page
 * follows, and the cursor points after the last row shown.
 */
export function toPage<R extends { id: string }, T>(rows: R[], limit: number, timeOf: (row: R) => number, present: (row: R) => T): Page<T> {
  const shown = rows.slice(0, limit);
  const last = shown[shown.length - 1];
  return { data: shown.map(present), next_cursor: rows.length > limit && last ? encodeCursor({ t: timeOf(last), id: last.id }) : null };
}
