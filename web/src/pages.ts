// The pages of the app: path, nav label, the data-testid of the nav link
// (nav-<id>), and the nav group they are listed under.

import type { FunctionComponent } from 'preact';
import { Admins } from './pages/Admins.tsx';
import { Antispam } from './pages/Antispam.tsx';
import { Dashboard } from './pages/Dashboard.tsx';
import { DeliveryPage } from './pages/Delivery.tsx';
import { Domains } from './pages/Domains.tsx';
import { Explain } from './pages/Explain.tsx';
import { History } from './pages/History.tsx';
import { LiveLog } from './pages/LiveLog.tsx';
import { MailManager } from './pages/MailManager.tsx';
import { Tracking } from './pages/Tracking.tsx';
import { Malware } from './pages/Malware.tsx';
import { Networks } from './pages/Networks.tsx';
import { RelayingPage } from './pages/Relaying.tsx';
import { Users } from './pages/Users.tsx';
import { Directories } from './pages/Directories.tsx';
import { AccountPage } from './pages/Account.tsx';
import { LimitsPage } from './pages/Limits.tsx';
import { SystemPage } from './pages/System.tsx';
import { TlsPage } from './pages/TlsCertificate.tsx';
import { DkimPage } from './pages/Dkim.tsx';
import { ContentRulesPage } from './pages/ContentRules.tsx';
import { QuarantinePage } from './pages/Quarantine.tsx';

export interface Page {
  path: string;
  id: string;
  title: string;
  group: string;
  component: FunctionComponent;
}

export const PAGES: Page[] = [
  { path: '/', id: 'dashboard', title: 'Dashboard', group: 'Overview', component: Dashboard },
  { path: '/relaying', id: 'relaying', title: 'Relaying', group: 'Email protection', component: RelayingPage },
  { path: '/malware', id: 'malware', title: 'Malware', group: 'Email protection', component: Malware },
  { path: '/antispam', id: 'antispam', title: 'Antispam', group: 'Email protection', component: Antispam },
  { path: '/content', id: 'content', title: 'Content rules', group: 'Email protection', component: ContentRulesPage },
  { path: '/delivery', id: 'delivery', title: 'Delivery', group: 'Email protection', component: DeliveryPage },
  { path: '/domains', id: 'domains', title: 'Domains & Routing', group: 'Email protection', component: Domains },
  { path: '/dkim', id: 'dkim', title: 'DKIM', group: 'Email protection', component: DkimPage },
  { path: '/quarantine', id: 'quarantine', title: 'Quarantine', group: 'Email protection', component: QuarantinePage },
  { path: '/networks', id: 'networks', title: 'Network Definitions', group: 'Definitions & users', component: Networks },
  { path: '/users', id: 'users', title: 'Users & Groups', group: 'Definitions & users', component: Users },
  { path: '/directories', id: 'directories', title: 'Directories', group: 'Definitions & users', component: Directories },
  { path: '/mail', id: 'mail', title: 'Mail Manager', group: 'Mail', component: MailManager },
  { path: '/tracking', id: 'tracking', title: 'Tracking', group: 'Mail', component: Tracking },
  { path: '/log', id: 'log', title: 'Live Log', group: 'Mail', component: LiveLog },
  { path: '/history', id: 'history', title: 'History', group: 'System', component: History },
  { path: '/explain', id: 'explain', title: 'Explain', group: 'System', component: Explain },
  { path: '/admins', id: 'admins', title: 'Admins', group: 'System', component: Admins },
  { path: '/system', id: 'system', title: 'Host name & Listeners', group: 'System', component: SystemPage },
  { path: '/tls', id: 'tls', title: 'TLS certificate', group: 'System', component: TlsPage },
  { path: '/limits', id: 'limits', title: 'Limits', group: 'System', component: LimitsPage },
  { path: '/account', id: 'account', title: 'My account', group: 'System', component: AccountPage },
];

export function pageFor(path: string): Page | null {
  if (path === '/dashboard') return PAGES[0] ?? null;
  return PAGES.find((p) => p.path === path) ?? null;
}
