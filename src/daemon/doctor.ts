import { spawnSync } from 'node:child_process';
import { constants, existsSync, statSync } from 'node:fs';
import { access, readFile, statfs } from 'node:fs/promises';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import mqtt from 'mqtt';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { loadModelPackage } from '../model/package/model-package.js';
import { modelDirOf } from '../model/runtime/load-model.js';
import { openCheckedSession } from '../model/runtime/contract.js';
import { evidenceOf } from '../model/package/evidence.js';
import { checkReference, describeReference } from '../model/package/reference.js';
import { describeMqttError, type MqttLimits } from '../publish/mqtt-publisher.js';
import { redactUrl } from '../redact.js';
import { deviceVerdict, ipVerdict, readUnitRules, UNIT_DIRS, type UnitRules } from './unit-rules.js';

const UNIT_NAME = 'ecg-emotiond.service';

export type Verdict = 'ok' | 'warn' | 'FAIL';
export interface Check {
  verdict: Verdict;
  name: string;
  detail: string;
}

/** The nearest existing directory at or above `path` (the outbox may not exist before first run). */
function existingDir(path: string): string {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

async function device(c: Config['source']): Promise<Check> {
  if (c.kind === 'can') {
    const state = `/sys/class/net/${c.path}/operstate`;
    if (!existsSync(`/sys/class/net/${c.path}`))
      return {
        verdict: 'FAIL',
        name: 'device',
        detail: `CAN interface ${c.path} does not exist (ip link; hw/can/README.md)`,
      };
    const s = (await readFile(state, 'utf8').catch(() => 'unknown')).trim();
    return s === 'down'
      ? {
          verdict: 'FAIL',
          name: 'device',
          detail: `CAN interface ${c.path} is down (ip link set ${c.path} up type can bitrate 500000)`,
        }
      : { verdict: 'ok', name: 'device', detail: `CAN interface ${c.path} is ${s}` };
  }
  if (!existsSync(c.path))
    return {
      verdict: 'FAIL',
      name: 'device',
      detail: `${c.path} does not exist (sensor unplugged? udev rule? hw/udev/)`,
    };
  try {
    await access(c.path, constants.R_OK | constants.W_OK);
    return { verdict: 'ok', name: 'device', detail: `${c.path} present, readable and writable` };
  } catch {
    return {
      verdict: 'FAIL',
      name: 'device',
      detail: `${c.path}: no read/write permission for this user (group dialout?)`,
    };
  }
}

/** doctor tries the broker once, briefly (mqtt.js's default keepalive for so short a session). */
const DOCTOR_LIMITS: MqttLimits = { keepaliveS: 60, connectTimeoutMs: 5000 };

async function broker(c: Config): Promise<Check> {
  const m = c.mqtt;
  try {
    const client = await mqtt.connectAsync(m.url, {
      protocolVersion: 5,
      reconnectPeriod: 0,
      keepalive: DOCTOR_LIMITS.keepaliveS,
      connectTimeout: DOCTOR_LIMITS.connectTimeoutMs,
      clientId: `ecg-emotiond-doctor-${process.pid}`,
      ...(m.username ? { username: m.username } : {}),
      ...(m.passwordFile ? { password: (await readFile(m.passwordFile, 'utf8')).trim() } : {}),
      ...(m.caFile ? { ca: await readFile(m.caFile) } : {}),
      ...(m.certFile ? { cert: await readFile(m.certFile) } : {}),
      ...(m.keyFile ? { key: await readFile(m.keyFile) } : {}),
    });
    await client.endAsync();
    return {
      verdict: 'ok',
      name: 'broker',
      detail:
        `${redactUrl(m.url)} reachable${m.username ? `, authenticated as ${m.username}` : ''}; ` +
        'whether it keeps QoS 1 messages across its restart cannot be seen from here (README: persistence)',
    };
  } catch (err) {
    return {
      verdict: 'FAIL',
      name: 'broker',
      detail: `${redactUrl(m.url)}: ${describeMqttError(err as Error, DOCTOR_LIMITS)}`,
    };
  }
}

/** Loads, verifies and opens the model; then says what its own figures show it recognises. */
async function model(c: Config['model']): Promise<Check[]> {
  try {
    const pkg = await loadModelPackage(modelDirOf(c.dir));
    const { session, provider, skipped } = await openCheckedSession(pkg, {
      providers: c.providers,
      threads: 1,
    });
    // INT8 numerics depend on the CPU and the provider: checked here, where they run.
    const reference = await checkReference(pkg, session);
    await session.release();
    const why = skipped.map((s) => `${s.provider} skipped: ${s.reason}`).join('; ');
    const evidence = evidenceOf(pkg.manifest);
    return [
      {
        verdict: reference && !reference.withinTolerance ? 'FAIL' : 'ok',
        name: 'model',
        detail: `${pkg.manifest.name} ${pkg.manifest.version} (${pkg.manifest.precision}) sha256 verified, loads on ${provider}${why ? ` (${why})` : ''}${reference ? `; ${describeReference(reference)}` : ''}`,
      },
      { verdict: evidence.none ? 'warn' : 'ok', name: 'evidence', detail: evidence.text },
    ];
  } catch (err) {
    return [{ verdict: 'FAIL', name: 'model', detail: (err as Error).message }];
  }
}

async function disk(name: string, path: string, needBytes: number): Promise<Check> {
  const dir = existingDir(path);
  try {
    if (!statSync(dir).isDirectory())
      return { verdict: 'FAIL', name, detail: `${dir} is not a directory (${path} cannot be made)` };
    const s = await statfs(dir);
    const free = s.bavail * s.bsize;
    const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
    const writable = await access(dir, constants.W_OK).then(
      () => true,
      () => false,
    );
    if (!writable) return { verdict: 'FAIL', name, detail: `${dir} is not writable for this user` };
    return free >= needBytes
      ? { verdict: 'ok', name, detail: `${mb(free)} free at ${dir} (needs ${mb(needBytes)})` }
      : { verdict: 'FAIL', name, detail: `only ${mb(free)} free at ${dir}, needs ${mb(needBytes)}` };
  } catch (err) {
    return { verdict: 'FAIL', name, detail: `${dir}: ${(err as Error).message}` };
  }
}

/** Whether the launcher can hand the daemon its notify socket, as the unit's NotifyAccess=main needs. */
function notify(): Check {
  const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
  return python.status === 0
    ? {
        verdict: 'ok',
        name: 'systemd notify',
        detail: 'bin/ecg-emotiond connects the daemon to systemd (NotifyAccess=main)',
      }
    : {
        verdict: 'warn',
        name: 'systemd notify',
        detail:
          'no python3 for bin/ecg-emotiond: each message spawns systemd-notify, which needs NotifyAccess=all',
      };
}

function clock(): Check {
  const r = spawnSync('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.trim() === 'yes')
    return { verdict: 'ok', name: 'clock', detail: 'NTP synchronised' };
  const year = new Date().getUTCFullYear();
  if (year < 2025)
    return { verdict: 'FAIL', name: 'clock', detail: `the clock says ${year}: payload times would be wrong` };
  return {
    verdict: 'warn',
    name: 'clock',
    detail:
      r.status === 0
        ? 'not NTP synchronised (payload wall-clock times may drift)'
        : 'sync state unknown (no timedatectl); the date looks plausible',
  };
}

/**
 * Whether the installed unit's sandbox lets the daemon reach its sensor and its broker: its
 * DeviceAllow= classes and IPAddressAllow=/Deny=, drop-ins included (a blocked connect is only
 * an EPERM at run time). No line when no unit is installed here.
 */
async function unitSandbox(c: Config, unitFile: string | undefined): Promise<Check[]> {
  const file = unitFile ?? UNIT_DIRS.map((d) => join(d, UNIT_NAME)).find((f) => existsSync(f));
  if (!file) return [];
  let rules: UnitRules;
  try {
    rules = readUnitRules(file, [`${file}.d`, ...UNIT_DIRS.map((d) => join(d, `${UNIT_NAME}.d`))]);
  } catch (err) {
    return [{ verdict: 'FAIL', name: 'unit', detail: `${file}: ${(err as Error).message}` }];
  }
  const problems: string[] = [];
  const admitted: string[] = [];
  if (c.source.kind !== 'can' && existsSync(c.source.path)) {
    const d = deviceVerdict(rules, c.source.path);
    if (d.allowed) admitted.push(`${c.source.path}${d.rule ? ` (${d.rule})` : ''}`);
    else
      problems.push(
        `blocks the sensor ${c.source.path} (device class ${d.group ?? 'unknown'}): add DeviceAllow=char-${d.group ?? '<class>'} rw in a drop-in (systemctl edit ${UNIT_NAME})`,
      );
  }
  const url = new URL(c.mqtt.url);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(host)
    ? [host]
    : await lookup(host, { all: true }).then(
        (a) => a.map((x) => x.address),
        () => [],
      );
  const verdicts = addresses.map((a) => ({ address: a, ...ipVerdict(rules, a) }));
  const blocked = verdicts.filter((v) => !v.allowed).map((v) => v.address);
  if (addresses.length > 0 && blocked.length === addresses.length)
    problems.push(
      `blocks the broker ${host} (${blocked.join(', ')}: ${verdicts[0].rule}): add IPAddressAllow=${blocked.map((a) => (isIP(a) === 6 ? `${a}/128` : `${a}/32`)).join(' ')} in a drop-in (systemctl edit ${UNIT_NAME}; README "The broker's address")`,
    );
  else if (addresses.length > 0)
    admitted.push(
      `the broker ${host} (${verdicts
        .filter((v) => v.allowed)
        .map((v) => v.address)
        .join(', ')})`,
    );
  if (problems.length > 0)
    return [{ verdict: 'FAIL', name: 'unit', detail: `${file} ${problems.join('; ')}` }];
  return [
    {
      verdict: 'ok',
      name: 'unit',
      detail: `${file} admits ${admitted.join(' and ') || 'what is configured'}`,
    },
  ];
}

/** `ecg-emotiond doctor --config FILE`: one line per check; returns the checks. */
export async function doctor(
  configFile: string | undefined,
  o: { unitFile?: string } = {},
): Promise<Check[]> {
  let config: Config;
  try {
    config = await loadConfig(configFile);
  } catch (err) {
    return [
      { verdict: 'FAIL', name: 'config', detail: err instanceof ConfigError ? err.message : String(err) },
    ];
  }
  const checks: Check[] = [{ verdict: 'ok', name: 'config', detail: `${configFile ?? '(defaults)'} valid` }];
  checks.push(await device(config.source));
  checks.push(await broker(config));
  checks.push(...(await model(config.model)));
  checks.push(await disk('outbox disk', config.outbox.dir, config.outbox.maxBytes));
  if (config.eventLog.path) {
    // The log and its one rotated predecessor.
    checks.push(await disk('event log disk', dirname(config.eventLog.path), 2 * config.eventLog.maxBytes));
  }
  if (config.model.providers.includes('tensorrt') && config.model.tensorrt.engineCacheDir) {
    checks.push(await disk('engine cache disk', config.model.tensorrt.engineCacheDir, 512 * 2 ** 20));
  }
  checks.push(...(await unitSandbox(config, o.unitFile)));
  checks.push(notify());
  checks.push(clock());
  return checks;
}
