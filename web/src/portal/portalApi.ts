// The user portal's API client (/api/portal/*): JSON over fetch, the portal
// cookie (Path=/api/portal, HttpOnly) riding along, its CSRF token kept in
// memory only. Apart from the admin client (api.ts): a portal page never
// sends the admin's token and the admin pages never this one.

export interface PortalMe {
  name: string;
  directory: string | null;
  addresses: string[];
  csrf: string;
}

export interface PortalEntry {
  id: string;
  received_at: string;
  sender: string;
  subject: string | null;
  recipients: string[];
  rule: string;
  reason: string;
  category: 'malware' | 'spam' | 'content' | 'other';
  size: number;
  releasable: boolean;
}

export interface SenderLists {
  allow: string[];
  block: string[];
}

export class PortalError extends Error {
  readonly status: number;
  readonly errors: string[];
  constructor(status: number, message: string, errors: string[] = []) {
    super(message);
    this.status = status;
    this.errors = errors;
  }
}

let csrf: string | null = null;
let onSignedOut: () => void = () => {};

export function setPortalCsrf(token: string | null): void {
  csrf = token;
}

export function setSignedOutHandler(fn: () => void): void {
  onSignedOut = fn;
}

export async function portalCall<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data: { message?: string; errors?: string[] } | null = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  if (res.status === 401 && path !== '/api/portal/login') onSignedOut();
  if (res.status < 200 || res.status >= 300) throw new PortalError(res.status, data?.message || `HTTP ${res.status}`, Array.isArray(data?.errors) ? data.errors : []);
  return data as T;
}
