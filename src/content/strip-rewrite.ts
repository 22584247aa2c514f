// The strip action as a body rewrite of the check's pass verdict: the parts
// the strip rules hit, removed by STRIP's stripParts() (src/content/strip.ts),
// which puts a short text part with `notice` and each part's reason in their
// place. Applied by the queue store's MessageWriter.rewrite() before the
// header edits and DKIM signing.

import type { BodyRewrite } from '../checks/check.ts';
import type { MessageSource } from '../scan/spam-verdict.ts';
import type { StripPart } from './content-types.ts';

type StripParts = (source: MessageSource, parts: StripPart[], notice: string) => AsyncIterable<Buffer>;

// strip.ts is STRIP's (wip/strip); loaded by name until that branch is merged, against its signature.
const STRIP_MODULE = './strip.ts';

export function stripRewrite(parts: StripPart[], hostname: string): BodyRewrite {
  const notice = `${parts.length === 1 ? 'A part was' : `${parts.length} parts were`} removed from this message by the content rules of ${hostname}.`;
  return {
    describe: `stripped ${parts.length} part${parts.length === 1 ? '' : 's'} (${parts.map((p) => p.index).join(', ')})`,
    async *apply(source: MessageSource): AsyncIterable<Buffer> {
      const { stripParts } = (await import(STRIP_MODULE)) as { stripParts: StripParts };
      yield* stripParts(source, parts, notice);
    },
  };
}
