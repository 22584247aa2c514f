// Entry point: mounts the app into #app. The user portal lives at #/portal
// (a link in the quarantine digest, and from the admin login page): its own
// shell, without the admin session or navigation.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { App } from './App.tsx';
import { PortalApp } from './portal/PortalApp.tsx';
import './styles.css';

const isPortal = (): boolean => /^#\/portal(\/|$)/.test(location.hash);

function Root() {
  const [portal, setPortal] = useState(isPortal());
  useEffect(() => {
    const update = () => setPortal(isPortal());
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return portal ? <PortalApp /> : <App />;
}

const root = document.getElementById('app');
if (root) render(<Root />, root);
