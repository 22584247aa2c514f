# Parses one message (a file) with Python's email package and prints JSON:
# the headers the digest test checks, the text and HTML parts, and every
# link in each. An independent reader of what mail-composer wrote.
import email, email.policy, json, re, sys

with open(sys.argv[1], 'rb') as f:
    msg = email.message_from_binary_file(f, policy=email.policy.default)
out = {'subject': str(msg['subject']), 'from': str(msg['from']), 'to': str(msg['to']), 'auto_submitted': str(msg['auto-submitted']), 'content_type': msg.get_content_type(), 'parts': {}}
for part in msg.walk():
    if part.is_multipart():
        continue
    ct = part.get_content_type()
    text = part.get_content()
    out['parts'][ct] = {'text': text, 'links': re.findall(r'https?://[^\s"<>]+', text)}
print(json.dumps(out))
