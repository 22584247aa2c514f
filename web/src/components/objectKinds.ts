// The kinds of object a field of names holds (network objects, users, user
// groups): what each is called on screen, where it is created, and the
// drag-and-drop type that carries one. Shared by the field, its "+" form and
// the side panel, which otherwise would import one another.

export type ObjectKind = 'network' | 'user' | 'group';

/** What a kind is called on screen, and where its objects are created. */
export const KIND_WORDS: Record<ObjectKind, { what: string; path: string }> = {
  network: { what: 'network object', path: '/api/networks' },
  user: { what: 'user', path: '/api/users' },
  group: { what: 'user group', path: '/api/groups' },
};

/** The dataTransfer type that says which kind of object is dragged. */
export const dragType = (kind: ObjectKind): string => `application/x-mailwarden-${kind}`;
