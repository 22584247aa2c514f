// What a spam engine said about one message, whichever engine it was, and
// how the message is handed to one.

export type SpamVerdict =
  | { result: 'scored'; score: number; required: number | null; symbols: string[] }
  | { result: 'error'; detail: string };

/** A message as the engines receive it: its length first, then its octets. */
export interface MessageSource {
  size: number;
  chunks(): AsyncIterable<Buffer>;
}

/**
 * Writes the message to an engine's connection with backpressure and ends
 * it; stops early when `stopped()` (the exchange already ended). Rejects when
 * the message cannot be read.
 */
export async function sendMessage(out: { write(chunk: Buffer): boolean; once(event: 'drain' | 'close', fn: () => void): unknown; end(): unknown }, message: MessageSource, stopped: () => boolean): Promise<void> {
  for await (const chunk of message.chunks()) {
    if (stopped()) return;
    if (!out.write(chunk)) {
      await new Promise<void>((resolve) => {
        out.once('drain', resolve);
        out.once('close', resolve);
      });
    }
  }
  out.end();
}
