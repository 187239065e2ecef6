// modules.mjs: what the OCPP tests share: the npm OCPP clients they drive
// (ocpp-rpc, @voltbras/ts-ocpp, from the node_modules EV_OCPP_GW's build
// fills: <build>/ocpp-npm, npm ci of tests/ocpp/package-lock.json), a strict
// ocpp-rpc charger, the boot, and a system with a gateway.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

import { BUILD_DIR, Proc, REPO_DIR, SEED, System, waitFor } from '../web/lib/system.mjs';

function ocppModules() {
  const dirs = [process.env.EVC_OCPP_NODE_MODULES, path.join(BUILD_DIR, 'ocpp-npm', 'node_modules'),
    path.join(REPO_DIR, 'tests', 'ocpp', 'node_modules')].filter(Boolean);
  for (const d of dirs) {
    if (fs.existsSync(path.join(d, 'ocpp-rpc', 'package.json')))
      return createRequire(path.join(path.resolve(d), 'noop.js'));
  }
  throw new Error(`ocpp-rpc not found in ${dirs.join(', ')}: build EV_OCPP_GW ` +
    '(its build runs npm ci into build/ocpp-npm)');
}

/** require() resolving in the OCPP test modules. */
export const requireOcpp = ocppModules();

const { RPCClient } = requireOcpp('ocpp-rpc');

export const BOOT = { chargePointVendor: 'TestVendor', chargePointModel: 'TestModel' };

/**
 * An ocpp-rpc client in strict mode (every message it sends and receives
 * is validated against the official 1.6 schemas) for the gateway at `port`:
 * `scheme` ws or wss; `password` the Basic password (null: none); `wsOpts`
 * passed to the WebSocket (TLS ca/cert/key, localAddress).
 */
export function ocppCharger(port, id, { scheme = 'ws', password = null, wsOpts = {} } = {}) {
  return new RPCClient({
    endpoint: `${scheme}://127.0.0.1:${port}/ocpp`,
    identity: id,
    protocols: ['ocpp1.6'],
    strictMode: true,
    ...(password == null ? {} : { password }),
    reconnect: false,
    callTimeoutMs: 10000,
    wsOpts,
  });
}

/** BootNotification until Accepted (Pending while Central checks the secret); its answer. */
export async function bootAccepted(cli, what = 'BootNotification Accepted') {
  return waitFor(async () => {
    const r = await cli.call('BootNotification', BOOT);
    return r.status === 'Accepted' ? r : false;
  }, { timeout: 15000, interval: 200, what });
}

/** A system (tests/web/lib/system.mjs) and an admin session on it. */
export async function startSystem(opts = {}) {
  const sys = await System.start(opts);
  const r = await sys.login(SEED.admin.user, SEED.admin.password);
  if (r.status !== 200) {
    await sys.stop();
    throw new Error(`admin login: ${r.status} ${r.text}`);
  }
  return { sys, admin: { cookie: r.cookie, csrf: r.csrf } };
}

/** EV_OCPP_GW with the ocpp_gateway section `yaml`, Central at `central`; up when it returns. */
export async function startGateway(sys, name, yaml, central = `127.0.0.1:${sys.centralPort}`) {
  const cfg = sys.writeConfig(name, `ocpp_gateway:\n${yaml}`);
  const gw = new Proc(sys, name, [sys.bin('EV_OCPP_GW'), '--config', cfg, central]);
  await gw.waitOutput('EV_OCPP_GW listening on port');
  return gw;
}
