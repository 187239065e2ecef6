// tsocpp.test.mjs: EV_OCPP_GW driven by a second, independent OCPP client,
// @voltbras/ts-ocpp (npm, MIT; not ocpp-rpc, its own schema copies and its
// own framing code), as the charger: boot and health, then a whole supply
// from a driver's request to the ticket, Central's RemoteStart and
// RemoteStop answered by the library's request handler.
//
// What ts-ocpp checks by itself: every request it sends and every request it
// receives (the gateway's RemoteStartTransaction, ...) against its own copy
// of the OCPP 1.6 schemas (an invalid one gets a CALLERROR from it). It does
// not check the results it receives, so the test checks every result of the
// gateway with the library's own validator (validateMessageResponse).
//
// EVC_OCPP_BUS=kafka runs the same over the Kafka mock cluster.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { SEED, freePort, waitFor } from '../web/lib/system.mjs';
import { BOOT, requireOcpp, startGateway, startSystem } from './modules.mjs';

const { ChargePoint } = requireOcpp('@voltbras/ts-ocpp');
const { validateMessageResponse } = requireOcpp('@voltbras/ts-ocpp/dist/messages/validation');
const { chargePointActions } = requireOcpp('@voltbras/ts-ocpp/dist/messages/cp');

const BUS = process.env.EVC_OCPP_BUS || 'zmq';
let sys, admin, gw, gwPort;

before(async () => {
  ({ sys, admin } = await startSystem({ bus: BUS === 'kafka' ? 'kafka' : undefined }));
  gwPort = await freePort();
  gw = await startGateway(sys, 'gateway', `  host: 127.0.0.1\n  port: ${gwPort}\n` +
    '  call_timeout_ms: 5000\n' +
    `  state_file: "${sys.dir}/gateway-state.json"\n`);
});

after(async () => {
  if (process.exitCode)
    sys?.dump();
  await sys?.stop();
});

async function cpAt(id) {
  return (await sys.cpsById(admin))[id];
}

async function waitCpState(id, state, timeout = 15000) {
  return waitFor(async () => sys.check() || (await cpAt(id))?.state === state,
    { timeout, interval: 100, what: `${id} ${state} at Central` });
}

/**
 * A ts-ocpp charge point for `id` at the gateway. Central's calls reach
 * `answers[action]` (a function of the payload returning the result), and
 * are recorded in `.calls` as [action, payload]; ts-ocpp answers any other
 * with a CALLERROR. `.send(action, payload)` resolves the gateway's result,
 * checked against ts-ocpp's schema of that result.
 */
function tsCharger(id, answers = {}) {
  const calls = [];
  const handler = (req) => {
    const { action, ocppVersion, ...payload } = req;
    calls.push([action, payload]);
    if (!answers[action])
      throw new Error(`${action} not expected by the test`);
    return { action, ocppVersion, ...answers[action](payload) };
  };
  // ts-ocpp puts no Authorization header of its own: the WebSocket library
  // (ws) sends the URL's user:password as Basic auth (security profile 1).
  const cp = new ChargePoint(id, handler,
    `ws://${id}:${SEED.cpSecret(id)}@127.0.0.1:${gwPort}/ocpp`);
  cp.calls = calls;
  cp.send = async (action, payload) => {
    const r = (await cp.sendRequest({ action, ocppVersion: 'v1.6-json', payload })).unsafeCoerce();
    const v = validateMessageResponse(action, r, chargePointActions);
    assert.ok(v.isRight(), `${action} result ${JSON.stringify(r)}: ${v.extract()}`);
    return r;
  };
  return cp;
}

async function bootTs(cp) {
  return waitFor(async () => {
    const b = await cp.send('BootNotification', BOOT);
    return b.status === 'Accepted' ? b : false;
  }, { timeout: 15000, interval: 200, what: 'BootNotification Accepted (ts-ocpp)' });
}

test('ts-ocpp: boot, Heartbeat, Faulted -> BROKEN, Available -> ACTIVATED, close -> DISCONNECTED', async () => {
  const id = 'CP_010';
  const cp = tsCharger(id);
  const conn = await cp.connect();
  const r = await bootTs(cp);
  assert.ok(r.interval > 0);
  await waitCpState(id, 'ACTIVATED');
  assert.ok(!Number.isNaN(Date.parse((await cp.send('Heartbeat', {})).currentTime)));
  await cp.send('StatusNotification', { connectorId: 1, status: 'Faulted', errorCode: 'OtherError' });
  await waitCpState(id, 'BROKEN');
  await cp.send('StatusNotification', { connectorId: 1, status: 'Available', errorCode: 'NoError' });
  await waitCpState(id, 'ACTIVATED');
  cp.close();
  conn?.close?.();
  await waitCpState(id, 'DISCONNECTED');
});

/**
 * cp connected and booted, ACTIVATED, and the gateway's cp.hello for this
 * connection heard by Central: a command sent before it could cross it (the
 * hello carries the admin state the gateway had, and Central then repeats
 * its own), which makes what the charger gets depend on the bus's timing.
 */
async function connectReady(cp, id) {
  const hello = `cp=${id}: cp.hello`;
  const before = sys.central.output().split(hello).length - 1;
  await cp.connect();
  await bootTs(cp);
  await sys.central.waitOutput(hello, { times: before + 1, timeout: 15000 });
  await waitCpState(id, 'ACTIVATED');
}

/** driver's web app (EV_Driver with its page), logged in over its API: {post(path, body)}. */
async function driverApp(driverId) {
  const drv = await sys.startDriverWeb(driverId);
  await drv.waitOutput(`Authenticated as ${driverId}`, { timeout: 20000 });
  const login = await fetch(`${drv.webUrl}/api/login`, { method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ password: SEED.drivers[driverId] }) });
  assert.equal(login.status, 200);
  const cookie = login.headers.get('set-cookie').split(';')[0];
  const { csrf_token: csrf } = await login.json();
  drv.post = async (p, body) => {
    const res = await fetch(drv.webUrl + p, { method: 'POST', body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrf } });
    return { status: res.status, body: await res.json().catch(() => null) };
  };
  return drv;
}

test('ts-ocpp through a whole supply: RemoteStart, Authorize, Start, MeterValues, RemoteStop, Stop: billed once', async () => {
  const id = 'CP_010'; // 100 kW, 42 cents/kWh: 20 Wh need 0.72 s (Central's bound, M5)
  const accept = () => ({ status: 'Accepted' });
  const cp = tsCharger(id, { RemoteStartTransaction: accept, RemoteStopTransaction: accept });
  await connectReady(cp, id);
  await cp.send('StatusNotification', { connectorId: 1, status: 'Available', errorCode: 'NoError' });

  // The driver asks for the CP in their app: Central authorises, the
  // gateway asks the charger (RemoteStartTransaction), ts-ocpp's handler accepts.
  const drv = await driverApp('driver2');
  const req = await drv.post('/api/request', { cp_id: id });
  assert.equal(req.status, 202, JSON.stringify(req.body));
  const requestedAt = Date.now();
  await waitFor(() => cp.calls.length >= 1, { timeout: 20000, what: 'RemoteStartTransaction at ts-ocpp' });
  assert.deepEqual(cp.calls[0], ['RemoteStartTransaction', { idTag: 'driver2' }]);

  // The charger as a real one goes on: Authorize, StartTransaction, Charging.
  assert.equal((await cp.send('Authorize', { idTag: 'driver2' })).idTagInfo.status, 'Accepted');
  const st = await cp.send('StartTransaction', { connectorId: 1, idTag: 'driver2', meterStart: 2000,
    timestamp: new Date().toISOString() });
  assert.equal(st.idTagInfo.status, 'Accepted');
  await cp.send('StatusNotification', { connectorId: 1, status: 'Charging', errorCode: 'NoError' });
  await waitCpState(id, 'SUPPLYING');

  // A meter reading: the operator sees the supply's energy and power at Central.
  await waitFor(() => Date.now() - requestedAt >= 1000, { what: 'a second of supply (M5 bound)' });
  await cp.send('MeterValues', { connectorId: 1, transactionId: st.transactionId, meterValue: [{
    timestamp: new Date().toISOString(),
    sampledValue: [{ value: '2.012', measurand: 'Energy.Active.Import.Register', unit: 'kWh' },
      { value: '11000', measurand: 'Power.Active.Import', unit: 'W' }] }] });
  const live = await waitFor(async () => {
    const r = await sys.http('GET', '/api/sessions', { session: admin });
    const s = r.body?.active?.find((x) => x.cp_id === id);
    return s?.wh === 12 ? s : false;
  }, { timeout: 15000, interval: 100, what: 'the supply at 12 Wh in GET /api/sessions' });
  assert.equal(live.driver_id, 'driver2');
  assert.equal(live.w, 11000);

  // The driver stops in the app: Central cancels, the gateway sends
  // RemoteStopTransaction, ts-ocpp accepts and the charger ends the transaction.
  await waitFor(async () => (await drv.post('/api/stop', {})).status === 202,
    { timeout: 10000, interval: 200, what: 'the driver app accepting stop' });
  await waitFor(() => cp.calls.length >= 2, { timeout: 15000, what: 'RemoteStopTransaction at ts-ocpp' });
  assert.deepEqual(cp.calls[1], ['RemoteStopTransaction', { transactionId: st.transactionId }]);
  const stop = { transactionId: st.transactionId, meterStop: 2020, timestamp: new Date().toISOString(),
    reason: 'Remote' };
  assert.equal((await cp.send('StopTransaction', stop)).idTagInfo.status, 'Accepted');
  await cp.send('StatusNotification', { connectorId: 1, status: 'Available', errorCode: 'NoError' });

  // One ticket, meterStop - meterStart, the driver's stop; the operator's view agrees.
  const t = await waitFor(() => {
    const rows = sys.sql(`SELECT * FROM tickets WHERE cp_id = '${id}' AND driver_id = 'driver2'`);
    return rows.length ? rows : false;
  }, { timeout: 15000, what: 'the ticket' });
  assert.equal(t.length, 1);
  assert.equal(t[0].energy_wh, 20);
  assert.equal(t[0].end_reason, 'driver_stop');
  assert.equal(t[0].amount_cents, Math.floor((20 * t[0].price_cents_per_kwh + 500) / 1000));
  const ended = await waitFor(async () => {
    const r = await sys.http('GET', '/api/sessions', { session: admin });
    const s = r.body?.recent?.find((x) => x.cp_id === id && x.driver_id === 'driver2');
    return s?.state === 'ended' ? s : false;
  }, { timeout: 15000, interval: 100, what: 'the supply ended in GET /api/sessions' });
  assert.equal(ended.wh, 20);
  assert.equal(ended.end_reason, 'driver_stop');
  await drv.waitOutput('Ticket ', { timeout: 15000 });
  await waitCpState(id, 'ACTIVATED');

  // The same StopTransaction again (a charger that lost the answer): not billed twice.
  assert.equal((await cp.send('StopTransaction', stop)).idTagInfo.status, 'Accepted');
  await waitFor(() => gw.output().includes(`StopTransaction of unknown transaction ${st.transactionId}`),
    { what: 'the repeated StopTransaction matched to nothing' });
  assert.equal(sys.sql(`SELECT count(*) AS n FROM tickets WHERE cp_id = '${id}' ` +
    "AND driver_id = 'driver2'")[0].n, 1);
  assert.equal(cp.calls.length, 2, JSON.stringify(cp.calls));
  cp.close();
  await waitCpState(id, 'DISCONNECTED');
});

test("ts-ocpp answers Central's commands: stop, resume (ChangeAvailability), reset", async () => {
  const id = 'CP_010';
  const cp = tsCharger(id, { ChangeAvailability: () => ({ status: 'Accepted' }),
    Reset: () => ({ status: 'Accepted' }) });
  await connectReady(cp, id);
  assert.equal((await sys.http('POST', `/api/cps/${id}/stop`, { session: admin })).status, 200);
  await waitCpState(id, 'STOPPED');
  await waitFor(() => cp.calls.length >= 1, { what: 'ChangeAvailability at ts-ocpp' });
  assert.deepEqual(cp.calls[0], ['ChangeAvailability', { connectorId: 0, type: 'Inoperative' }]);
  assert.equal((await sys.http('POST', `/api/cps/${id}/resume`, { session: admin })).status, 200);
  await waitFor(() => cp.calls.length >= 2, { what: 'ChangeAvailability Operative at ts-ocpp' });
  assert.deepEqual(cp.calls[1], ['ChangeAvailability', { connectorId: 0, type: 'Operative' }]);
  await waitCpState(id, 'ACTIVATED');
  const r = await sys.http('POST', `/api/cps/${id}/reset`, { session: admin, body: { type: 'Hard' } });
  assert.equal(r.status, 202, r.text);
  await waitFor(() => cp.calls.length >= 3, { what: 'Reset at ts-ocpp' });
  assert.deepEqual(cp.calls[2], ['Reset', { type: 'Hard' }]);
  cp.close();
  await waitCpState(id, 'DISCONNECTED');
});
