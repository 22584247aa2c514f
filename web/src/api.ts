// The admin REST API client: JSON over fetch on the same origin, the session
// cookie riding along, and the CSRF token (from login or GET /api/me, kept
// in memory only) on every change. A 401 anywhere sends the UI back to the
// login page; changes of settings come back as an ApplyResult, whatever the
// status, so that pages can show errors, warnings and the diff in one place.

import type { ApplyResult, Finding } from './types.ts';

let csrf: string | null = null;
let onUnauthorized: () => void = () => {};

export function setCsrf(token: string | null): void {
  csrf = token;
}

export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

/** A non-2xx answer: the status and the server's message. */
export class ApiError extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, message: string, body: unknown) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

async function send(method: Method, path: string, body?: unknown): Promise<{ status: number; data: unknown }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  // Logging in answers 401 for a wrong password: that is the form's business.
  if (res.status === 401 && path !== '/api/login') onUnauthorized();
  return { status: res.status, data };
}

export function messageOf(data: unknown, status: number): string {
  if (data && typeof data === 'object') {
    const m = (data as { message?: unknown }).message;
    if (typeof m === 'string' && m) return m;
  }
  return `HTTP ${status}`;
}

/** A call whose 2xx answer is the data; anything else throws ApiError. */
export async function call<T>(method: Method, path: string, body?: unknown): Promise<T> {
  const { status, data } = await send(method, path, body);
  if (status < 200 || status >= 300) throw new ApiError(status, messageOf(data, status), data);
  return data as T;
}

/** POSTs a file as it is (the content rules' test upload); a non-2xx answer throws ApiError. */
export async function postRaw<T>(path: string, body: Blob, type = 'message/rfc822'): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', 'content-type': type };
  if (csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(path, { method: 'POST', headers, credentials: 'same-origin', body });
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  if (res.status === 401) onUnauthorized();
  if (res.status < 200 || res.status >= 300) throw new ApiError(res.status, messageOf(data, res.status), data);
  return data as T;
}

export const get = <T>(path: string): Promise<T> => call<T>('GET', path);
export const post = <T>(path: string, body?: unknown): Promise<T> => call<T>('POST', path, body ?? {});
export const put = <T>(path: string, body: unknown): Promise<T> => call<T>('PUT', path, body);
export const del = <T>(path: string): Promise<T> => call<T>('DELETE', path);

function isApplyResult(v: unknown): v is ApplyResult {
  return !!v && typeof v === 'object' && typeof (v as ApplyResult).ok === 'boolean' && Array.isArray((v as ApplyResult).errors);
}

/** A refusal that is not an ApplyResult (400, 403, 404, 409, a ServiceError) in the same form. */
function refusal(status: number, data: unknown): ApplyResult {
  const errors: Finding[] = [];
  const list = data && typeof data === 'object' ? (data as { errors?: unknown }).errors : undefined;
  if (Array.isArray(list)) {
    for (const e of list) {
      if (typeof e === 'string') errors.push({ path: '', message: e });
      else if (e && typeof e === 'object') errors.push({ path: String((e as Finding).path ?? ''), message: String((e as Finding).message ?? '') });
    }
  }
  const message = messageOf(data, status);
  if (!errors.some((e) => e.message === message)) errors.unshift({ path: '', message });
  return { ok: false, errors, warnings: [], changes: [], revision: null };
}

/** A change of settings: always an ApplyResult (a network failure too). */
export async function apply(method: Method, path: string, body?: unknown): Promise<ApplyResult> {
  try {
    const { status, data } = await send(method, path, body ?? (method === 'POST' ? {} : undefined));
    if (isApplyResult(data)) return data;
    if (status >= 200 && status < 300) return { ok: true, errors: [], warnings: [], changes: [], revision: null };
    return refusal(status, data);
  } catch (err) {
    return { ok: false, errors: [{ path: '', message: `no answer from the server: ${(err as Error).message}` }], warnings: [], changes: [], revision: null };
  }
}

/** Encodes one path segment (object names may hold dots, @ and the like). */
export const seg = (s: string): string => encodeURIComponent(s);
