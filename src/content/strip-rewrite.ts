// The strip action as a body rewrite of the check's pass verdict: the parts
// the strip rules hit, removed by STRIP's stripParts() (src/content/strip.ts),
// which puts a short text part with `notice` and each part's reason in their
// place. Applied by the queue store's MessageWriter.rewrite() before the
// header edits and DKIM signing.

import type { BodyRewrite } from '../checks/check.ts';
import type { MessageSource } from '../scan/spam-verdict.ts';
import type { StripPart } from './content-types.ts';

import { stripParts } from './strip.ts';

export function stripRewrite(parts: StripPart[], hostname: string): BodyRewrite {
  // What was removed and why, one line per part ("rule: extension exe in invoice.pdf.exe"); bounded, as a
  // message may have thousands of parts. Bullets are "*": a line starting with "-" would make the part base64.
  const shown = parts.slice(0, 50).map((p) => `* ${p.reason.replace(/[\r\n]+/g, ' ').slice(0, 300)}`);
  if (parts.length > shown.length) shown.push(`* and ${parts.length - shown.length} more`);
  const notice = [`${parts.length === 1 ? 'A part was' : `${parts.length} parts were`} removed from this message by the content rules of ${hostname}:`, '', ...shown].join('\n');
  return {
    describe: `stripped ${parts.length} part${parts.length === 1 ? '' : 's'} (${parts.map((p) => p.index).join(', ')})`,
    async *apply(source: MessageSource): AsyncIterable<Buffer> {
      yield* stripParts(source, parts, notice);
    },
  };
}
