// A settings diff as a table: path, what happened, before and after.

import { fmtValue } from '../format.ts';
import type { Change } from '../types.ts';

export function ChangeList({ changes, caption }: { changes: Change[]; caption?: string }) {
  if (changes.length === 0) return <p class="muted">No differences.</p>;
  return (
    <div class="table-wrap">
      <table class="changes">
        {caption ? <caption>{caption}</caption> : null}
        <thead>
          <tr>
            <th scope="col">Setting</th>
            <th scope="col">Change</th>
            <th scope="col">Before</th>
            <th scope="col">After</th>
          </tr>
        </thead>
        <tbody>
          {changes.map((c, i) => (
            <tr key={`${c.path}-${i}`} class={`op-${c.op}`}>
              <td>
                <code>{c.path}</code>
              </td>
              <td>{c.op}</td>
              <td class="val">{fmtValue(c.before)}</td>
              <td class="val">{fmtValue(c.after)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
