// Quoted-printable decoding for the tests that check what a next hop got
// (written here, not taken from the code under test, so that both cannot be
// wrong the same way).

export /** RFC 2045 6.7 decoding; line breaks of the encoded text are CRLF. */
function qpDecode(s: string): Buffer {
  const soft = s.replace(/=\r\n/g, '');
  const out: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    if (soft[i] === '=') {
      out.push(parseInt(soft.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(soft.charCodeAt(i));
  }
  return Buffer.from(out);
}
