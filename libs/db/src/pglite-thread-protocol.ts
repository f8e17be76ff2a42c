// Messages between createPgliteThreadDb (the owner thread) and its PGlite worker thread.

export type Request =
  | {
      readonly id: number;
      readonly op: 'query';
      readonly sql: string;
      readonly params?: readonly unknown[];
      readonly tx?: number;
    }
  | { readonly id: number; readonly op: 'begin'; readonly tx: number }
  | { readonly id: number; readonly op: 'end'; readonly tx: number; readonly commit: boolean }
  | { readonly id: number; readonly op: 'close' };

/** An error as it crosses threads: structured clone keeps an Error's message, not PostgreSQL's fields. */
export interface SerialisedError {
  readonly name: string;
  readonly message: string;
  readonly fields: Readonly<Record<string, string | number | boolean>>;
}

export type Reply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: SerialisedError };
