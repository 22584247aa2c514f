// Content rules (Email protection): the attachment and content filters of
// the `content` section (docs/content.md): the rules in order (add, edit,
// delete, move up and down), the archive limits, one Apply as other pages;
// and a test upload of an .eml (POST /api/content/test) that shows each part
// and the rule that matched it, under the applied settings.

import { useState } from 'preact/hooks';
import { postRaw } from '../api.ts';
import { CheckField, ErrorBox, Loading, NumberField, SelectField, TextField } from '../components/Fields.tsx';
import { Section } from '../components/Section.tsx';
import { blankForm, describeMatch, formOf, moved, ruleOf, type ArchiveLimits, type ContentAction, type ContentDirection, type ContentReport, type ContentSettings, type RuleForm } from '../contentRules.ts';
import { useCanEdit } from '../session.ts';
import { useSection } from '../useSection.ts';

const DIRECTIONS: readonly (readonly [ContentDirection, string])[] = [
  ['both', 'all mail'],
  ['inbound', 'inbound: clients without a relay right'],
  ['relayed', 'relayed: relay hosts and logged-in users'],
];
const ACTIONS: readonly (readonly [ContentAction, string])[] = [
  ['reject', 'reject: 550 5.7.1 at the end of DATA'],
  ['quarantine', 'quarantine: accept and keep'],
  ['strip', 'strip: remove the part, add a notice'],
  ['tag', 'tag: add an X-Mailwarden-Content header field'],
];
const ON_ERROR: readonly (readonly [ArchiveLimits['on_error'], string])[] = [
  ['accept', 'accept'],
  ['quarantine', 'quarantine'],
  ['reject', 'reject'],
];

export function ContentRulesPage() {
  const canEdit = useCanEdit();
  const s = useSection<ContentSettings>('content');
  const [editing, setEditing] = useState<{ index: number; form: RuleForm } | null>(null);
  const d = s.draft;
  const setRules = (rules: ContentSettings['rules']) => s.set({ rules });
  const setArchive = (patch: Partial<ArchiveLimits>) => d && s.set({ archive: { ...d.archive, ...patch } });
  const save = () => {
    if (!d || !editing) return;
    const next = [...d.rules];
    next.splice(editing.index, editing.index < d.rules.length ? 1 : 0, ruleOf(editing.form));
    setRules(next);
    setEditing(null);
  };
  return (
    <section class="page">
      <h1>Content rules</h1>
      <p class="lead">
        Attachment and content filters at the end of DATA, before the spam scan: by file extension (every extension of a name counts: <code>invoice.pdf.exe</code>), MIME type, file name,
        header field or text, also inside zip archives. The strongest action of the rules that match wins: reject, then quarantine, strip, tag.
      </p>
      <ErrorBox message={s.error} />
      {!d ? (
        !s.error && <Loading what="content rules" />
      ) : (
        <Section id="content" title="Rules" canEdit={canEdit} busy={s.busy} dirty={s.dirty} result={s.result} onApply={() => void s.applyNow()}>
          <div class="form-grid">
            <CheckField label="Apply the content rules" checked={d.enabled} disabled={!canEdit} testid="content-enabled" onChange={(v) => s.set({ enabled: v })} />
            <TextField label="Subject tag for tagged messages" value={d.subject_tag ?? ''} disabled={!canEdit} testid="content-subject-tag" hint="Put before the Subject when a tag rule matches, e.g. [attachment]; empty: the header field only." onInput={(v) => s.set({ subject_tag: v.trim() === '' ? null : v })} />
          </div>
          {d.rules.length === 0 && <p data-testid="content-rules-empty">No rules: nothing is checked.</p>}
          {d.rules.length > 0 && (
            <table data-testid="content-rules">
              <thead>
                <tr>
                  <th>#</th>
                  <th>Rule</th>
                  <th>Looks for</th>
                  <th>Mail</th>
                  <th>Action</th>
                  {canEdit && <th />}
                </tr>
              </thead>
              <tbody>
                {d.rules.map((r, i) => (
                  <tr key={`${r.name}-${i}`} data-testid={`content-rule-${i}`}>
                    <td>{i + 1}</td>
                    <td>
                      <strong>{r.name}</strong>
                      {r.comment ? <div class="hint">{r.comment}</div> : null}
                    </td>
                    <td>{describeMatch(r.match)}</td>
                    <td>{r.direction}</td>
                    <td>{r.action}</td>
                    {canEdit && (
                      <td class="row-actions">
                        <button type="button" aria-label={`Move ${r.name} up`} data-testid={`content-rule-${i}-up`} disabled={i === 0} onClick={() => setRules(moved(d.rules, i, -1))}>
                          ↑
                        </button>{' '}
                        <button type="button" aria-label={`Move ${r.name} down`} data-testid={`content-rule-${i}-down`} disabled={i === d.rules.length - 1} onClick={() => setRules(moved(d.rules, i, 1))}>
                          ↓
                        </button>{' '}
                        <button type="button" data-testid={`content-rule-${i}-edit`} onClick={() => setEditing({ index: i, form: formOf(r) })}>
                          Edit
                        </button>{' '}
                        <button type="button" class="danger" data-testid={`content-rule-${i}-delete`} onClick={() => setRules(d.rules.filter((_, j) => j !== i))}>
                          Delete
                        </button>
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {canEdit && !editing && (
            <button type="button" data-testid="content-rule-add" onClick={() => setEditing({ index: d.rules.length, form: blankForm() })}>
              Add a rule
            </button>
          )}
          {editing && <RuleFormView form={editing.form} isNew={editing.index >= d.rules.length} onChange={(form) => setEditing({ ...editing, form })} onDone={save} onCancel={() => setEditing(null)} />}
          <fieldset class="group">
            <legend>Zip archives</legend>
            <div class="form-grid">
              <NumberField label="Nesting depth opened" value={d.archive.max_depth} min={1} max={10} disabled={!canEdit} testid="content-archive-max_depth" hint="1 – 10; 1: the names in the attached archive only." onChange={(v) => setArchive({ max_depth: v ?? 1 })} />
              <NumberField label="Largest archive read (octets)" value={d.archive.max_size} disabled={!canEdit} testid="content-archive-max_size" onChange={(v) => setArchive({ max_size: v ?? 0 })} />
              <NumberField label="Inflated per message at most (octets)" value={d.archive.max_expanded} disabled={!canEdit} testid="content-archive-max_expanded" hint="Nested archives are inflated to be opened; a zip bomb stops here." onChange={(v) => setArchive({ max_expanded: v ?? 0 })} />
              <NumberField label="Names listed per message at most" value={d.archive.max_entries} disabled={!canEdit} testid="content-archive-max_entries" onChange={(v) => setArchive({ max_entries: v ?? 0 })} />
              <SelectField label="An archive that cannot be read to the end" value={d.archive.on_error} options={ON_ERROR} disabled={!canEdit} testid="content-archive-on_error" hint="A limit reached, a damaged or an encrypted archive." onChange={(v) => setArchive({ on_error: v })} />
            </div>
          </fieldset>
        </Section>
      )}
      <TestUpload />
    </section>
  );
}

function RuleFormView({ form: f, isNew, onChange, onDone, onCancel }: { form: RuleForm; isNew: boolean; onChange: (f: RuleForm) => void; onDone: () => void; onCancel: () => void }) {
  const set = (patch: Partial<RuleForm>) => onChange({ ...f, ...patch });
  return (
    <fieldset class="group" data-testid="content-rule-form">
      <legend>{isNew ? 'New rule' : `Edit rule ${f.name}`}</legend>
      <p class="hint">Every field filled in must hold. Expressions are case-insensitive.</p>
      <div class="form-grid">
        <TextField label="Name" value={f.name} testid="rule-name" hint="Letters, digits, _ . -; shown in logs and replies." onInput={(v) => set({ name: v })} />
        <TextField label="Extensions" value={f.extensions} testid="rule-extensions" hint="Comma-separated, without the dot: exe, scr, js." onInput={(v) => set({ extensions: v })} />
        <TextField label="MIME types" value={f.mimeTypes} testid="rule-mime-types" hint="Comma-separated: application/x-msdownload, video/*." onInput={(v) => set({ mimeTypes: v })} />
        <TextField label="File name expression" value={f.filename} testid="rule-filename" hint="A regular expression on the decoded name, e.g. ^invoice." onInput={(v) => set({ filename: v })} />
        <CheckField label="Also names inside zip archives" checked={f.archive} testid="rule-archive" onChange={(v) => set({ archive: v })} />
        <NumberField label="Larger than (octets)" value={f.sizeOver} allowEmpty min={1} testid="rule-size-over" hint="With an extension, type or name: that part; alone: the message." onChange={(v) => set({ sizeOver: v })} />
        <TextField label="Header field" value={f.headerName} testid="rule-header-name" hint="e.g. Subject" onInput={(v) => set({ headerName: v })} />
        <TextField label="Header expression" value={f.headerRegex} testid="rule-header-regex" onInput={(v) => set({ headerRegex: v })} />
        <TextField label="Text expression" value={f.body} testid="rule-body" hint="On the decoded text parts (the first 1 MiB of each)." onInput={(v) => set({ body: v })} />
        <SelectField<ContentDirection> label="Mail" value={f.direction} options={DIRECTIONS} testid="rule-direction" onChange={(v) => set({ direction: v })} />
        <SelectField<ContentAction> label="Action" value={f.action} options={ACTIONS} testid="rule-action" onChange={(v) => set({ action: v })} />
        <TextField label="Comment" value={f.comment} testid="rule-comment" onInput={(v) => set({ comment: v })} />
      </div>
      <div class="actions">
        <button type="button" data-testid="rule-done" onClick={onDone}>
          {isNew ? 'Add to the list' : 'Keep the changes'}
        </button>{' '}
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      <p class="hint">The list is applied with the Apply button below; the server checks it.</p>
    </fieldset>
  );
}

function TestUpload() {
  const [file, setFile] = useState<File | null>(null);
  const [direction, setDirection] = useState<'inbound' | 'relayed'>('inbound');
  const [report, setReport] = useState<ContentReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    if (!file) return;
    setBusy(true);
    setError(null);
    try {
      setReport(await postRaw<ContentReport>(`/api/content/test?direction=${direction}`, file));
    } catch (err) {
      setReport(null);
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card" data-testid="section-content-test" aria-labelledby="h-content-test">
      <h2 id="h-content-test">Test a message</h2>
      <p class="intro">Upload an .eml as it would arrive: each part, the rule that matched it and the action, under the applied rules (apply a change first to test it).</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        <div class="form-grid">
          <div class="field">
            <label for="content-test-file">Message (.eml)</label>
            <input id="content-test-file" type="file" accept=".eml,message/rfc822" data-testid="content-test-file" onChange={(e) => setFile((e.currentTarget as HTMLInputElement).files?.[0] ?? null)} />
          </div>
          <SelectField<'inbound' | 'relayed'>
            label="As"
            value={direction}
            testid="content-test-direction"
            options={[
              ['inbound', 'inbound mail'],
              ['relayed', 'relayed mail'],
            ]}
            onChange={setDirection}
          />
        </div>
        <div class="actions">
          <button type="submit" class="primary" disabled={!file || busy} data-testid="content-test-run">
            {busy ? 'Testing…' : 'Test'}
          </button>
        </div>
      </form>
      <ErrorBox message={error} />
      {report && <ReportView r={report} />}
    </section>
  );
}

function ReportView({ r }: { r: ContentReport }) {
  const hits = (hs: ContentReport['message_hits']) => hs.map((h) => `${h.rule} (${h.action}): ${h.what}`).join('; ');
  return (
    <div data-testid="content-test-result">
      <p data-testid="content-test-verdict">
        <strong>{r.action === 'accept' ? 'No rule matched: accepted' : `${r.action} by rule ${r.rule}`}</strong>
        {r.reason ? ` — ${r.reason}` : ''}
        {!r.enabled ? ' (the content rules are off)' : ''}
      </p>
      <table data-testid="content-test-parts">
        <thead>
          <tr>
            <th>Part</th>
            <th>Type</th>
            <th>File name</th>
            <th>Size</th>
            <th>Matched</th>
          </tr>
        </thead>
        <tbody>
          {r.parts.flatMap((p) => [
            <tr key={`p${p.index}`} data-testid={`content-test-part-${p.index}`}>
              <td>{p.index}</td>
              <td>{p.type}</td>
              <td>{p.filename ?? ''}</td>
              <td>{p.multipart ? '' : `${p.size} octets`}</td>
              <td>{hits(p.hits)}</td>
            </tr>,
            ...p.archive.map((a, j) => (
              <tr key={`p${p.index}a${j}`} class="archive-entry" data-testid={`content-test-part-${p.index}-entry-${j}`}>
                <td />
                <td>in {a.in.join(' › ')}</td>
                <td>{a.name}</td>
                <td>{a.size} octets</td>
                <td>{hits(a.hits)}</td>
              </tr>
            )),
          ])}
        </tbody>
      </table>
      {r.message_hits.length > 0 && <p data-testid="content-test-message-hits">The message: {hits(r.message_hits)}</p>}
      {r.stripped.length > 0 && <p>Strip would remove part {r.stripped.join(', ')}.</p>}
      {r.tag_fields.map((f) => (
        <p key={f}>
          Tag would add <code>{f}</code>
        </p>
      ))}
      {r.archive_errors.map((a) => (
        <p key={`${a.part}-${a.archive.join('/')}`} class="hint">
          Archive not read (part {a.part}, {a.archive.join(' › ')}): {a.reason}
        </p>
      ))}
      {r.incomplete && <p class="hint">The message could not be read to the end: {r.incomplete}</p>}
    </div>
  );
}
