#!/usr/bin/env python3
# Builds the content rules' test messages with Python's own `email` package
# and zip archives with `zipfile`: a second MIME composer beside nodemailer's,
# so that the walk is proven on what two independent writers produce.
# Usage: make_message.py zip|eml SPEC_JSON (on stdin) > output
import io, json, sys, zipfile, base64
from email.message import EmailMessage
from email import policy
from email.utils import encode_rfc2231
from email.header import Header


def build_zip(spec):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        for e in spec['entries']:
            method = zipfile.ZIP_STORED if e.get('stored') else zipfile.ZIP_DEFLATED
            if 'zip' in e:
                data = build_zip(e['zip'])
            elif 'zeros' in e:
                data = None
            else:
                data = e.get('text', '').encode('utf-8')
            info = zipfile.ZipInfo(e['name'])
            info.compress_type = method
            if data is None:
                # Written in slices, so that a large entry costs no large string here.
                with z.open(info, 'w', force_zip64=e['zeros'] > 2**31) as w:
                    left = e['zeros']
                    block = b'\0' * (1 << 20)
                    while left > 0:
                        w.write(block[:min(left, len(block))])
                        left -= min(left, len(block))
            else:
                z.writestr(info, data)
    data = bytearray(buf.getvalue())
    if spec.get('encrypted'):
        # The "encrypted" flag (bit 0) on every entry, central directory and local headers.
        i = 0
        while True:
            i = data.find(b'PK\x01\x02', i)
            if i < 0:
                break
            data[i + 8] |= 1
            i += 4
        i = 0
        while True:
            i = data.find(b'PK\x03\x04', i)
            if i < 0:
                break
            data[i + 6] |= 1
            i += 4
    if spec.get('truncate'):
        data = data[:spec['truncate']]
    return bytes(data)


def attachment_bytes(a):
    if 'zip' in a:
        return build_zip(a['zip'])
    if 'zeros' in a:
        return b'\0' * a['zeros']
    return a.get('text', 'attachment').encode('utf-8')


def build_eml(spec):
    msg = EmailMessage(policy=policy.SMTP)
    msg['From'] = spec.get('from', 'sender@example.org')
    msg['To'] = spec.get('to', 'user@example.com')
    msg['Subject'] = spec.get('subject', 'test')
    for k, v in spec.get('headers', {}).items():
        msg[k] = v
    msg.set_content(spec.get('text', 'Hello.\n'))
    raw_headers = []
    for a in spec.get('attachments', []):
        maintype, subtype = a.get('type', 'application/octet-stream').split('/')
        data = attachment_bytes(a)
        style = a.get('style', 'plain')
        if style == 'plain':
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=a['filename'])
        elif style == 'rfc2231':
            # filename*=utf-8''... as Python writes a non-ASCII name.
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=('utf-8', '', a['filename']))
        else:
            msg.add_attachment(data, maintype=maintype, subtype=subtype)
            part = msg.get_payload()[-1]
            del part['Content-Disposition']
            if style == 'rfc2231-continued':
                # filename*0*=, filename*1*= ...: an RFC 2231 value split in sections (as long names are).
                enc = encode_rfc2231(a['filename'], 'utf-8')[len("utf-8''"):]
                cut = [enc[i:i + 12] for i in range(0, len(enc), 12)]
                params = ';\r\n '.join(("filename*%d*=utf-8''%s" % (i, c)) if i == 0 else ('filename*%d*=%s' % (i, c)) for i, c in enumerate(cut))
                # The email package refolds what it is given: the raw sections go in after it wrote the message.
                raw_headers.append(('attachment; filename="continued-%d"' % len(raw_headers), 'attachment;\r\n ' + params))
                part['Content-Disposition'] = raw_headers[-1][0]
            elif style == 'rfc2047-name':
                # Only a Content-Type name, as an RFC 2047 encoded word (Outlook's old habit).
                del part['Content-Type']
                word = Header(a['filename'], 'utf-8').encode()
                raw_headers.append(('%s/%s; name="encoded-%d"' % (maintype, subtype, len(raw_headers)), '%s/%s; name="%s"' % (maintype, subtype, word)))
                part['Content-Type'] = raw_headers[-1][0]
                part['Content-Disposition'] = 'attachment'
            elif style == 'differ':
                # A harmless name in Content-Disposition, another in Content-Type.
                del part['Content-Type']
                part['Content-Type'] = '%s/%s; name="%s"' % (maintype, subtype, a['type_name'])
                part['Content-Disposition'] = 'attachment; filename="%s"' % a['filename']
    out = msg.as_bytes(policy=policy.SMTP)
    for placeholder, raw in raw_headers:
        out = out.replace(placeholder.encode(), raw.encode())
    return out


if __name__ == '__main__':
    spec = json.load(sys.stdin)
    out = build_zip(spec) if sys.argv[1] == 'zip' else build_eml(spec)
    sys.stdout.buffer.write(out)
