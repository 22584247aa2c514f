// The settings over HTTP: the whole document (read, validate, diff, apply),
// each section, the object lists (networks, users, groups, domains) and the
// revisions (list, read, diff, rollback). Every change is one ConfigService
// method, the same the CLI calls: validated as a whole (in the checker's
// thread, a few at a time per account, the document at most 512 KiB), the
// errors and warnings and the diff against the active revision in the
// answer, nothing changed on error (422), and the revision records who made
// it. Secrets are never sent out; a document sent back without them keeps
// the active ones.

import type { FastifyInstance, FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { ApplyResult, NewUser, ObjectList, UserChange } from '../admin/config-service.ts';
import type { NetworkDef } from '../config/document.ts';
import { redactSecrets } from '../config/secrets.ts';
import { secretChanges } from '../config/diff.ts';
import { HttpError, who, type ApiDeps } from './server.ts';
import type { WorkLimiter } from './work-limit.ts';

const Strict = { additionalProperties: false } as const;
const Comment = Type.Optional(Type.String({ maxLength: 500 }));

export const SECTIONS = ['hostname', 'listeners', 'tls', 'relaying', 'delivery', 'queue', 'dns', 'postmaster', 'antivirus', 'antispam', 'admin', 'limits', 'dkim', 'tracking', 'metrics', 'content', 'quarantine'] as const;
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
// A domain's recipient verification (issue #18); the settings validator checks the values.
const DomainVerification = {
  verify_recipients: Type.Optional(Type.Union([Type.Literal('off'), Type.Literal('list'), Type.Literal('directory'), Type.Literal('callout')])),
  recipients: Type.Optional(Type.Array(Type.String({ maxLength: 320 }))),
  directory: Type.Optional(Type.String({ maxLength: 128 })),
  callout: Type.Optional(Type.Object({ timeout: Type.Optional(Type.String({ maxLength: 32 })), cache_positive: Type.Optional(Type.String({ maxLength: 32 })), cache_negative: Type.Optional(Type.String({ maxLength: 32 })), sender: Type.Optional(Type.String({ maxLength: 320 })) }, Strict)),
};
const Domain = Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }), route: Type.Object({ hosts: Type.Array(Type.String({ maxLength: 300 })) }, Strict), ...DomainVerification }, Strict);
const UserCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    groups: Type.Optional(Type.Array(Type.String({ maxLength: 128 }))),
    enabled: Type.Optional(Type.Boolean()),
    // relaying.sender_login: the addresses the user may send as (validated with the whole document).
    addresses: Type.Optional(Type.Array(Type.String({ maxLength: 320 }), { maxItems: 1000 })),
    comment: Comment,
  },
  Strict,
);
const UserUpdate = Type.Object(
  {
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    groups: Type.Optional(Type.Array(Type.String({ maxLength: 128 }))),
    enabled: Type.Optional(Type.Boolean()),
    // relaying.sender_login: the addresses the user may send as (validated with the whole document).
    addresses: Type.Optional(Type.Array(Type.String({ maxLength: 320 }), { maxItems: 1000 })),
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

type Collection = ObjectList;
const SCHEMA = { networks: Network, groups: Group, domains: Domain };

/**
 * The largest settings document the API takes. A real one is a few KB to a
 * few hundred KB; the work to check one grows with its size, and even in the
 * checker's thread a bigger one only keeps other admins waiting.
 */
export const DOCUMENT_BODY_LIMIT = 512 * 1024;

function answer(reply: FastifyReply, r: ApplyResult): FastifyReply {
  return reply.code(r.ok ? 200 : 422).send(r);
}

export function registerSettingsRoutes(api: FastifyInstance, deps: ApiDeps, limiter: WorkLimiter): void {
  const { service } = deps;
  const meta = (req: Parameters<typeof who>[0], comment: string | undefined, what: string) => ({ author: who(req).author, comment: comment ?? `${what} (web admin/API)` });
  /** Settings work, at most a few at a time per account (429 beyond). */
  const work = <T>(req: Parameters<typeof who>[0], fn: () => Promise<T>): Promise<T> => limiter.run(who(req).name, fn);
  const documentRoute = { bodyLimit: DOCUMENT_BODY_LIMIT };

  api.get('/api/settings', { schema: { tags: ['settings'] } }, async () => ({ revision: await service.activeRevision(), document: await service.export() }));

  // Validate and diff are open to viewers: their body is not even parsed on
  // the event loop. It goes to the checker's thread as the text it came as,
  // and the answer comes back as JSON text (a change per object of a large
  // document is not rebuilt here either).
  void api.register(async (asking) => {
    asking.removeAllContentTypeParsers();
    asking.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: DOCUMENT_BODY_LIMIT }, (_req, body, done) => done(null, body));
    for (const [path, view] of [['/api/settings/validate', 'all'], ['/api/settings/diff', 'diff']] as const) {
      asking.post(path, { ...documentRoute, schema: { tags: ['settings'], description: 'body: {document, comment?, revision?} (as PUT /api/settings)' } }, async (req, reply) => {
        const r = await work(req, () => service.checkBodyText(typeof req.body === 'string' ? req.body : '', view));
        if (!r.ok) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: r.errors.join('; '), errors: r.errors });
        return reply.type('application/json; charset=utf-8').send(r.json);
      });
    }
  });

  api.put('/api/settings', { ...documentRoute, schema: { tags: ['settings'], body: DocumentBody } }, async (req, reply) => {
    const { document, comment, revision } = req.body as { document: unknown; comment?: string; revision?: number };
    return answer(reply, await work(req, () => service.applyDocument(document, meta(req, comment, 'whole document'), { revision })));
  });

  api.get('/api/settings/:section', { schema: { tags: ['settings'], params: Type.Object({ section: Type.Union(SECTIONS.map((s) => Type.Literal(s))) }) } }, async (req) => {
    const { section } = req.params as { section: Section };
    return { revision: await service.activeRevision(), value: (await service.export())[section] };
  });

  api.put(
    '/api/settings/:section',
    { ...documentRoute, schema: { tags: ['settings'], params: Type.Object({ section: Type.Union(SECTIONS.map((s) => Type.Literal(s))) }), body: SectionBody } },
    async (req, reply) => {
      const { section } = req.params as { section: Section };
      const { value, comment, revision } = req.body as { value: unknown; comment?: string; revision?: number };
      const r = await work(req, () => service.applySection(section, value, meta(req, comment, `section ${section}`), { revision }));
      return answer(reply, r);
    },
  );

  // --- object lists ------------------------------------------------------------
  const lists: Collection[] = ['networks', 'users', 'groups', 'domains'];
  for (const list of lists) {
    const shown = async (): Promise<{ name: string }[]> => (list === 'users' ? service.listUsers() : (redactSecrets(await service.settings())[list] as { name: string }[]));
    const one = list.slice(0, -1);

    api.get(`/api/${list}`, { schema: { tags: ['objects'] } }, async () => await shown());

    api.get(`/api/${list}/:name`, { schema: { tags: ['objects'], params: Name } }, async (req) => {
      const { name } = req.params as { name: string };
      const o = (await shown()).find((x) => x.name === name);
      if (!o) throw new HttpError(404, `no ${one} "${name}"`);
      return o;
    });

    api.post(`/api/${list}`, { schema: { tags: ['objects'], body: list === 'users' ? UserCreate : SCHEMA[list], querystring: Type.Object({ comment: Comment }, Strict) } }, async (req, reply) => {
      const body = req.body as { name: string } & Record<string, unknown>;
      const m = meta(req, (req.query as { comment?: string }).comment, `add ${one} ${body.name}`);
      const r = await work(req, () => (list === 'users' ? service.addUser(body as unknown as NewUser, m) : service.addObject(list, body as unknown as NetworkDef, m)));
      return r.ok ? reply.code(201).send(r) : answer(reply, r);
    });

    api.put(`/api/${list}/:name`, { schema: { tags: ['objects'], params: Name, body: list === 'users' ? UserUpdate : SCHEMA[list] } }, async (req, reply) => {
      const { name } = req.params as { name: string };
      const body = req.body as Record<string, unknown>;
      if (list !== 'users' && body.name !== name) throw new HttpError(400, `the name in the body ("${String(body.name)}") must be the one in the address ("${name}")`);
      const m = meta(req, undefined, `change ${one} ${name}`);
      const r = await work(req, () => (list === 'users' ? service.updateUser(name, body as UserChange, m) : service.replaceObject(list, name, body as unknown as NetworkDef, m)));
      return answer(reply, r);
    });

    api.delete(`/api/${list}/:name`, { schema: { tags: ['objects'], params: Name } }, async (req, reply) => {
      const { name } = req.params as { name: string };
      return answer(reply, await work(req, () => service.removeObject(list, name, meta(req, undefined, `remove ${one} ${name}`))));
    });
  }

  // --- revisions -----------------------------------------------------------------
  const Num = Type.Object({ n: Type.String({ pattern: '^[1-9][0-9]{0,9}$' }) }, Strict);
  api.get('/api/revisions', { schema: { tags: ['revisions'] } }, async () => ({ active: await service.activeRevision(), revisions: await service.history() }));
  api.get('/api/revisions/:n', { schema: { tags: ['revisions'], params: Num } }, async (req) => {
    const n = Number((req.params as { n: string }).n);
    return { number: n, document: await service.export({ revision: n }) };
  });
  api.get('/api/revisions/:n/diff/:m', { schema: { tags: ['revisions'], params: Type.Object({ n: Num.properties.n, m: Num.properties.n }, Strict) } }, async (req) => {
    const { n, m } = req.params as { n: string; m: string };
    return { from: Number(n), to: Number(m), changes: await work(req, () => service.diff(Number(n), Number(m))) };
  });
  // What a rollback to n would do, before it is done: the same check the
  // rollback makes (validation, the diff against the active revision),
  // nothing applied; `secrets` names the passwords it would bring back
  // (paths only: the diff leaves secrets out). `active` is the revision it was made against: a
  // rollback confirmed with {revision: active} is refused (409) if another
  // change landed since, so what was previewed is what is applied.
  api.get('/api/revisions/:n/rollback', { schema: { tags: ['revisions'], params: Num } }, async (req) => {
    const n = Number((req.params as { n: string }).n);
    return work(req, async () => {
      const active = await service.activeRevision();
      const [current, document] = [await service.export({ withSecrets: true }), await service.export({ revision: n, withSecrets: true })];
      const r = await service.check(document);
      if ((await service.activeRevision()) !== active) throw new HttpError(409, 'the settings changed while the rollback was previewed: preview it again');
      return { revision: n, active, ok: r.ok, errors: r.errors, warnings: r.warnings, changes: r.changes, secrets: secretChanges(current, document) };
    });
  });
  // The body is optional ({comment?, revision?}); fastify cannot make a whole body optional in a schema, so it is checked here.
  api.post('/api/revisions/:n/rollback', { schema: { tags: ['revisions'], params: Num } }, async (req, reply) => {
    const n = Number((req.params as { n: string }).n);
    const b = rollbackBody(req.body);
    const m = { author: who(req).author, comment: b.comment ?? `rollback to revision ${n} (web admin/API)` };
    return answer(reply, await work(req, () => service.rollback(n, m, { revision: b.revision })));
  });
}

/** POST /api/revisions/:n/rollback's optional body: `{comment?, revision?}` (revision: the active one the rollback was previewed against). */
function rollbackBody(body: unknown): { comment?: string; revision?: number } {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'body: must be an object {comment?, revision?}');
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (k !== 'comment' && k !== 'revision') throw new HttpError(400, `body.${k}: unknown field (only "comment" and "revision" are allowed)`);
  if ('comment' in b && (typeof b.comment !== 'string' || b.comment.length > 500)) throw new HttpError(400, 'body.comment: must be a string of at most 500 characters');
  if ('revision' in b && (typeof b.revision !== 'number' || !Number.isInteger(b.revision) || b.revision < 0)) throw new HttpError(400, 'body.revision: must be a whole number >= 0');
  return { ...(typeof b.comment === 'string' ? { comment: b.comment } : {}), ...(typeof b.revision === 'number' ? { revision: b.revision } : {}) };
}
