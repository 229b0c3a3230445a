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
