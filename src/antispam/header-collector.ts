// Keeps the header section of a message as it streams in (up to a bound), so
// that the origin checks can read its Received headers at the end of DATA
// without reading the spool back.

import { splitFields } from '../scan/header-edit.ts';

const MAX = 64 * 1024;

export class HeaderCollector {
  private parts: Buffer[] = [];
  private size = 0;
  private done = false;
  /** The last octets seen, so that an empty line split across chunks is still found. */
  private tail = Buffer.alloc(0);

  feed(chunk: Buffer): void {
    if (this.done) return;
    this.parts.push(chunk);
    this.size += chunk.length;
    const look = Buffer.concat([this.tail, chunk]);
    if (this.size >= MAX || look.includes('\r\n\r\n') || (this.size === look.length && look.subarray(0, 2).toString() === '\r\n')) this.done = true;
    this.tail = look.subarray(Math.max(0, look.length - 3));
  }

  /** The values of every field with this name, from the top, unfolded. */
  values(name: string): string[] {
    const all = Buffer.concat(this.parts).toString('latin1');
    const end = all.startsWith('\r\n') ? 0 : all.indexOf('\r\n\r\n');
    const section = end < 0 ? all.slice(0, all.lastIndexOf('\r\n') + 2) : all.slice(0, end + 2);
    const want = name.toLowerCase();
    return splitFields(section)
      .filter((f) => f.slice(0, f.indexOf(':')).trim().toLowerCase() === want)
      .map((f) => f.slice(f.indexOf(':') + 1).replace(/\r\n[ \t]+/g, ' ').trim());
  }
}
