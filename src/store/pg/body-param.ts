// How a message body's bytes go to PostgreSQL as a query parameter. postgres.js
// 4.1.1 sends every parameter in text format, bytea as hex: twice the bytes on
// the wire, a hex string built in the node and parsed in the database — for a
// 100 KiB message most of the node's CPU on the cluster's body path (the hex
// string, its copy into the output buffer, the socket write, the garbage).
// Most mail is 7-bit: such a chunk goes as plain text and becomes bytea through
// convert_to(), byte for byte (ASCII is the same in every server encoding, and
// convert_to() has no escapes, so a backslash is just a byte). Anything else —
// 8-bit octets or a NUL, which text cannot carry — goes as hex, as before. The
// stored bytea is the same either way: only the transport differs.

import { isAscii } from 'node:buffer';
import type postgres from 'postgres';
import type { Sql, Tx } from './connect.ts';

/** True when the chunk can go as text: 7-bit and without NUL. */
export function textSafe(data: Buffer): boolean {
  return isAscii(data) && data.indexOf(0) === -1;
}

/** A bytea value for a query: `convert_to(text, 'UTF8')` for a text-safe chunk, the Buffer (hex) otherwise. */
export function bodyParam(sql: Sql | Tx, data: Buffer): postgres.Fragment {
  return textSafe(data) ? sql`convert_to(${data.toString('latin1')}::text, 'UTF8')` : sql`${data}::bytea`;
}
