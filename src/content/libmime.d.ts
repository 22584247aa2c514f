// The part of libmime (no types of its own) that the content rules use.
declare module 'libmime' {
  interface Libmime {
    decodeWords(str: string): string;
    parseHeaderValue(str: string): { value: string; params: Record<string, string> };
  }
  const libmime: Libmime;
  export default libmime;
}
