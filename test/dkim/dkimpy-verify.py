# An independent DKIM verifier for the tests: Debian's python3-dkim (dkimpy)
# verifies every DKIM-Signature of the message on stdin, with the key records
# asked from the test DNS server given as HOST:PORT (dnspython), and prints one
# JSON object per signature: {"d", "s", "a", "ok", "error"}.
import json
import sys

import dkim
import dns.resolver

host, port = sys.argv[1].rsplit(':', 1)
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = [host]
resolver.port = int(port)


def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode('ascii')
    try:
        answer = resolver.resolve(name.rstrip('.'), 'TXT', lifetime=timeout)
    except Exception:
        return None
    # RFC 6376 3.6.2.2: the strings of one record are joined.
    return b''.join(answer[0].strings)


message = sys.stdin.buffer.read()
d = dkim.DKIM(message)
out = []
count = sum(1 for (k, _) in d.headers if k.lower() == b'dkim-signature')
for idx in range(count):
    v = dkim.DKIM(message)
    try:
        ok = v.verify(idx=idx, dnsfunc=dnsfunc)
        err = None
    except Exception as e:  # a broken signature is a result, not a crash
        ok, err = False, str(e)
    sig = v.signature_fields if hasattr(v, 'signature_fields') else {}
    out.append({
        'd': (sig.get(b'd') or b'').decode(),
        's': (sig.get(b's') or b'').decode(),
        'a': (sig.get(b'a') or b'').decode(),
        'ok': bool(ok),
        'error': err,
    })
print(json.dumps(out))
