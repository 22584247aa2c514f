// What a spam engine said about one message, whichever engine it was.

export type SpamVerdict =
  | { result: 'scored'; score: number; required: number | null; symbols: string[] }
  | { result: 'error'; detail: string };

/** A message as the engines receive it: its length first, then its octets. */
export interface MessageSource {
  size: number;
  chunks(): AsyncIterable<Buffer>;
}
