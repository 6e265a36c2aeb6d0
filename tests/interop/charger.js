#!/usr/bin/env node
// An independent OCPP 1.6J charger for the interop test: mikuso's `ocpp-rpc` in strict mode, so
// every frame both ways (our calls, the central system's answers, the central system's calls and
// our answers to them) is validated against the official OCPP 1.6 JSON schemas (with formats on).
//
// Configuration (environment): OCPP_ENDPOINT (ws://127.0.0.1:PORT/ocpp; the id is appended),
// CP_ID, CP_PASSWORD, ID_TAG (a known, Accepted tag), UNKNOWN_TAG (a tag nobody knows),
// TX_DATA (`begin_and_end`, the default, or `end`: the StopTransaction's transactionData),
// CA_FILE (for a wss:// endpoint: the site CA the server certificate must chain to).
//
// Output: one JSON object per line on stdout. {"event": "step", ...} for each exchange,
// {"event": "ready"} once the session is over and the charger waits for the central system's
// calls, {"event": "server_call", ...} for each such call, and last {"event": "done", "ok": bool,
// "failures": [...]}. The charger leaves when it reads "quit" on stdin (or after WAIT_S seconds).
// Exit status: 0 only if every exchange passed strict validation and every expectation held.
'use strict';

const readline = require('readline');
const { RPCClient } = require('ocpp-rpc');

const env = process.env;
const ENDPOINT = env.OCPP_ENDPOINT;
const CP_ID = env.CP_ID;
const PASSWORD = env.CP_PASSWORD;
const ID_TAG = env.ID_TAG || 'CARD0001';
const UNKNOWN_TAG = env.UNKNOWN_TAG || 'NOBODY01';
const WAIT_S = Number(env.WAIT_S || 30);
const TX_DATA = env.TX_DATA || 'begin_and_end';

const failures = [];
const serverCalls = [];
let finished = false;
let closing = false; // set when we close the socket ourselves

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(what, detail) {
    failures.push({ what, detail: String(detail) });
    emit({ event: 'failure', what, detail: String(detail) });
}

function check(cond, what, detail) {
    if (!cond) fail(what, detail);
}

const now = () => new Date().toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ

function finish(code) {
    if (finished) return;
    finished = true;
    const ok = failures.length === 0 && code === 0;
    emit({ event: 'done', ok, failures, server_calls: serverCalls.map((c) => c.method) });
    process.exitCode = ok ? 0 : 1;
    // Give stdout a moment to drain, then leave even if a socket lingers.
    setTimeout(() => process.exit(ok ? 0 : 1), 200).unref();
}

if (!ENDPOINT || !CP_ID || !PASSWORD) {
    fail('config', 'OCPP_ENDPOINT, CP_ID and CP_PASSWORD are required');
    finish(2);
    return;
}

const cli = new RPCClient({
    endpoint: ENDPOINT,
    identity: CP_ID,
    password: PASSWORD,
    protocols: ['ocpp1.6'],
    strictMode: true,
    reconnect: false,
    callTimeoutMs: 10000,
    // wss://: only the site CA is trusted (Node's own roots are replaced, not added to).
    wsOpts: env.CA_FILE ? { ca: require('fs').readFileSync(env.CA_FILE) } : {},
});

// Strict mode turns an invalid answer into a rejected call, and an invalid inbound call into an
// automatic error answer; these events say which and why. Any of them fails the run.
cli.on('strictValidationFailure', (ev) => {
    fail('strictValidationFailure', JSON.stringify({
        method: ev.method, outbound: ev.outbound, isCall: ev.isCall,
        error: ev.error && ev.error.message, params: ev.params, result: ev.result,
    }));
});
cli.on('badMessage', (ev) => {
    fail('badMessage', `${ev.error && ev.error.message}: ${ev.buffer && ev.buffer.toString()}`);
});
cli.on('close', (ev) => {
    if (!finished && !closing) fail('close', `socket closed early: ${JSON.stringify(ev)}`);
});

// --- the central system's calls ------------------------------------------------------------
const configuration = {
    HeartbeatInterval: '300',
    NumberOfConnectors: '2',
    MeterValueSampleInterval: '60',
};

function serverCall(method, params) {
    serverCalls.push({ method, params });
    emit({ event: 'server_call', method, params });
}

cli.handle('Reset', ({ params }) => {
    serverCall('Reset', params);
    return { status: 'Accepted' };
});
cli.handle('GetConfiguration', ({ params }) => {
    serverCall('GetConfiguration', params);
    const keys = params.key && params.key.length ? params.key : Object.keys(configuration);
    const configurationKey = keys.filter((k) => k in configuration)
        .map((k) => ({ key: k, readonly: false, value: configuration[k] }));
    const unknownKey = keys.filter((k) => !(k in configuration));
    return unknownKey.length ? { configurationKey, unknownKey } : { configurationKey };
});
cli.handle('ChangeConfiguration', ({ params }) => {
    serverCall('ChangeConfiguration', params);
    configuration[params.key] = params.value;
    return { status: 'Accepted' };
});
cli.handle('TriggerMessage', ({ params }) => {
    serverCall('TriggerMessage', params);
    if (params.requestedMessage === 'StatusNotification') {
        setImmediate(() => step('StatusNotification (triggered)', 'StatusNotification', {
            connectorId: params.connectorId || 1, errorCode: 'NoError', status: 'Available',
            timestamp: now(),
        }).catch(() => {}));
    } else if (params.requestedMessage === 'Heartbeat') {
        setImmediate(() => step('Heartbeat (triggered)', 'Heartbeat', {}).catch(() => {}));
    }
    return { status: 'Accepted' };
});
cli.handle(({ method, params }) => {
    // Anything else the central system sends: recorded, and answered as not implemented.
    serverCall(method, params);
    const { createRPCError } = require('ocpp-rpc');
    throw createRPCError('NotImplemented', `${method} is not implemented by this test charger`);
});

// --- what the charger sends ------------------------------------------------------------------
async function step(name, method, params) {
    try {
        const response = await cli.call(method, params);
        emit({ event: 'step', name, method, request: params, response });
        return response;
    } catch (err) {
        fail(name, `${err.constructor && err.constructor.name}: ${err.message}` +
            (err.details ? ` ${JSON.stringify(err.details)}` : ''));
        throw err;
    }
}

function sampled(wh, powerW) {
    return [
        { value: String(wh), context: 'Sample.Periodic', measurand: 'Energy.Active.Import.Register',
          location: 'Outlet', unit: 'Wh' },
        { value: String(powerW), context: 'Sample.Periodic', measurand: 'Power.Active.Import',
          location: 'Outlet', unit: 'W' },
        { value: '10.4', context: 'Sample.Periodic', measurand: 'Current.Import', phase: 'L1',
          unit: 'A' },
        { value: '10.5', context: 'Sample.Periodic', measurand: 'Current.Import', phase: 'L2',
          unit: 'A' },
        { value: '10.3', context: 'Sample.Periodic', measurand: 'Current.Import', phase: 'L3',
          unit: 'A' },
        { value: '231.0', context: 'Sample.Periodic', measurand: 'Voltage', phase: 'L1-N',
          unit: 'V' },
    ];
}

async function session() {
    // Strict mode is really on: an invalid call of ours is refused before it is sent.
    try {
        await cli.call('StatusNotification', { connectorId: 1, status: 'Sleeping' });
        fail('strict mode self-check', 'an invalid StatusNotification was sent');
    } catch (err) {
        emit({ event: 'step', name: 'strict mode self-check', method: 'StatusNotification',
               rejected: err.message });
    }
    // That deliberate failure is not one of the central system's: forget it.
    const selfCheck = failures.findIndex((f) => f.what === 'strictValidationFailure');
    if (selfCheck >= 0) failures.splice(selfCheck, 1);

    const boot = await step('BootNotification', 'BootNotification', {
        chargePointVendor: 'InteropVendor', chargePointModel: 'OcppRpc-Strict',
        chargePointSerialNumber: 'SN-0001', firmwareVersion: '1.2.3',
        meterType: 'AC-3P', meterSerialNumber: 'M-0001',
    });
    check(boot.status === 'Accepted', 'boot accepted', JSON.stringify(boot));
    check(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(boot.currentTime),
          'currentTime form', boot.currentTime);

    await step('Heartbeat', 'Heartbeat', {});
    await step('StatusNotification 0', 'StatusNotification', {
        connectorId: 0, errorCode: 'NoError', status: 'Available', timestamp: now() });
    await step('StatusNotification 1 Available', 'StatusNotification', {
        connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: now() });
    await step('StatusNotification 2 Available', 'StatusNotification', {
        connectorId: 2, errorCode: 'NoError', status: 'Available', timestamp: now() });
    await step('StatusNotification 1 Preparing', 'StatusNotification', {
        connectorId: 1, errorCode: 'NoError', status: 'Preparing', timestamp: now(),
        info: 'cable plugged', vendorId: 'InteropVendor' });

    const unknown = await step('Authorize unknown', 'Authorize', { idTag: UNKNOWN_TAG });
    check(unknown.idTagInfo.status === 'Invalid', 'unknown tag Invalid', JSON.stringify(unknown));

    const auth = await step('Authorize', 'Authorize', { idTag: ID_TAG });
    check(auth.idTagInfo.status === 'Accepted', 'known tag Accepted', JSON.stringify(auth));

    const startedAt = now();
    const start = await step('StartTransaction', 'StartTransaction', {
        connectorId: 1, idTag: ID_TAG, meterStart: 1000, timestamp: startedAt });
    check(start.idTagInfo.status === 'Accepted', 'start Accepted', JSON.stringify(start));
    const tx = start.transactionId;
    check(Number.isInteger(tx) && tx > 0 && tx < 2 ** 31, 'transaction id', tx);

    await step('StatusNotification 1 Charging', 'StatusNotification', {
        connectorId: 1, errorCode: 'NoError', status: 'Charging', timestamp: now() });
    await step('MeterValues 1', 'MeterValues', {
        connectorId: 1, transactionId: tx,
        meterValue: [{ timestamp: now(), sampledValue: sampled(1500, 7200) }] });
    await step('MeterValues 2 (kWh, SoC)', 'MeterValues', {
        connectorId: 1, transactionId: tx,
        meterValue: [{ timestamp: now(), sampledValue: [
            { value: '2.1', measurand: 'Energy.Active.Import.Register', unit: 'kWh',
              context: 'Sample.Periodic', format: 'Raw' },
            { value: '55', measurand: 'SoC', unit: 'Percent', location: 'EV' },
        ] }] });
    // A MeterValues on the station's own connector, outside any transaction.
    await step('MeterValues 0 (clock-aligned)', 'MeterValues', {
        connectorId: 0,
        meterValue: [{ timestamp: now(), sampledValue: [
            { value: '123456', measurand: 'Energy.Active.Import.Register', unit: 'Wh',
              context: 'Sample.Clock' }] }] });

    // transactionData as StopTxnSampledData makes chargers send it: the register at the start
    // (Transaction.Begin, older than the periodic samples already sent) and at the end; or, with
    // TX_DATA=end, only the end.
    const stoppedAt = now();
    const register = (value, context, timestamp) => ({ timestamp, sampledValue: [
        { value, measurand: 'Energy.Active.Import.Register', unit: 'Wh', context }] });
    const transactionData = [register('2500', 'Transaction.End', stoppedAt)];
    if (TX_DATA !== 'end') transactionData.unshift(register('1000', 'Transaction.Begin', startedAt));
    const stop = await step('StopTransaction', 'StopTransaction', {
        transactionId: tx, idTag: ID_TAG, meterStop: 2500, timestamp: stoppedAt, reason: 'Local',
        transactionData });
    check(!stop.idTagInfo || stop.idTagInfo.status === 'Accepted', 'stop idTagInfo',
          JSON.stringify(stop));

    await step('StatusNotification 1 Finishing', 'StatusNotification', {
        connectorId: 1, errorCode: 'NoError', status: 'Finishing', timestamp: now() });
    await step('StatusNotification 1 Available again', 'StatusNotification', {
        connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: now() });
    await step('DataTransfer', 'DataTransfer', {
        vendorId: 'InteropVendor', messageId: 'hello', data: '{"x":1}' });

    return tx;
}

async function main() {
    const deadline = setTimeout(() => {
        fail('timeout', `no "quit" on stdin within ${WAIT_S} s`);
        finish(1);
    }, WAIT_S * 1000);
    deadline.unref();

    try {
        await cli.connect();
        emit({ event: 'connected', protocol: cli.protocol });
        check(cli.protocol === 'ocpp1.6', 'subprotocol', cli.protocol);
        const tx = await session();
        emit({ event: 'ready', transaction_id: tx });
    } catch (err) {
        if (!failures.length) fail('session', err && err.stack || err);
        finish(1);
        return;
    }

    const rl = readline.createInterface({ input: process.stdin });
    rl.on('line', async (line) => {
        if (line.trim() !== 'quit') return;
        rl.close();
        clearTimeout(deadline);
        closing = true;
        try {
            await cli.close({ code: 1000, reason: 'done' });
        } catch (err) {
            fail('close', err);
        }
        finish(0);
    });
}

main();
