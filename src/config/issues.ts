// Validation findings. Errors block an apply; warnings are shown and do not.
// Each names the path in the settings document it is about, so an admin can
// find it: `relaying.allowed_hosts[1]: unknown network object "ofice"`.

export interface Finding {
  readonly path: string;
  readonly message: string;
}

export function formatFinding(f: Finding): string {
  return f.path ? `${f.path}: ${f.message}` : f.message;
}

export class Findings {
  readonly errors: Finding[] = [];
  readonly warnings: Finding[] = [];

  error(path: string, message: string): void {
    this.errors.push({ path, message });
  }

  warn(path: string, message: string): void {
    this.warnings.push({ path, message });
  }
}

/** Path of an element: at("relaying.allowed_hosts", 1) → "relaying.allowed_hosts[1]". */
export function at(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}
