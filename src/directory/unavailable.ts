// The error of a directory that did not answer, or answered with something
// other than an answer (a refused service account, a missing base DN): the
// session says 454, never "unknown user". In a module of its own so that
// the CLI can recognise it without loading the LDAP client.

/** A directory that did not answer, or answered with something other than an answer (the session says 454, never "unknown user"). */
export class DirectoryUnavailable extends Error {
  readonly directory: string;
  constructor(directory: string, reason: string, options?: { cause?: unknown }) {
    super(`directory "${directory}": ${reason}`, options);
    this.name = 'DirectoryUnavailable';
    this.directory = directory;
  }
  /** The reason alone, without the directory's name. */
  get reason(): string {
    return this.message.slice(`directory "${this.directory}": `.length);
  }
}
