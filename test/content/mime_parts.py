# Reads messages with Python's email package (policy default), for the strip
# tests (test/content/strip.test.ts): `parts FILE...` prints, per file, every
# leaf part as JSON (type, file name, SHA-256 of its decoded bytes, and the
# text of text/plain parts without a file name); `build KIND` writes a message
# that Python's own generator composes.
import hashlib, json, sys
from email import message_from_bytes, policy
from email.message import EmailMessage


def leaves(path):
    with open(path, 'rb') as f:
        msg = message_from_bytes(f.read(), policy=policy.default)
    out = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        data = part.get_payload(decode=True) or b''
        entry = {'type': part.get_content_type(), 'filename': part.get_filename(), 'sha': hashlib.sha256(data).hexdigest(), 'size': len(data)}
        if part.get_content_type() == 'text/plain' and not part.get_filename():
            entry['text'] = data.decode('utf-8', 'replace')
        out.append(entry)
    return {'root': msg.get_content_type(), 'leaves': out, 'defects': sum(len(p.defects) for p in msg.walk())}


def build(kind):
    msg = EmailMessage()
    msg['From'] = 'Ana <ana@python.example>'
    msg['To'] = 'bo@dest.example'
    msg['Subject'] = 'built by python'
    if kind == 'mixed':
        msg.set_content('Grüße aus Köln\nzweite Zeile\n', cte='8bit')
        msg.add_attachment(b'MZ\x90\x00\x03' + bytes(range(256)) * 40, maintype='application', subtype='octet-stream', filename='setup.exe')
        msg.add_attachment('a text to keep\n', filename='notes.txt')
        msg.add_attachment(bytes(range(256)) * 8, maintype='image', subtype='png', filename='pic.png')
    elif kind == 'alternative':
        msg.set_content('plain body\n')
        msg.add_alternative('<p>html body</p>\n', subtype='html')
    elif kind == 'related':
        msg.set_content('plain\n')
        msg.add_alternative('<p><img src="cid:logo"></p>\n', subtype='html')
        msg.get_payload()[1].add_related(bytes(range(200)), maintype='image', subtype='png', cid='<logo>', filename='logo.png')
        msg.add_attachment(b'#!/bin/sh\necho hi\n', maintype='application', subtype='x-sh', filename='run.bat')
    sys.stdout.buffer.write(msg.as_bytes(policy=policy.SMTP))


if sys.argv[1] == 'parts':
    print(json.dumps([leaves(p) for p in sys.argv[2:]]))
else:
    build(sys.argv[2])
