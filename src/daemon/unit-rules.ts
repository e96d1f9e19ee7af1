import { readdirSync, readFileSync, statSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { join } from 'node:path';

/** Where systemd looks for a system unit, most important first. */
export const UNIT_DIRS = [
  '/etc/systemd/system',
  '/run/systemd/system',
  '/usr/lib/systemd/system',
  '/lib/systemd/system',
];

/**
 * The installed unit's sandbox rules that can keep the daemon from its sensor or its broker,
 * read as systemd reads them: the unit file, then its drop-ins (`<unit>.d/*.conf`, in name order,
 * as `systemctl edit` writes them); an empty assignment clears a list.
 */
export interface UnitRules {
  /** The files read, in order. */
  files: string[];
  ipAllow: string[];
  ipDeny: string[];
  /** DeviceAllow= entries, access letters dropped ("char-ttyUSB", "/dev/nvmap"). */
  deviceAllow: string[];
  devicePolicy: string;
}

const LISTS = { IPAddressAllow: 'ipAllow', IPAddressDeny: 'ipDeny', DeviceAllow: 'deviceAllow' } as const;

export function readUnitRules(unitFile: string, dropInDirs = [`${unitFile}.d`]): UnitRules {
  // Drop-ins of every directory, ordered by file name (a later name overrides an earlier one).
  const byName = new Map<string, string>();
  for (const dir of [...dropInDirs].reverse()) {
    try {
      for (const f of readdirSync(dir)) if (f.endsWith('.conf')) byName.set(f, join(dir, f));
    } catch {
      // no drop-ins there
    }
  }
  const extra = [...byName.keys()].sort().map((f) => byName.get(f)!);
  const rules: UnitRules = { files: [], ipAllow: [], ipDeny: [], deviceAllow: [], devicePolicy: 'auto' };
  for (const file of [unitFile, ...extra]) {
    rules.files.push(file);
    let section = '';
    for (const raw of readFileSync(file, 'utf8').split('\n')) {
      const line = raw.trim();
      if (line.startsWith('[')) section = line;
      if (section !== '[Service]' || line.startsWith('#') || line.startsWith(';')) continue;
      const eq = line.indexOf('=');
      if (eq < 0) continue;
      const key = line.slice(0, eq).trim();
      const value = line.slice(eq + 1).trim();
      if (key === 'DevicePolicy') rules.devicePolicy = value || 'auto';
      if (!(key in LISTS)) continue;
      const list = LISTS[key as keyof typeof LISTS];
      if (value === '') rules[list] = [];
      else if (list === 'deviceAllow') rules.deviceAllow.push(value.split(/\s+/)[0]);
      else rules[list].push(...value.split(/\s+/));
    }
  }
  return rules;
}

/** systemd's names for address sets (systemd.resource-control(5)). */
const SPECIAL: Record<string, string[]> = {
  any: ['0.0.0.0/0', '::/0'],
  localhost: ['127.0.0.0/8', '::1/128'],
  'link-local': ['169.254.0.0/16', 'fe80::/64'],
  multicast: ['224.0.0.0/4', 'ff00::/8'],
};

/** The entry of `entries` that covers `address`, or null. */
function matching(entries: string[], address: string): string | null {
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  for (const entry of entries) {
    for (const cidr of SPECIAL[entry] ?? [entry]) {
      const [net, bits] = cidr.split('/');
      const netFamily = isIP(net) === 6 ? 'ipv6' : isIP(net) === 4 ? 'ipv4' : null;
      if (netFamily !== family) continue;
      const list = new BlockList();
      list.addSubnet(net, Number(bits ?? (family === 'ipv6' ? 128 : 32)), family);
      if (list.check(address, family)) return entry;
    }
  }
  return null;
}

/**
 * Whether the unit lets the daemon reach `address`: an address on the allow list is reachable,
 * else one on the deny list is not, else it is (systemd's order).
 */
export function ipVerdict(rules: UnitRules, address: string): { allowed: boolean; rule: string | null } {
  const allow = matching(rules.ipAllow, address);
  if (allow) return { allowed: true, rule: `IPAddressAllow=${allow}` };
  const deny = matching(rules.ipDeny, address);
  if (deny) return { allowed: false, rule: `IPAddressDeny=${deny}` };
  return { allowed: true, rule: null };
}

/** A character device's group name in /proc/devices (what DeviceAllow=char-NAME matches). */
export function charGroupOf(major: number, procDevices = '/proc/devices'): string | null {
  const text = readFileSync(procDevices, 'utf8');
  const chars = text.split(/^Block devices:/m)[0];
  for (const line of chars.split('\n')) {
    const m = /^\s*(\d+)\s+(\S+)/.exec(line);
    if (m && Number(m[1]) === major) return m[2];
  }
  return null;
}

/** What DevicePolicy=closed admits besides DeviceAllow= (systemd.resource-control(5)). */
const CLOSED_POLICY_NODES = [
  '/dev/null',
  '/dev/zero',
  '/dev/full',
  '/dev/random',
  '/dev/urandom',
  '/dev/tty',
  '/dev/ptmx',
];

const globToRegExp = (glob: string) =>
  new RegExp(
    `^${glob
      .replace(/[.+^${}()|\\]/g, '\\$&')
      .replaceAll('*', '.*')
      .replaceAll('?', '.')}$`,
  );

/**
 * Whether the unit's device rules admit a character device (followed through symlinks):
 * by its class (`char-<group>`) or by a node path with the same device number.
 */
export function deviceVerdict(
  rules: UnitRules,
  path: string,
  procDevices = '/proc/devices',
): { allowed: boolean; group: string | null; rule: string | null } {
  const st = statSync(path);
  const major = Number((BigInt(st.rdev) >> 8n) & 0xfffn);
  const group = charGroupOf(major, procDevices);
  const closed = rules.devicePolicy !== 'auto' || rules.deviceAllow.length > 0;
  if (!closed) return { allowed: true, group, rule: null };
  const implicit = rules.devicePolicy === 'strict' ? [] : CLOSED_POLICY_NODES;
  for (const entry of [...rules.deviceAllow, ...implicit]) {
    if (entry.startsWith('char-') && group && globToRegExp(entry.slice(5)).test(group))
      return { allowed: true, group, rule: `DeviceAllow=${entry}` };
    if (entry.startsWith('/dev/')) {
      try {
        const rule = implicit.includes(entry) ? `DevicePolicy=${rules.devicePolicy}` : `DeviceAllow=${entry}`;
        if (statSync(entry).rdev === st.rdev) return { allowed: true, group, rule };
      } catch {
        // a path rule for a node that is not there admits nothing (systemd skips it too)
      }
    }
  }
  return { allowed: false, group, rule: null };
}
