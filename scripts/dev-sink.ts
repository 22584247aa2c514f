// `make sink`: a next hop to try the relay with. Listens on 127.0.0.1:2626
// (SINK_PORT to change), takes every message and prints its envelope and
// header section. Nothing is stored and nothing is forwarded.

import { SMTPServer } from 'smtp-server';

const port = Number(process.env.SINK_PORT ?? 2626);
const server = new SMTPServer({
  name: 'sink.localhost',
  banner: 'mailwarden dev sink',
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  disableReverseLookup: true,
  logger: false,
  size: 100 * 1024 * 1024,
  onData(stream, session, done) {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 64 * 1024) chunks.push(c);
    });
    stream.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const head = text.slice(0, Math.max(0, text.indexOf('\r\n\r\n')));
      const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      const to = session.envelope.rcptTo.map((r) => r.address).join(', ');
      process.stdout.write(`--- ${new Date().toISOString()} from <${from}> to ${to}, ${size} octets\n${head}\n\n`);
      done();
    });
  },
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`dev sink listening on 127.0.0.1:${port}; Ctrl-C stops it\n`));
