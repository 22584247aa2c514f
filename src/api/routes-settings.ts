// The settings over HTTP: the whole document (read, validate, diff, apply),
// each section, the object lists (networks, users, groups, domains) and the
// revisions (list, read, diff, rollback). Every change goes through
// ConfigService.apply, the same path as the CLI: validated as a whole, the
// errors and warnings and the diff against the active revision in the
// answer, nothing changed on error (422), and the revision records who made
// it. Secrets are never sent out; a document sent back without them keeps
// the active ones.

import type { FastifyInstance, FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { ApplyResult } from '../admin/config-service.ts';
import type { Settings } from '../config/document.ts';
import { redactSecrets } from '../config/secrets.ts';
import type { ObjectKind } from '../config/references.ts';
import { HttpError, who, type ApiDeps } from './server.ts';

const Strict = { additionalProperties: false } as const;
const Comment = Type.Optional(Type.String({ maxLength: 500 }));

export const SECTIONS = ['hostname', 'listeners', 'tls', 'relaying', 'delivery', 'queue', 'dns', 'postmaster', 'antivirus', 'antispam', 'admin', 'limits'] as const;
type Section = (typeof SECTIONS)[number];

const Network = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    type: Type.Union([Type.Literal('host'), Type.Literal('network'), Type.Literal('range'), Type.Literal('group')]),
    address: Type.Optional(Type.String({ maxLength: 64 })),
    from: Type.Optional(Type.String({ maxLength: 64 })),
    to: Type.Optional(Type.String({ maxLength: 64 })),
    members: Type.Optional(Type.Array(Type.String({ maxLength: 128 }))),
    comment: Comment,
  },
  Strict,
);
const Group = Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }), comment: Comment }, Strict);
const Domain = Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }), route: Type.Object({ hosts: Type.Array(Type.String({ maxLength: 300 })) }, Strict) }, Strict);
const UserCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    groups: Type.Optional(Type.Array(Type.String({ maxLength: 128 }))),
    enabled: Type.Optional(Type.Boolean()),
    comment: Comment,
  },
  Strict,
);
const UserUpdate = Type.Object(
  {
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    groups: Type.Optional(Type.Array(Type.String({ maxLength: 128 }))),
    enabled: Type.Optional(Type.Boolean()),
    comment: Comment,
  },
  Strict,
);
/** The document (or a section) is checked by our own validator, which names every unknown key with its path. */
const AnyJson = Type.Unknown();
/** `revision`: the revision the change was made against; another one active → 409, so that two admins do not overwrite each other. */
const Revision = Type.Optional(Type.Integer({ minimum: 0 }));
const DocumentBody = Type.Object({ document: AnyJson, comment: Comment, revision: Revision }, Strict);
const SectionBody = Type.Object({ value: AnyJson, comment: Comment, revision: Revision }, Strict);
const Name = Type.Object({ name: Type.String() }, Strict);

type Collection = 'networks' | 'users' | 'groups' | 'domains';
const KIND: Record<Collection, ObjectKind | null> = { networks: 'network', users: 'user', groups: 'group', domains: null };
const SCHEMA = { networks: Network, groups: Group, domains: Domain };

function answer(reply: FastifyReply, r: ApplyResult): FastifyReply {
  return reply.code(r.ok ? 200 : 422).send(r);
}

export function registerSettingsRoutes(api: FastifyInstance, deps: ApiDeps): void {
  const { service } = deps;
  const unchangedSince = (revision: number | undefined) => {
    const active = service.activeRevision() ?? 0;
    if (revision !== undefined && revision !== active) throw new HttpError(409, `the settings changed since revision ${revision} (now ${active}): reload and apply again`);
  };
  const meta = (req: Parameters<typeof who>[0], comment: string | undefined, what: string) => ({ author: who(req).author, comment: comment ?? `${what} (web admin/API)` });
  /** The active document with its secrets, for an edit. */
  const current = (): Settings => structuredClone(service.export({ withSecrets: true }));

  api.get('/api/settings', { schema: { tags: ['settings'] } }, async () => ({ revision: service.activeRevision(), document: service.export() }));

  api.post('/api/settings/validate', { schema: { tags: ['settings'], body: DocumentBody } }, async (req) => {
    const { document } = req.body as { document: unknown };
    return service.check(document);
  });

  api.post('/api/settings/diff', { schema: { tags: ['settings'], body: DocumentBody } }, async (req) => {
    const { document } = req.body as { document: unknown };
    const r = service.check(document);
    return { ok: r.ok, changes: r.changes };
  });

  api.put('/api/settings', { schema: { tags: ['settings'], body: DocumentBody } }, async (req, reply) => {
    const { document, comment, revision } = req.body as { document: unknown; comment?: string; revision?: number };
    unchangedSince(revision);
    return answer(reply, service.apply(document, meta(req, comment, 'whole document')));
  });

  api.get('/api/settings/:section', { schema: { tags: ['settings'], params: Type.Object({ section: Type.Union(SECTIONS.map((s) => Type.Literal(s))) }) } }, async (req) => {
    const { section } = req.params as { section: Section };
    return { revision: service.activeRevision(), value: service.export()[section] };
  });

  api.put(
    '/api/settings/:section',
    { schema: { tags: ['settings'], params: Type.Object({ section: Type.Union(SECTIONS.map((s) => Type.Literal(s))) }), body: SectionBody } },
    async (req, reply) => {
      const { section } = req.params as { section: Section };
      const { value, comment, revision } = req.body as { value: unknown; comment?: string; revision?: number };
      unchangedSince(revision);
      const doc = current() as unknown as Record<string, unknown>;
      doc[section] = value;
      return answer(reply, service.apply(doc, meta(req, comment, `section ${section}`)));
    },
  );

  // --- object lists ------------------------------------------------------------
  const lists: Collection[] = ['networks', 'users', 'groups', 'domains'];
  for (const list of lists) {
    const find = (s: Settings, name: string) => (s[list] as { name: string }[]).findIndex((o) => o.name === name);
    const shown = (): { name: string }[] => (list === 'users' ? service.listUsers() : (redactSecrets(service.settings())[list] as { name: string }[]));

    api.get(`/api/${list}`, { schema: { tags: ['objects'] } }, async () => shown());

    api.get(`/api/${list}/:name`, { schema: { tags: ['objects'], params: Name } }, async (req) => {
      const { name } = req.params as { name: string };
      const o = shown().find((x) => x.name === name);
      if (!o) throw new HttpError(404, `no ${list.slice(0, -1)} "${name}"`);
      return o;
    });

    api.post(`/api/${list}`, { schema: { tags: ['objects'], body: list === 'users' ? UserCreate : SCHEMA[list], querystring: Type.Object({ comment: Comment }, Strict) } }, async (req, reply) => {
      const body = req.body as { name: string } & Record<string, unknown>;
      const s = current();
      if (find(s, body.name) >= 0) throw new HttpError(409, `${list.slice(0, -1)} "${body.name}" already exists`);
      const obj = list === 'users' ? { groups: [], enabled: true, ...body } : body;
      (s[list] as unknown[]).push(obj);
      const r = service.apply(s, meta(req, (req.query as { comment?: string }).comment, `add ${list.slice(0, -1)} ${body.name}`));
      return r.ok ? reply.code(201).send(r) : answer(reply, r);
    });

    api.put(`/api/${list}/:name`, { schema: { tags: ['objects'], params: Name, body: list === 'users' ? UserUpdate : SCHEMA[list] } }, async (req, reply) => {
      const { name } = req.params as { name: string };
      const body = req.body as Record<string, unknown>;
      const s = current();
      const i = find(s, name);
      if (i < 0) throw new HttpError(404, `no ${list.slice(0, -1)} "${name}"`);
      const items = s[list] as unknown as Record<string, unknown>[];
      if (list === 'users') {
        const u = { ...items[i], ...body };
        // A new password replaces the hash; without one the hash stays.
        if (body.password !== undefined) delete u.password_hash;
        items[i] = u;
      } else {
        if (body.name !== name) throw new HttpError(400, `the name in the body ("${String(body.name)}") must be the one in the address ("${name}")`);
        items[i] = body;
      }
      return answer(reply, service.apply(s, meta(req, undefined, `change ${list.slice(0, -1)} ${name}`)));
    });

    api.delete(`/api/${list}/:name`, { schema: { tags: ['objects'], params: Name } }, async (req, reply) => {
      const { name } = req.params as { name: string };
      const kind = KIND[list];
      if (kind) return answer(reply, service.removeObject(kind, name, meta(req, undefined, `remove ${kind} ${name}`)));
      const s = current();
      const i = find(s, name);
      if (i < 0) throw new HttpError(404, `no ${list.slice(0, -1)} "${name}"`);
      (s[list] as unknown[]).splice(i, 1);
      return answer(reply, service.apply(s, meta(req, undefined, `remove ${list.slice(0, -1)} ${name}`)));
    });
  }

  // --- revisions -----------------------------------------------------------------
  const Num = Type.Object({ n: Type.String({ pattern: '^[1-9][0-9]{0,9}$' }) }, Strict);
  api.get('/api/revisions', { schema: { tags: ['revisions'] } }, async () => ({ active: service.activeRevision(), revisions: service.history() }));
  api.get('/api/revisions/:n', { schema: { tags: ['revisions'], params: Num } }, async (req) => {
    const n = Number((req.params as { n: string }).n);
    return { number: n, document: service.export({ revision: n }) };
  });
  api.get('/api/revisions/:n/diff/:m', { schema: { tags: ['revisions'], params: Type.Object({ n: Num.properties.n, m: Num.properties.n }, Strict) } }, async (req) => {
    const { n, m } = req.params as { n: string; m: string };
    return { from: Number(n), to: Number(m), changes: service.diff(Number(n), Number(m)) };
  });
  // The body is optional ({comment?}); fastify cannot make a whole body optional in a schema, so it is checked here.
  api.post('/api/revisions/:n/rollback', { schema: { tags: ['revisions'], params: Num } }, async (req, reply) => {
    const n = Number((req.params as { n: string }).n);
    const body = req.body as unknown;
    if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body) || Object.keys(body).some((k) => k !== 'comment') || ('comment' in body && typeof (body as { comment: unknown }).comment !== 'string'))) {
      throw new HttpError(400, 'body: only an optional "comment" (a string) is allowed');
    }
    const comment = (body as { comment?: string } | undefined)?.comment;
    return answer(reply, service.rollback(n, { author: who(req).author, comment: comment ?? `rollback to revision ${n} (web admin/API)` }));
  });
}
