// The messages between expression-match.ts (main thread) and
// expression-worker.ts (the worker thread running the expressions).

/** One message's expressions and the text they run on. */
export interface ExpressionJob {
  readonly id: number;
  /** Per header rule: its expression and the values of its field; the first value matching counts. */
  readonly headers: readonly { rule: string; source: string; values: readonly string[] }[];
  /** Per body rule: its expression, run on every text. */
  readonly bodies: readonly { rule: string; source: string }[];
  /** The decoded text parts (each at most inspect.ts's TEXT_LIMIT). */
  readonly texts: readonly string[];
}

export type WorkerMessage =
  | { readonly id: number; readonly kind: 'start'; readonly rule: string }
  /** headers: rule → index of the value that matched; bodies: rule → indexes of the texts that matched. */
  | { readonly id: number; readonly kind: 'done'; readonly headers: Record<string, number>; readonly bodies: Record<string, number[]> }
  | { readonly id: number; readonly kind: 'error'; readonly message: string };
