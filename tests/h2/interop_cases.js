#!/usr/bin/env node
// gRPC's interop test cases through @grpc/grpc-js: grpc.testing.TestService.
//
//   node tests/h2/interop_cases.js --server CMD
//
// The same checks as tests/h2/interop_cases.py (read its docstring for the
// list): the client side of doc/interop-test-descriptions.md in grpc/grpc
// without TLS, auth or compression (empty_unary, large_unary,
// client_streaming, server_streaming, ping_pong, empty_stream,
// timeout_on_sleeping_server, cancel_after_begin, cancel_after_first_response,
// status_code_and_message, special_status_message, unimplemented_method,
// unimplemented_service, custom_metadata), then the extra server checks
// (HalfDuplexCall, interval_us, several response_parameters, an unknown
// response_type, 20 large_unary calls at once, exit 0 after SIGTERM).
// examples/grpc/testing/test.proto is loaded by @grpc/proto-loader. CMD
// (split on spaces) is started as `CMD --listen 127.0.0.1:PORT`. Without
// tests/node_modules (npm ci --prefix tests) every check prints SKIP. One
// PASS:/FAIL:/SKIP: line per check; exit status 1 on any FAIL. Each call has
// a 10 s deadline. Against the grpcio reference server
// (tests/h2/interop_ref_server.py) every check applies as it is.
'use strict';
const path = require('path');
const { sleep, startServer } = require('./common');

const EXAMPLES = path.join(__dirname, '..', '..', 'examples');
const MODULES = path.join(__dirname, '..', 'node_modules');
const TIMEOUT_MS = 10000;
const PREFIX = 'grpc-js TestService: ';
const TS = '/grpc.testing.TestService/';
const SPECIAL_MESSAGE = '\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \u{1f608}\t\n';
const ECHO_VALUE = 'test_initial_metadata_value';
const ECHO_BIN = Buffer.from([0xab, 0xab, 0xab]);
const CHANNEL_OPTIONS = {
  'grpc.use_local_subchannel_pool': 1,
  'grpc.max_receive_message_length': 1 << 20,
  'grpc.max_send_message_length': 1 << 20,
};

let grpc = null;
let protoLoader = null;
try {
  grpc = require(path.join(MODULES, '@grpc', 'grpc-js'));
  protoLoader = require(path.join(MODULES, '@grpc', 'proto-loader'));
} catch (e) {
  grpc = null;
}

const now = () => Number(process.hrtime.bigint()) / 1e6;   // ms
const deadline = () => new Date(Date.now() + TIMEOUT_MS);

function assert(ok, what) {
  if (!ok) throw new Error(what);
}

// ------------------------------------------------------------ messages

function payload(size) {
  return { type: 'COMPRESSABLE', body: Buffer.alloc(size) };
}

function simpleRequest(responseSize, payloadSize, extra = {}) {
  return { response_type: 'COMPRESSABLE', response_size: responseSize, payload: payload(payloadSize), ...extra };
}

// A StreamingOutputCallRequest asking for responses of `sizes`.
function outputRequest(sizes, payloadSize = null, intervalUs = 0, extra = {}) {
  const req = {
    response_type: 'COMPRESSABLE',
    response_parameters: sizes.map((size) => ({ size, interval_us: intervalUs })),
    ...extra,
  };
  if (payloadSize !== null) req.payload = payload(payloadSize);
  return req;
}

// An absent payload is an empty one (proto3).
function checkPayload(p, size, what = 'payload') {
  p = p || { type: 'COMPRESSABLE', body: Buffer.alloc(0) };
  assert(p.type === 'COMPRESSABLE', `${what} type ${p.type}`);
  assert(Buffer.isBuffer(p.body) && p.body.length === size, `${what} body ${p.body && p.body.length} bytes, not ${size}`);
  assert(p.body.equals(Buffer.alloc(size)), `${what} body is not all zeros`);
}

function checkSizes(msgs, sizes) {
  const got = msgs.map((m) => (m.payload ? m.payload.body.length : 0));
  assert(JSON.stringify(got) === JSON.stringify(sizes),
    `response sizes ${JSON.stringify(got)}, not ${JSON.stringify(sizes)}`);
  msgs.forEach((m, i) => checkPayload(m.payload, sizes[i], `response ${i + 1}'s payload`));
}

const codeName = (c) => Object.keys(grpc.status).find((k) => grpc.status[k] === c) || String(c);

function statusIs(st, code, details) {
  if (!st || st.code !== code || (details !== undefined && st.details !== details)) {
    throw new Error(`expected ${codeName(code)}${details !== undefined ? ' ' + JSON.stringify(details) : ''}, ` +
      `got ${st ? codeName(st.code) + ' ' + JSON.stringify(st.details) : 'no status'}`);
  }
}

function echoMetadata() {
  const md = new grpc.Metadata();
  md.set('x-grpc-test-echo-initial', ECHO_VALUE);
  md.set('x-grpc-test-echo-trailing-bin', ECHO_BIN);
  return md;
}

function checkEcho(initial, trailing) {
  const ini = initial ? initial.get('x-grpc-test-echo-initial') : [];
  const trl = trailing ? trailing.get('x-grpc-test-echo-trailing-bin') : [];
  assert(ini.length === 1 && ini[0] === ECHO_VALUE,
    `initial metadata ${JSON.stringify(initial && initial.getMap())}`);
  assert(trl.length === 1 && ECHO_BIN.equals(trl[0]),
    `trailing metadata ${JSON.stringify(trailing && trailing.getMap())}`);
}

// ------------------------------------------------------------ calls

// A unary call (or a client-streaming one when `req` is a function given
// the call to write on): resolves { err, value, initial, status }.
function unary(client, method, req, md = new grpc.Metadata(), opts = {}) {
  return new Promise((resolve) => {
    const r = {};
    const cb = (err, value) => { r.err = err; r.value = value; };
    const options = { deadline: deadline(), ...opts };
    const call = typeof req === 'function' ? client[method](md, options, cb) : client[method](req, md, options, cb);
    call.on('metadata', (m) => { r.initial = m; });
    call.on('status', (st) => { r.status = st; resolve(r); });
    if (typeof req === 'function') req(call);
  });
}

// Follows a server-streaming or bidi call: r.msgs and r.times (ms) as
// messages arrive, r.next(i) waits for message i (null if the call ended
// first), r.done resolves once the call has ended (status, and all messages
// read when it is OK).
function track(call) {
  const r = { msgs: [], times: [], initial: null, status: null, err: null };
  let waiters = [];
  const wake = () => { const w = waiters; waiters = []; w.forEach((f) => f()); };
  call.on('metadata', (m) => { r.initial = m; });
  call.on('data', (m) => { r.msgs.push(m); r.times.push(now()); wake(); });
  call.on('error', (e) => { r.err = e; });
  r.done = new Promise((resolve) => {
    let ended = false;
    const finish = () => { if (r.status && (ended || r.status.code !== grpc.status.OK)) { wake(); resolve(r); } };
    call.on('end', () => { ended = true; finish(); });
    call.on('status', (st) => { r.status = st; finish(); });
  });
  r.next = async (i) => {
    while (r.msgs.length <= i && !r.status) await new Promise((res) => waiters.push(res));
    return i < r.msgs.length ? r.msgs[i] : null;
  };
  return r;
}

// An EmptyCall on the same channel succeeds (after a cancelled call).
async function channelStillServes(t) {
  const r = await unary(t.client, 'EmptyCall', {});
  statusIs(r.status, grpc.status.OK);
}

// ------------------------------------------------------------ the checks

const checks = [];
const check = (name, fn) => checks.push([name, fn]);

check('empty_unary: EmptyCall, zero bytes each way, OK', async (t) => {
  const r = await new Promise((resolve) => {
    const out = {};
    const id = (b) => b;                 // raw bytes both ways
    const call = t.raw.makeUnaryRequest(TS + 'EmptyCall', id, id, Buffer.alloc(0), new grpc.Metadata(),
      { deadline: deadline() }, (err, value) => { out.err = err; out.value = value; });
    call.on('status', (st) => { out.status = st; resolve(out); });
  });
  statusIs(r.status, grpc.status.OK);
  assert(Buffer.isBuffer(r.value) && r.value.length === 0, `response ${r.value && r.value.length} bytes`);
});

check('large_unary: 271828-byte request payload, 314159-byte response payload', async (t) => {
  const r = await unary(t.client, 'UnaryCall', simpleRequest(314159, 271828));
  statusIs(r.status, grpc.status.OK);
  checkPayload(r.value.payload, 314159);
});

check('client_streaming: 27182, 8, 1828, 45904 bytes -> aggregated_payload_size 74922', async (t) => {
  const r = await unary(t.client, 'StreamingInputCall', (call) => {
    for (const n of [27182, 8, 1828, 45904]) call.write({ payload: payload(n) });
    call.end();
  });
  statusIs(r.status, grpc.status.OK);
  assert(r.value.aggregated_payload_size === 74922, `aggregated_payload_size ${r.value.aggregated_payload_size}`);
});

check('server_streaming: responses of 31415, 9, 2653, 58979 bytes, in order, then OK', async (t) => {
  const r = await track(t.client.StreamingOutputCall(outputRequest([31415, 9, 2653, 58979]),
    new grpc.Metadata(), { deadline: deadline() })).done;
  statusIs(r.status, grpc.status.OK);
  checkSizes(r.msgs, [31415, 9, 2653, 58979]);
});

check('ping_pong: FullDuplexCall, 4 requests each answered before the next is sent', async (t) => {
  const call = t.client.FullDuplexCall(new grpc.Metadata(), { deadline: deadline() });
  const r = track(call);
  const steps = [[31415, 27182], [9, 8], [2653, 1828], [58979, 45904]];
  for (let i = 0; i < steps.length; i++) {
    call.write(outputRequest([steps[i][0]], steps[i][1]));
    const m = await r.next(i);
    assert(m, `no response ${i + 1}: ${r.status && codeName(r.status.code)} ${r.status && r.status.details}`);
    checkSizes([m], [steps[i][0]]);
  }
  call.end();
  await r.done;
  statusIs(r.status, grpc.status.OK);
  assert(r.msgs.length === 4, `${r.msgs.length} responses`);
});

check('empty_stream: FullDuplexCall half-closed at once -> no responses, OK', async (t) => {
  const call = t.client.FullDuplexCall(new grpc.Metadata(), { deadline: deadline() });
  const r = track(call);
  call.end();
  await r.done;
  statusIs(r.status, grpc.status.OK);
  assert(r.msgs.length === 0, `${r.msgs.length} responses`);
});

check('timeout_on_sleeping_server: FullDuplexCall, 27182-byte payload, 1 ms deadline ' +
      '-> DEADLINE_EXCEEDED (then the channel still serves)', async (t) => {
  const call = t.client.FullDuplexCall(new grpc.Metadata(), { deadline: new Date(Date.now() + 1) });
  const r = track(call);
  call.write(outputRequest([], 27182));   // never half-closed: the client waits
  await r.done;
  statusIs(r.status, grpc.status.DEADLINE_EXCEEDED);
  await channelStillServes(t);
});

check('cancel_after_begin: StreamingInputCall cancelled before any message -> CANCELLED ' +
      '(then the channel still serves)', async (t) => {
  const r = await unary(t.client, 'StreamingInputCall', (call) => call.cancel());
  statusIs(r.status, grpc.status.CANCELLED);
  await channelStillServes(t);
});

check('cancel_after_first_response: FullDuplexCall cancelled after a 31415-byte response ' +
      '-> CANCELLED (then the channel still serves)', async (t) => {
  const call = t.client.FullDuplexCall(new grpc.Metadata(), { deadline: deadline() });
  const r = track(call);
  call.write(outputRequest([31415], 27182));
  const m = await r.next(0);
  assert(m, `no response: ${r.status && codeName(r.status.code)} ${r.status && r.status.details}`);
  checkSizes([m], [31415]);
  call.cancel();
  await r.done;
  statusIs(r.status, grpc.status.CANCELLED);
  await channelStillServes(t);
});

check('status_code_and_message (UnaryCall): code 2 "test status message"', async (t) => {
  const r = await unary(t.client, 'UnaryCall', { response_status: { code: 2, message: 'test status message' } });
  statusIs(r.status, grpc.status.UNKNOWN, 'test status message');
});

check('status_code_and_message (FullDuplexCall): code 2 "test status message"', async (t) => {
  const call = t.client.FullDuplexCall(new grpc.Metadata(), { deadline: deadline() });
  const r = track(call);
  call.write({ response_status: { code: 2, message: 'test status message' } });
  call.end();
  await r.done;
  statusIs(r.status, grpc.status.UNKNOWN, 'test status message');
});

check('special_status_message: code 2 with whitespace, BMP and non-BMP characters, exactly', async (t) => {
  const r = await unary(t.client, 'UnaryCall', { response_status: { code: 2, message: SPECIAL_MESSAGE } });
  statusIs(r.status, grpc.status.UNKNOWN, SPECIAL_MESSAGE);
});

check('unimplemented_method: TestService/UnimplementedCall -> UNIMPLEMENTED', async (t) => {
  const r = await unary(t.client, 'UnimplementedCall', {});
  statusIs(r.status, grpc.status.UNIMPLEMENTED);
});

check('unimplemented_service: UnimplementedService/UnimplementedCall -> UNIMPLEMENTED', async (t) => {
  const r = await unary(t.unimplemented, 'UnimplementedCall', {});
  statusIs(r.status, grpc.status.UNIMPLEMENTED);
});

check('custom_metadata (UnaryCall): echo-initial in initial metadata, echo-trailing-bin in trailers', async (t) => {
  const r = await unary(t.client, 'UnaryCall', simpleRequest(314159, 271828), echoMetadata());
  statusIs(r.status, grpc.status.OK);
  checkPayload(r.value.payload, 314159);
  checkEcho(r.initial, r.status.metadata);
});

check('custom_metadata (FullDuplexCall): echo-initial in initial metadata, echo-trailing-bin in trailers', async (t) => {
  const call = t.client.FullDuplexCall(echoMetadata(), { deadline: deadline() });
  const r = track(call);
  call.write(outputRequest([314159], 271828));
  call.end();
  await r.done;
  statusIs(r.status, grpc.status.OK);
  checkSizes(r.msgs, [314159]);
  checkEcho(r.initial, r.status.metadata);
});

// ---- extra checks for a server

check("HalfDuplexCall: no response before half-close, then each request's responses in order", async (t) => {
  const call = t.client.HalfDuplexCall(new grpc.Metadata(), { deadline: deadline() });
  const r = track(call);
  call.write(outputRequest([31415], 8));
  call.write(outputRequest([9, 2653], 8));
  call.write(outputRequest([58979], 8));
  await sleep(300);                       // the three requests are on the server by now
  const closed = now();
  call.end();
  await r.done;
  statusIs(r.status, grpc.status.OK);
  checkSizes(r.msgs, [31415, 9, 2653, 58979]);
  const early = r.times.filter((when) => when < closed).map((when) => when - closed);
  assert(!early.length, `responses before half-close (ms relative to it): ${early}`);
});

check('StreamingOutputCall with interval_us=30000: 3 responses, each >= 30 ms after the last', async (t) => {
  const t0 = now();
  const r = await track(t.client.StreamingOutputCall(outputRequest([10, 20, 30], null, 30000),
    new grpc.Metadata(), { deadline: deadline() })).done;
  statusIs(r.status, grpc.status.OK);
  checkSizes(r.msgs, [10, 20, 30]);
  // Response k cannot leave before k+1 sleeps; the gaps show the sleeps are
  // between responses. Lateness is the machine's, so only the gaps get slack.
  const times = r.times.map((when) => when - t0);
  assert(times.every((when, k) => when >= 30 * (k + 1) - 2), `times (ms) ${times}`);
  const gaps = times.slice(1).map((when, k) => when - times[k]);
  assert(gaps.every((g) => g >= 15), `gaps (ms) ${gaps}, times ${times}`);
});

check('FullDuplexCall: one request with 3 response_parameters -> 3 responses of their sizes', async (t) => {
  const call = t.client.FullDuplexCall(new grpc.Metadata(), { deadline: deadline() });
  const r = track(call);
  call.write(outputRequest([100, 0, 70000], 1));
  call.end();
  await r.done;
  statusIs(r.status, grpc.status.OK);
  checkSizes(r.msgs, [100, 0, 70000]);
});

check('UnaryCall with response_type 1 (not a PayloadType) -> INVALID_ARGUMENT', async (t) => {
  const r = await unary(t.client, 'UnaryCall', simpleRequest(10, 0, { response_type: 1 }));
  statusIs(r.status, grpc.status.INVALID_ARGUMENT);
});

check('20 large_unary calls at once on one channel, each answered in full', async (t) => {
  const rs = await Promise.all(Array.from({ length: 20 }, () => unary(t.client, 'UnaryCall', simpleRequest(314159, 271828))));
  rs.forEach((r, i) => {
    try {
      statusIs(r.status, grpc.status.OK);
      checkPayload(r.value.payload, 314159);
    } catch (e) {
      throw new Error(`call ${i}: ${e.message}`);
    }
  });
});

const SIGTERM_CHECK = 'the server exits 0 after SIGTERM';

// ------------------------------------------------------------ the server

async function main() {
  const i = process.argv.indexOf('--server');
  if (i < 0 || i + 1 >= process.argv.length) { console.error('usage: interop_cases.js --server CMD'); return 2; }
  const cmd = process.argv[i + 1];
  if (!grpc) {
    for (const [name] of checks.concat([[SIGTERM_CHECK]]))
      console.log(`SKIP: ${PREFIX}${name} (tests/node_modules missing: npm ci --prefix tests)`);
    return 0;
  }
  const def = protoLoader.loadSync('grpc/testing/test.proto', {
    includeDirs: [EXAMPLES], keepCase: true, longs: String, enums: String, defaults: true, bytes: Buffer,
  });
  const testing = grpc.loadPackageDefinition(def).grpc.testing;
  let failed = 0;
  const srv = await startServer(cmd);
  const addr = `127.0.0.1:${srv.port}`;
  const creds = grpc.credentials.createInsecure();
  for (const [name, fn] of checks) {
    const t = {      // fresh channels per check
      client: new testing.TestService(addr, creds, CHANNEL_OPTIONS),
      unimplemented: new testing.UnimplementedService(addr, creds, CHANNEL_OPTIONS),
      raw: new grpc.Client(addr, creds, CHANNEL_OPTIONS),
    };
    try {
      await fn(t);
      console.log(`PASS: ${PREFIX}${name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL: ${PREFIX}${name}\n    ${String(e.stack || e).split('\n').join('\n    ')}`);
    } finally {
      t.client.close();
      t.unimplemented.close();
      t.raw.close();
    }
  }
  const killer = setTimeout(() => srv.proc.kill('SIGKILL'), 7000);
  srv.proc.kill('SIGTERM');
  await srv.exited;
  clearTimeout(killer);
  if (srv.code === 0) console.log(`PASS: ${PREFIX}${SIGTERM_CHECK}`);
  else { failed++; console.log(`FAIL: ${PREFIX}${SIGTERM_CHECK}\n    exit ${srv.code}\n${srv.err}`); }
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => { console.log(`FAIL: ${PREFIX}${e.stack || e}`); process.exit(1); });
