// tls.test.mjs: EV_OCPP_GW with ocpp_gateway.tls_cert/tls_key (OCPP security
// profile 2: TLS plus the Basic password), with ocpp-rpc in strict mode as
// the charger over wss://, trusting only the test's own certificate. The
// gateway reaches Central over IPv6 ([::1]; Central listens on "::").
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { SEED, freePort, waitFor } from '../web/lib/system.mjs';
import { bootAccepted, ocppCharger, startGateway, startSystem } from './modules.mjs';

let sys, admin, gwPort, certPem, gw;

function charger(id, { scheme = 'wss', ca = certPem, password = SEED.cpSecret(id) } = {}) {
  return ocppCharger(gwPort, id, { scheme, password, wsOpts: ca ? { ca } : {} });
}

before(async () => {
  ({ sys, admin } = await startSystem({ centralListenHost: '::' }));
  const cert = path.join(sys.dir, 'gw-cert.pem'), key = path.join(sys.dir, 'gw-key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'pipe' });
  certPem = fs.readFileSync(cert);
  gwPort = await freePort();
  gw = await startGateway(sys, 'gateway', `  host: 127.0.0.1\n  port: ${gwPort}\n` +
    `  tls_cert: "${cert}"\n  tls_key: "${key}"\n  state_file: ""\n`, `[::1]:${sys.centralPort}`);
});

after(async () => {
  if (process.exitCode)
    sys?.dump();
  await sys?.stop();
});

test('wss:// with the Basic password: boot accepted, the CP ACTIVATED at Central', async () => {
  const cli = charger('CP_001');
  await cli.connect();
  await bootAccepted(cli, 'BootNotification Accepted over wss');
  const hb = await cli.call('Heartbeat', {});
  assert.match(hb.currentTime, /^\d{4}-\d\d-\d\dT/);
  await waitFor(async () => sys.check() || (await sys.cpsById(admin)).CP_001?.state === 'ACTIVATED',
    { timeout: 15000, interval: 100, what: 'CP_001 ACTIVATED at Central' });
  await gw.waitOutput('cp=CP_001: accepted by Central at [::1]:');
  await cli.close();
});

test('a wrong password over wss:// is closed by the gateway, the CP not activated', async () => {
  const cli = charger('CP_002', { password: 'not-the-secret' });
  const closed = new Promise((res) => cli.once('close', res));
  await cli.connect();
  // The password is proved to Central over the gateway's monitor link, as
  // over ws://: Central denies it and the gateway closes (1008; libwebsockets
  // may drop the close frame: 1006).
  const ev = await closed;
  assert.ok([1006, 1008].includes(ev.code), `close code ${ev.code}`);
  await gw.waitOutput('cp=CP_002: denied (by Central)');
  assert.notEqual((await sys.cpsById(admin)).CP_002?.state, 'ACTIVATED');
});

test('plain ws:// to the TLS port does not connect', async () => {
  const cli = charger('CP_003', { scheme: 'ws', ca: null });
  await assert.rejects(cli.connect());
});

test('a charger that does not trust the certificate does not connect', async () => {
  const cli = charger('CP_004', { ca: null });
  await assert.rejects(cli.connect(), /self[- ]signed|certificate/i);
});
