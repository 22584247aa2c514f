// The app shell: checks the session (GET /api/me), shows the login page on
// 401, else the header, the nav (collapsible on small screens) and the page
// for the current path.

import { useEffect, useRef, useState } from 'preact/hooks';
import { get, post, setCsrf, setUnauthorizedHandler } from './api.ts';
import { PAGES, pageFor } from './pages.ts';
import { Login } from './pages/Login.tsx';
import { linkClick, navigate, useRoute } from './router.ts';
import { SessionContext } from './session.ts';
import { UnsavedChangesPrompt } from './components/UnsavedChangesPrompt.tsx';
import type { Me } from './types.ts';

export function App() {
  // undefined: still asking the server; null: not logged in.
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [menuOpen, setMenuOpen] = useState(false);
  const path = useRoute();
  const main = useRef<HTMLElement>(null);
  const page = pageFor(path);

  useEffect(() => {
    setUnauthorizedHandler(() => {
      setCsrf(null);
      setMe(null);
    });
    get<Me>('/api/me')
      .then((m) => {
        setCsrf(m.csrf);
        setMe(m);
      })
      .catch(() => setMe(null));
  }, []);

  useEffect(() => {
    document.title = `${page?.title ?? 'Not found'} · mailwarden admin`;
    setMenuOpen(false);
    // Tell screen readers the page changed: focus the main region.
    main.current?.focus({ preventScroll: true });
  }, [path]);

  if (me === undefined) return <p class="loading boot">Loading…</p>;
  if (me === null)
    return (
      <Login
        onLoggedIn={(m) => {
          setCsrf(m.csrf);
          setMe(m);
        }}
      />
    );

  const logout = async () => {
    try {
      await post('/api/logout');
    } catch {
      // Logged out either way.
    }
    setCsrf(null);
    setMe(null);
  };

  const groups = [...new Set(PAGES.map((p) => p.group))];
  const Current = page?.component;
  return (
    <SessionContext.Provider value={me}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <button type="button" class="menu-button" aria-expanded={menuOpen} aria-controls="nav" onClick={() => setMenuOpen(!menuOpen)}>
          <span aria-hidden="true">☰</span> Menu
        </button>
        <a class="brand" href="/" onClick={(e) => linkClick(e, '/')}>
          mailwarden <span>admin</span>
        </a>
        <div class="who">
          <span data-testid="whoami">
            {me.name} <span class={`role role-${me.role}`}>{me.role === 'viewer' ? 'viewer (read only)' : me.role}</span>
          </span>
          {me.via !== 'token' && (
            <a href="/account" class="link-button" data-testid="my-account" onClick={(e) => linkClick(e, '/account')}>
              My account
            </a>
          )}
          {me.via !== 'token' && (
            <button type="button" class="link-button" onClick={() => void logout()}>
              Log out
            </button>
          )}
        </div>
      </header>
      <div class="layout">
        <nav id="nav" class={menuOpen ? 'open' : ''} aria-label="Main">
          {groups.map((g) => (
            <div key={g} class="nav-group">
              <p class="nav-title">{g}</p>
              <ul>
                {PAGES.filter((p) => p.group === g).map((p) => (
                  <li key={p.id}>
                    <a href={p.path} data-testid={`nav-${p.id}`} aria-current={page?.id === p.id ? 'page' : undefined} onClick={(e) => linkClick(e, p.path)}>
                      {p.title}
                    </a>
                  </li>
                ))}
              </ul>
            </div>
          ))}
        </nav>
        <main id="main" ref={main} tabIndex={-1}>
          {Current ? (
            <Current />
          ) : (
            <section>
              <h1>Not found</h1>
              <p>
                There is no page at <code>{path}</code>.{' '}
                <button type="button" class="link-button" onClick={() => navigate('/')}>
                  Go to the dashboard
                </button>
              </p>
            </section>
          )}
        </main>
      </div>
      <UnsavedChangesPrompt />
    </SessionContext.Provider>
  );
}
