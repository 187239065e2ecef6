// mtls.test.mjs: EV_OCPP_GW with ocpp_gateway.tls_client_ca (OCPP security
// profile 3: TLS with client certificates). ocpp-rpc in strict mode is the
// charger over wss://, with a certificate whose CommonName is its CP id,
// signed by the test's operator CA, and no Basic password: the gateway takes
// the CP's secret from ocpp_gateway.secrets_dir to prove it to Central.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { SEED, freePort, waitFor } from '../web/lib/system.mjs';
import { bootAccepted, ocppCharger, startGateway, startSystem } from './modules.mjs';

let sys, admin, gwPort, gw, dir, secrets, serverCa;

function openssl(...args) {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA: <name>.key, <name>.pem. */
function makeCa(name) {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`);
}

/** A certificate <name>.pem/.key with CommonName cn signed by CA `ca`, as docs/OCPP.md says. */
function makeCert(name, cn, ca, ext = 'extendedKeyUsage=clientAuth') {
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/O=Test operator/CN=${cn}`);
  fs.writeFileSync(path.join(dir, `${name}.ext`), `${ext}\n`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`,
    '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
}

const pem = (name) => fs.readFileSync(path.join(dir, name));

/** A charger with the client certificate `cert` (null: none), no Basic password. */
function charger(id, cert) {
  return ocppCharger(gwPort, id, { scheme: 'wss', wsOpts: cert
    ? { ca: serverCa, cert: pem(`${cert}.pem`), key: pem(`${cert}.key`) } : { ca: serverCa } });
}

function writeSecret(id, secret, mode = 0o600) {
  const f = path.join(secrets, `${id}.secret`);
  fs.writeFileSync(f, `${secret}\n`, { mode });
  fs.chmodSync(f, mode);
}

before(async () => {
  ({ sys, admin } = await startSystem());
  dir = path.join(sys.dir, 'pki');
  fs.mkdirSync(dir);
  makeCa('operator-ca');    // signs the chargers' certificates
  makeCa('other-ca');       // someone else's
  makeCert('gw', '127.0.0.1', 'operator-ca', 'subjectAltName=IP:127.0.0.1');
  serverCa = pem('operator-ca.pem');
  for (const id of ['CP_001', 'CP_002', 'CP_004', 'CP_005'])
    makeCert(id, id, 'operator-ca');
  makeCert('CP_001-other', 'CP_001', 'other-ca');
  secrets = path.join(sys.dir, 'ocpp-secrets');
  fs.mkdirSync(secrets, { mode: 0o700 });
  for (const id of ['CP_001', 'CP_002', 'CP_003'])
    writeSecret(id, SEED.cpSecret(id));
  writeSecret('CP_004', 'not-the-secret');
  writeSecret('CP_005', SEED.cpSecret('CP_005'), 0o644);
  gwPort = await freePort();
  gw = await startGateway(sys, 'gateway', `  host: 127.0.0.1\n  port: ${gwPort}\n` +
    `  tls_cert: "${path.join(dir, 'gw.pem')}"\n  tls_key: "${path.join(dir, 'gw.key')}"\n` +
    `  tls_client_ca: "${path.join(dir, 'operator-ca.pem')}"\n` +
    `  secrets_dir: "${secrets}"\n  state_file: ""\n`);
});

after(async () => {
  if (process.exitCode)
    sys?.dump();
  await sys?.stop();
});

test('a certificate naming the CP: boot accepted, the CP ACTIVATED at Central', async () => {
  const cli = charger('CP_001', 'CP_001');
  await cli.connect();
  await bootAccepted(cli);
  await waitFor(async () => sys.check() || (await sys.cpsById(admin)).CP_001?.state === 'ACTIVATED',
    { timeout: 15000, interval: 100, what: 'CP_001 ACTIVATED at Central' });
  await gw.waitOutput('cp=CP_001: accepted by Central');
  // A second connection with the CP's certificate replaces the first once
  // Central accepted it (a charger reconnecting after a lost network).
  const closed = new Promise((res) => cli.once('close', res));
  const again = charger('CP_001', 'CP_001');
  await again.connect();
  await bootAccepted(again);
  await closed;
  assert.match((await again.call('Heartbeat', {})).currentTime, /^\d{4}-/);
  await again.close();
});

test("another CP's certificate is refused (CommonName is not the URL's CP id)", async () => {
  await assert.rejects(charger('CP_003', 'CP_002').connect());
  await gw.waitOutput('certificate names "CP_002", not that CP');
  assert.notEqual((await sys.cpsById(admin)).CP_003?.state, 'ACTIVATED');
});

test('no client certificate: the TLS handshake fails', async () => {
  await assert.rejects(charger('CP_002', null).connect());
});

test('a certificate from another CA (same CommonName) is refused', async () => {
  await assert.rejects(charger('CP_001', 'CP_001-other').connect());
});

test('the secret file is what proves the CP: a wrong one is denied by Central', async () => {
  const cli = charger('CP_004', 'CP_004');
  const closed = new Promise((res) => cli.once('close', res));
  await cli.connect();
  const ev = await closed;
  assert.ok([1006, 1008].includes(ev.code), `close code ${ev.code}`);
  await gw.waitOutput('cp=CP_004: denied (by Central)');
  assert.notEqual((await sys.cpsById(admin)).CP_004?.state, 'ACTIVATED');
});

test('a secret file others may read is not used', async () => {
  await assert.rejects(charger('CP_005', 'CP_005').connect());
  await gw.waitOutput('group or others may read or write it (chmod 600)');
  // Fixed by the operator: the next connection is served, no restart.
  fs.chmodSync(path.join(secrets, 'CP_005.secret'), 0o600);
  const cli = charger('CP_005', 'CP_005');
  await cli.connect();
  await bootAccepted(cli);
  await cli.close();
});

test('profile 3 without a private secrets_dir does not start', async () => {
  const tls = `  tls_cert: "${path.join(dir, 'gw.pem')}"\n  tls_key: "${path.join(dir, 'gw.key')}"\n` +
    `  tls_client_ca: "${path.join(dir, 'operator-ca.pem')}"\n  state_file: ""\n  port: 0\n`;
  const open = path.join(sys.dir, 'open-secrets');
  fs.mkdirSync(open, { mode: 0o755 });
  fs.chmodSync(open, 0o755);
  for (const [name, extra, want] of [
    ['gw-nodir', '', 'ocpp_gateway.secrets_dir: required with tls_client_ca'],
    ['gw-opendir', `  secrets_dir: "${open}"\n`, 'lets group or others in (chmod 700)']]) {
    const cfg = sys.writeConfig(name, `ocpp_gateway:\n  host: 127.0.0.1\n${tls}${extra}`);
    const r = spawnSync(sys.bin('EV_OCPP_GW'), ['--config', cfg, `127.0.0.1:${sys.centralPort}`],
      { encoding: 'utf8', timeout: 10000 });
    assert.notEqual(r.status, 0, `${name} started`);
    assert.ok(r.stderr.includes(want), `${name}: ${r.stderr}`);
  }
});
