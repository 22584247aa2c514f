// The directories (LDAP, Active Directory) over HTTP: list, read, add,
// change and remove one, each a settings revision through ConfigService like
// every other change (validated as a whole, 422 with the errors, 409 when
// another change landed first); and "test connection", which binds, finds a
// user and lists the user's groups with the filters actually sent. The bind
// password is write-only: never sent out (`has_bind_password` says whether
// one is set), kept on a change that leaves it out for the same url and
// bind_dn, and used by a test of the saved directory or of an edit of it.

import type { FastifyInstance, FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { ApplyResult } from '../admin/config-service.ts';
import type { DirectoryDef } from '../config/document.ts';
import { carrySecrets } from '../config/secrets.ts';
import { validate } from '../config/validate.ts';
import { HttpError, who, type ApiDeps } from './server.ts';
import type { WorkLimiter } from './work-limit.ts';

const Strict = { additionalProperties: false } as const;
const Text = (max: number) => Type.Optional(Type.String({ maxLength: max }));

const Directory = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64 }),
    type: Type.Optional(Type.Literal('ldap')),
    url: Type.String({ maxLength: 1024 }),
    bind_dn: Text(1024),
    bind_password: Text(1024),
    base_dn: Type.String({ maxLength: 1024 }),
    user_filter: Text(2048),
    group_filter: Text(2048),
    group_member_attribute: Text(128),
    nested_group_depth: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
    mail_attributes: Type.Optional(Type.Array(Type.String({ maxLength: 128 }), { maxItems: 32 })),
    tls: Type.Optional(Type.Union([Type.Literal('starttls'), Type.Literal('ldaps'), Type.Literal('none')])),
    plaintext_acknowledged: Type.Optional(Type.Boolean()),
    ca: Text(4096),
    timeout: Text(32),
    cache: Text(32),
    comment: Text(1024),
  },
  Strict,
);
const Name = Type.Object({ name: Type.String({ maxLength: 64 }) }, Strict);
const Revision = Type.Object({ revision: Type.Optional(Type.Integer({ minimum: 0 })), comment: Text(500) }, Strict);
const TestBody = Type.Object(
  {
    /** A directory as it is being edited (a missing bind_password is the saved one's, for the same url and bind_dn)… */
    directory: Type.Optional(Directory),
    /** …or the name of a saved one. */
    name: Type.Optional(Type.String({ maxLength: 64 })),
    /** A login to look up: its entry, groups and addresses. */
    login: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
  Strict,
);

type Shown = Omit<DirectoryDef, 'bind_password'> & { has_bind_password: boolean };

function shown(d: DirectoryDef): Shown {
  const { bind_password, ...rest } = d;
  return { ...rest, has_bind_password: bind_password !== undefined };
}

function answer(reply: FastifyReply, r: ApplyResult, created = false): FastifyReply {
  return reply.code(r.ok ? (created ? 201 : 200) : 422).send(r);
}

export function registerDirectoryRoutes(api: FastifyInstance, deps: ApiDeps, limiter: WorkLimiter): void {
  const { service } = deps;
  const meta = (req: Parameters<typeof who>[0], comment: string | undefined, what: string) => ({ author: who(req).author, comment: comment ?? `${what} (web admin/API)` });
  const work = <T>(req: Parameters<typeof who>[0], fn: () => Promise<T>): Promise<T> => limiter.run(who(req).name, fn);

  /** The list to change, with the secrets, and the revision it was read at (a change made meanwhile is then a 409). */
  const current = async (): Promise<{ list: DirectoryDef[]; revision: number }> => {
    const revision = await service.activeRevision();
    return { list: structuredClone((await service.settings()).directories), revision: revision ?? 0 };
  };
  const changeList = (req: Parameters<typeof who>[0], what: string, revision: number | undefined, comment: string | undefined, edit: (list: DirectoryDef[]) => DirectoryDef[]) =>
    work(req, async () => {
      const c = await current();
      return service.applySection('directories', edit(c.list), meta(req, comment, what), { revision: revision ?? c.revision });
    });

  api.get('/api/directories', { schema: { tags: ['directories'] } }, async () => (await service.settings()).directories.map(shown));

  api.get('/api/directories/:name', { schema: { tags: ['directories'], params: Name } }, async (req) => {
    const { name } = req.params as { name: string };
    const d = (await service.settings()).directories.find((x) => x.name === name);
    if (!d) throw new HttpError(404, `no directory "${name}"`);
    return shown(d);
  });

  api.post('/api/directories', { schema: { tags: ['directories'], body: Directory, querystring: Revision } }, async (req, reply) => {
    const body = req.body as DirectoryDef;
    const q = req.query as { revision?: number; comment?: string };
    const r = await changeList(req, `add directory ${body.name}`, q.revision, q.comment, (list) => {
      if (list.some((d) => d.name === body.name)) throw new HttpError(409, `directory "${body.name}" already exists`);
      return [...list, body];
    });
    return answer(reply, r, true);
  });

  api.put('/api/directories/:name', { schema: { tags: ['directories'], params: Name, body: Directory, querystring: Revision } }, async (req, reply) => {
    const { name } = req.params as { name: string };
    const body = req.body as DirectoryDef;
    const q = req.query as { revision?: number; comment?: string };
    if (body.name !== name) throw new HttpError(400, `the name in the body ("${body.name}") must be the one in the address ("${name}"); renaming is remove and add`);
    const r = await changeList(req, `change directory ${name}`, q.revision, q.comment, (list) => {
      const i = list.findIndex((d) => d.name === name);
      if (i < 0) throw new HttpError(404, `no directory "${name}"`);
      // Without bind_password, the saved one is kept if url and bind_dn are unchanged (carrySecrets, at validation).
      list[i] = body;
      return list;
    });
    return answer(reply, r);
  });

  api.delete('/api/directories/:name', { schema: { tags: ['directories'], params: Name, querystring: Revision } }, async (req, reply) => {
    const { name } = req.params as { name: string };
    const q = req.query as { revision?: number; comment?: string };
    const r = await changeList(req, `remove directory ${name}`, q.revision, q.comment, (list) => {
      if (!list.some((d) => d.name === name)) throw new HttpError(404, `no directory "${name}"`);
      return list.filter((d) => d.name !== name);
    });
    return answer(reply, r);
  });

  // Connects to the host the body names: admins only (as every POST not listed as asking), a few at a time per account.
  api.post('/api/directories/test', { schema: { tags: ['directories'], body: TestBody } }, async (req) => {
    const b = req.body as { directory?: DirectoryDef; name?: string; login?: string };
    if ((b.directory === undefined) === (b.name === undefined)) throw new HttpError(400, 'give either directory (a definition) or name (a saved directory)');
    return work(req, async () => {
      const saved = await service.settings();
      let def: DirectoryDef;
      if (b.name !== undefined) {
        const d = saved.directories.find((x) => x.name === b.name);
        if (!d) throw new HttpError(404, `no directory "${b.name}"`);
        def = d;
      } else {
        // The definition as the settings would read it: defaults filled in, the saved password carried, the same rules.
        const raw = carrySecrets({ directories: [b.directory] }, saved);
        const v = validate({ hostname: 'localhost', listeners: [], ...(raw as object) });
        const errors = v.errors.filter((e) => e.path.startsWith('directories')).map((e) => ({ path: e.path.replace(/^directories\[0\]\.?/, ''), message: e.message }));
        if (errors.length > 0) throw Object.assign(new HttpError(422, errors.map((e) => `${e.path || 'directory'}: ${e.message}`).join('; ')), { errors });
        def = v.settings.directories[0] as DirectoryDef;
      }
      const { testDirectory } = await import('../directory/directory-test.ts');
      return testDirectory(def, b.login ?? null);
    });
  });
}
