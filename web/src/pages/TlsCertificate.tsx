// TLS certificate: the one the listeners (and this admin listener) use now,
// the one the next start loads, an upload of a certificate and its key (PEM,
// pasted or read from files; the server checks that the key belongs to the
// certificate and that it is valid now), and the way back to the
// self-signed certificate. The daemon loads its certificate at start.

import { useCallback, useState } from 'preact/hooks';
import { get } from '../api.ts';
import { ConfirmButton } from '../components/ConfirmButton.tsx';
import { ApplyResultView } from '../components/ApplyResultView.tsx';
import { ErrorBox, Loading, TextArea } from '../components/Fields.tsx';
import { fmtTime } from '../format.ts';
import { useApply, useLoad } from '../hooks.ts';
import { useCanEdit } from '../session.ts';
import type { CertInfo, TlsInfo } from '../types.ts';
import { labelled } from './screenLabels.ts';

const DAY = 86_400_000;

function CertView({ c, testid }: { c: CertInfo; testid: string }) {
  const left = Math.floor((new Date(c.valid_to).getTime() - Date.now()) / DAY);
  return (
    <dl class="facts" data-testid={testid}>
      <dt>Subject</dt>
      <dd data-testid={`${testid}-subject`}>{c.subject}</dd>
      <dt>Names</dt>
      <dd>{c.names.join(', ') || '—'}</dd>
      <dt>Issuer</dt>
      <dd>
        {c.issuer} {c.self_signed && <span class="badge" data-testid={`${testid}-self-signed`}>self-signed</span>}
      </dd>
      <dt>Valid</dt>
      <dd>
        {fmtTime(c.valid_from)} to <span data-testid={`${testid}-expiry`}>{fmtTime(c.valid_to)}</span>{' '}
        <span class={left < 0 ? 'bad' : left < 30 ? 'warn' : undefined}>{left < 0 ? '(expired)' : `(${left} days left)`}</span>
      </dd>
      <dt>SHA-256</dt>
      <dd>
        {/* 95 characters without a space: broken anywhere, or it widens the page on a phone. */}
        <code style={{ overflowWrap: 'anywhere', wordBreak: 'break-all' }}>{c.fingerprint}</code>
      </dd>
    </dl>
  );
}

/** A PEM file chosen with the file picker goes into the text box. */
function PemInput({ label, value, onInput, testid, hint }: { label: string; value: string; onInput: (v: string) => void; testid: string; hint: string }) {
  return (
    <div>
      <TextArea label={label} value={value} rows={6} mono onInput={onInput} testid={testid} hint={hint} />
      <label class="file-pick">
        Or read a file:{' '}
        <input
          type="file"
          accept=".pem,.crt,.key,.cer"
          data-testid={`${testid}-file`}
          onChange={(e) => {
            const f = (e.currentTarget as HTMLInputElement).files?.[0];
            if (f) void f.text().then(onInput);
          }}
        />
      </label>
    </div>
  );
}

export function TlsPage() {
  const canEdit = useCanEdit();
  const info = useLoad(useCallback(() => get<TlsInfo>('/api/tls'), []), []);
  const action = useApply();
  const [cert, setCert] = useState('');
  const [key, setKey] = useState('');
  // Bumped after an upload went through: the file pickers start empty again.
  const [picks, setPicks] = useState(0);
  const t = info.data;

  const upload = async () => {
    const r = await action.run('PUT', '/api/tls', { cert, key });
    if (r.ok) {
      setCert('');
      setKey('');
      setPicks((n) => n + 1);
    }
    await info.reload();
  };
  const selfSigned = async () => {
    await action.run('DELETE', '/api/tls');
    await info.reload();
  };
  const label = (p: string) => (p === 'tls.cert' || p === 'tls.key' ? 'Upload' : null);

  return (
    <section class="page">
      <h1>TLS certificate</h1>
      <p class="lead">The certificate of the SMTP listeners (STARTTLS and implicit TLS) and of this web admin. The daemon loads it when it starts: a new certificate is used from the next start.</p>
      {!t ? (
        info.error ? (
          <ErrorBox message={info.error} />
        ) : (
          <Loading what="the certificate" />
        )
      ) : (
        <>
          <section class="card">
            <h2>In use now</h2>
            {t.in_use ? <CertView c={t.in_use} testid="cert-in-use" /> : <p>No certificate could be read.</p>}
          </section>
          <section class="card">
            <h2>At the next start</h2>
            <p data-testid="cert-source">
              {t.configured ? (
                <>
                  Uploaded certificate <code>{t.configured.cert}</code>
                </>
              ) : (
                'The self-signed certificate in the data directory (made at the first start).'
              )}
            </p>
            {t.next_start ? <CertView c={t.next_start} testid="cert-next" /> : <p>None yet: a self-signed certificate is made at the next start.</p>}
            {t.restart_needed && (
              <p class="caution" role="status" data-testid="cert-restart-needed">
                <strong>Restart needed:</strong> the listeners still use the certificate above. Restart mailwarden (<code>systemctl restart mailwarden</code>) to use this one.
              </p>
            )}
            {canEdit && t.configured && (
              <ConfirmButton label="Use the self-signed certificate" confirmLabel="Yes, go back to the self-signed certificate" onConfirm={() => void selfSigned()} />
            )}
          </section>
          {canEdit && (
            <section class="card" aria-labelledby="h-upload">
              <h2 id="h-upload">Upload a certificate</h2>
              <form
                onSubmit={(e) => {
                  e.preventDefault();
                  void upload();
                }}
              >
                <PemInput key={`c${picks}`} label="Certificate (PEM)" value={cert} onInput={setCert} testid="field-tls-cert" hint="The server's certificate first, then the intermediate certificates." />
                <PemInput key={`k${picks}`} label="Private key (PEM)" value={key} onInput={setKey} testid="field-tls-key" hint="Not encrypted. Stored in the data directory (tls/uploaded/), readable by the daemon only." />
                <div class="actions">
                  <button type="submit" class="primary" disabled={action.busy || !cert.trim() || !key.trim()}>
                    {action.busy ? 'Uploading…' : 'Upload and use from the next start'}
                  </button>
                </div>
              </form>
            </section>
          )}
          <ApplyResultView result={labelled(action.result, label)} />
        </>
      )}
    </section>
  );
}
