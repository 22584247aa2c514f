// Keeps memory flat while large messages stream through. Every chunk of a
// message is a short-lived Buffer whose memory lives outside the JavaScript
// heap; V8 only collects such garbage once tens of megabytes have piled up,
// so one 50 MB message could raise the process's size by about as much. A
// young-generation collection every few megabytes of streamed data (about a
// millisecond each) returns that memory as it goes. Needs --expose-gc (the
// launcher passes it); without it this does nothing.

const EVERY = 8 * 1024 * 1024;
let streamed = 0;

type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

export function streamedBytes(n: number): void {
  streamed += n;
  if (streamed < EVERY) return;
  streamed = 0;
  (globalThis as { gc?: GcFunction }).gc?.({ type: 'minor' });
}
