// Node-local listener addresses: listeners are shared settings (every node of
// a cluster runs the same revision), but two nodes on one machine, or a node
// whose address differs from the others', must bind elsewhere. `--listen
// NAME=ADDR:PORT` (repeatable) replaces one listener's address and port on
// this node only; NAME "admin" is the web admin's listener unless an SMTP
// listener has that name. Pure: parsing and applying, no sockets.

import { parseHostPort } from '../address/host-port.ts';
import type { Settings } from '../config/document.ts';

export interface ListenOverride {
  name: string;
  address: string;
  /** 0: any free port, reported in the `started` log line. */
  port: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function parseListenOverride(text: string): { ok: true; value: ListenOverride } | { ok: false; reason: string } {
  const eq = text.indexOf('=');
  if (eq <= 0) return { ok: false, reason: `"${text}" is not NAME=ADDRESS:PORT (e.g. mx=127.0.0.2:2525)` };
  const name = text.slice(0, eq);
  if (!NAME.test(name)) return { ok: false, reason: `"${name}" is not a listener name` };
  const rest = text.slice(eq + 1);
  // Port 0 is allowed here: a free port, as tests and benchmarks want.
  const hp = parseHostPort(rest, -1, { allowZero: true });
  if (!hp.ok) return { ok: false, reason: `--listen ${text}: ${hp.reason}` };
  if (hp.value.port === -1) return { ok: false, reason: `--listen ${text}: the port is missing (NAME=ADDRESS:PORT)` };
  if (!/^[0-9.]+$/.test(hp.value.host) && !hp.value.host.includes(':')) return { ok: false, reason: `--listen ${text}: give an IP address, not a host name` };
  return { ok: true, value: { name, address: hp.value.host, port: hp.value.port } };
}

/** The settings this node runs with: the revision's, with its listeners moved. Every override must name a listener. */
export function applyListenOverrides(settings: Settings, overrides: readonly ListenOverride[]): { ok: true; settings: Settings } | { ok: false; reason: string } {
  if (overrides.length === 0) return { ok: true, settings };
  const seen = new Set<string>();
  let listeners = settings.listeners;
  let admin = settings.admin;
  for (const o of overrides) {
    if (seen.has(o.name)) return { ok: false, reason: `--listen names "${o.name}" twice` };
    seen.add(o.name);
    if (listeners.some((l) => l.name === o.name)) {
      listeners = listeners.map((l) => (l.name === o.name ? { ...l, address: o.address, port: o.port } : l));
    } else if (o.name === 'admin') {
      admin = { ...admin, address: o.address, port: o.port };
    } else {
      const names = [...settings.listeners.map((l) => l.name), 'admin'];
      return { ok: false, reason: `--listen ${o.name}=…: the active settings have no listener "${o.name}" (listeners: ${names.join(', ')})` };
    }
  }
  return { ok: true, settings: { ...settings, listeners, admin } };
}
