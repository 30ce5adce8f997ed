#!/usr/bin/env node
// gRPC-over-HTTP/2 interop tests of grpcstream --listen, with grpc-js.
//
//   node tests/h2/interop_js.js [--server CMD] [--build-dir DIR] [TEST...]
//
// The same checks as tests/h2/interop_py.py, through @grpc/grpc-js with
// proto/grpcstream.proto loaded by @grpc/proto-loader (installed by
// `npm ci --prefix tests`; without tests/node_modules every test prints
// SKIP). The "raw:" checks (application/grpc+json, Trailers-Only, the status
// table of PROTOCOL.md 2.2) use Node's own http2 module (a second HTTP/2
// stack beside python3-h2). CMD (default ./grpcstream; split on spaces) is
// started as `CMD --listen 127.0.0.1:PORT [--log FILE]` on a free port for
// each test and stopped with SIGTERM after it. One PASS:/FAIL:/SKIP: line
// per test; exit status 1 on any FAIL.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const http2 = require('http2');
const zlib = require('zlib');
const { spawn } = require('child_process');
const { sleep, freePort, canConnect } = require('./common');

const REPO = path.resolve(__dirname, '..', '..');
const PROTO = path.join(REPO, 'proto', 'grpcstream.proto');
const CALL_TIMEOUT_MS = 10000;

let grpc = null;
let protoLoader = null;
let missing = null;
try {
  grpc = require('@grpc/grpc-js');
  protoLoader = require('@grpc/proto-loader');
} catch (e) {
  missing = 'tests/node_modules missing: run npm ci --prefix tests';
}
let services = null;   // LogWatcher and Chat client constructors

const E = [['INFO', 'server started'], ['ERROR', 'disk full'], ['WARN', 'high memory usage'],
  ['ERROR', 'connection reset'], ['INFO', 'request served'], ['ERROR', 'timeout'],
  ['DEBUG', 'cache miss'], ['INFO', 'user login']];
const ERRORS = E.filter((e) => e[0] === 'ERROR');
const INFOS = E.filter((e) => e[0] === 'INFO');
const GO = ['INFO', 'go'];

const now = () => Number(process.hrtime.bigint()) / 1e6;   // ms

// ------------------------------------------------------------ assertions

class Failure extends Error {}

function show(v, n = 160) {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length <= n ? s : s.slice(0, n) + `... (${s.length} chars)`;
}

function same(what, got, want) {
  if (JSON.stringify(got) === JSON.stringify(want)) return;
  const lines = [];
  if (Array.isArray(got) && Array.isArray(want)) {
    lines.push(`${what}: expected ${want.length}, got ${got.length}`);
    for (let i = 0; i < Math.max(got.length, want.length); i++) {
      const g = i < got.length ? got[i] : '(missing)';
      const w = i < want.length ? want[i] : '(nothing)';
      if (JSON.stringify(g) !== JSON.stringify(w)) {
        lines.push(`first difference at #${i + 1}: expected ${show(w)}, got ${show(g)}`);
        break;
      }
    }
  } else {
    lines.push(`${what} differs`, `expected ${show(want)}`, `     got ${show(got)}`);
    if (typeof got === 'string' && typeof want === 'string' && Math.max(got.length, want.length) > 60) {
      let i = 0;
      while (i < got.length && i < want.length && got[i] === want[i]) i++;
      lines.push(`lengths ${want.length} (expected) and ${got.length}; first difference at offset ${i}: ` +
        `expected ${show(want.slice(Math.max(0, i - 10), i + 20))}, got ${show(got.slice(Math.max(0, i - 10), i + 20))}`);
    }
  }
  throw new Failure(lines.join('\n'));
}

const codeName = (c) => (grpc ? Object.keys(grpc.status).find((k) => grpc.status[k] === c) : String(c));

function statusIs(st, code, details, what = 'status') {
  if (!st || st.code !== code || (details !== undefined && st.details !== details)) {
    throw new Failure(`${what}: expected ${codeName(code)}${details !== undefined ? ' ' + show(details) : ''}, ` +
      `got ${st ? codeName(st.code) + ' ' + show(st.details) : 'none'}`);
  }
}

// ------------------------------------------------------------ the server

class Server {
  constructor(cmd, buildDir, log) {
    this.cmd = cmd.split(/\s+/).filter(Boolean);
    this.buildDir = buildDir;
    this.log = log;
    this.errText = '';
  }
  get addr() { return `127.0.0.1:${this.port}`; }
  async start() {
    for (let attempt = 0; attempt < 3; attempt++) {
      this.port = await freePort();
      const args = this.cmd.slice(1).concat(['--listen', this.addr]);
      if (this.log) args.push('--log', this.log);
      this.errText = '';
      this.proc = spawn(this.cmd[0], args, { stdio: ['ignore', 'ignore', 'pipe'] });
      this.exited = new Promise((r) => this.proc.on('exit', (code, sig) => { this.code = code; this.signal = sig; r(); }));
      this.closed = new Promise((r) => this.proc.on('close', r));   // stderr read to its end
      this.proc.stderr.on('data', (d) => { this.errText = (this.errText + d).slice(-2000); });
      this.proc.on('error', (e) => { this.errText += String(e); });
      const end = now() + 10000;
      while (now() < end && this.code === undefined) {
        if (await canConnect(this.port)) return this;
        await sleep(20);
      }
      await this.stop();
    }
    throw new Failure(`server did not start: ${this.cmd.join(' ')} --listen ${this.addr}`);
  }
  alive() { return this.proc && this.code === undefined && !this.signal; }
  async stop(ms = 7000) {
    if (!this.proc) return null;
    if (this.code === undefined && !this.signal) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), ms);
      await this.exited;
      clearTimeout(t);
    }
    await this.closed;
    return this.code;
  }
}

// ------------------------------------------------------------ the client

function deadline(ms = CALL_TIMEOUT_MS) { return new Date(Date.now() + ms); }

// A channel of its own (no subchannel shared with other channels), with a
// LogWatcher and a Chat client on it.
function channel(srv) {
  const creds = grpc.credentials.createInsecure();
  const log = new services.LogWatcher(srv.addr, creds, { 'grpc.use_local_subchannel_pool': 1 });
  const chat = new services.Chat(srv.addr, creds, { channelOverride: log.getChannel() });
  return { log, chat, close() { log.close(); } };
}

// Gathers a call's messages; next() waits for one (null at the end).
class Reader {
  constructor(call) {
    this.call = call;
    this.items = [];
    this.waiters = [];
    this.status = null;
    this.ended = false;
    call.on('data', (m) => this.push({ t: now(), m }));
    call.on('error', () => {});
    call.on('status', (s) => { this.status = s; this.ended = true; this.push(null); });
  }
  push(item) {
    if (this.waiters.length) this.waiters.shift()(item);
    else this.items.push(item);
  }
  // The next message as {t, m}; null at the end; undefined after ms.
  nextTimed(ms = 5000) {
    if (this.items.length) {
      const it = this.items[0];
      if (it !== null) this.items.shift();
      return Promise.resolve(it);
    }
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      const w = (item) => { clearTimeout(t); if (item === null) this.items.unshift(null); resolve(item); };
      const t = setTimeout(() => { this.waiters.splice(this.waiters.indexOf(w), 1); resolve(undefined); }, ms);
      this.waiters.push(w);
    });
  }
  async take(n, ms = 5000) {
    const out = [];
    const end = now() + ms;
    while (out.length < n) {
      const it = await this.nextTimed(Math.max(1, end - now()));
      if (!it) break;
      out.push(it.m);
    }
    return out;
  }
  async finish(ms = 5000) {     // the rest of the messages and the status
    const rest = [];
    const end = now() + ms;
    for (;;) {
      const it = await this.nextTimed(Math.max(1, end - now()));
      if (it === undefined) return { rest, status: null };
      if (it === null) return { rest, status: this.status };
      rest.push(it.m);
    }
  }
}

const entry = (m) => [m.level, m.msg];

async function watch(ch, req, ms) {
  const r = new Reader(ch.log.WatchLogs(req, { deadline: deadline(ms) }));
  const { rest, status } = await r.finish(CALL_TIMEOUT_MS + 2000);
  return { entries: rest.map(entry), status };
}

function append(ch, level, msg) {
  return new Promise((resolve, reject) => {
    ch.log.Append({ level, msg }, { deadline: deadline() }, (err, res) => {
      if (err) reject(new Failure(`Append failed: ${codeName(err.code)} ${err.details}`));
      else resolve(Number(res.seq));
    });
  });
}

class Bidi {
  constructor(ch, ms) {
    this.call = ch.chat.BiDiChat({ deadline: deadline(ms) });
    this.r = new Reader(this.call);
  }
  send(text) { this.call.write({ text }); }
  async recv() {
    const it = await this.r.nextTimed(CALL_TIMEOUT_MS);
    if (it === undefined) throw new Failure('no message within 10 s');
    return it === null ? null : it.m.text;
  }
  halfClose() { this.call.end(); }
}

function follow(ch, req, ms) {
  return new Reader(ch.log.WatchLogs(Object.assign({ follow: true }, req), { deadline: deadline(ms) }));
}

// ------------------------------------------------------------ raw HTTP/2

function lpm(payload, flag = 0) {
  const h = Buffer.alloc(5);
  h[0] = flag;
  h.writeUInt32BE(payload.length, 1);
  return Buffer.concat([h, payload]);
}

function splitLpms(data) {
  const out = [];
  let i = 0;
  while (i < data.length) {
    if (data.length - i < 5) throw new Failure(`${data.length - i} stray bytes after ${out.length} messages`);
    const n = data.readUInt32BE(i + 1);
    if (data[i] !== 0) throw new Failure(`message ${out.length + 1} has compressed flag ${data[i]}`);
    if (data.length - i - 5 < n) throw new Failure(`message ${out.length + 1} cut short`);
    out.push(data.subarray(i + 5, i + 5 + n));
    i += 5 + n;
  }
  return out;
}

// Minimal protobuf for the raw checks (short strings and small varints).
function pbString(field, s) {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from([(field << 3) | 2, b.length]), b]);
}
const pbVarint = (field, v) => Buffer.from([field << 3, v]);
function pbEntries(msgs) {   // LogEntry messages of single-byte lengths
  return msgs.map((m) => {
    const out = [];
    let i = 0;
    while (i < m.length) {
      const tag = m[i]; const n = m[i + 1];
      out[(tag >> 3) - 1] = m.subarray(i + 2, i + 2 + n).toString('utf8');
      i += 2 + n;
    }
    return [out[0] || '', out[1] || ''];
  });
}

function rawCall(srv, p, body, contentType = 'application/grpc', extra = {}, ms = 5000) {
  return new Promise((resolve, reject) => {
    const res = { headers: null, trailers: null, trailersOnly: false, data: Buffer.alloc(0), rst: null, ended: false };
    const session = http2.connect(`http://${srv.addr}`);
    session.on('error', () => {});
    const headers = Object.assign({ ':method': 'POST', ':path': p, te: 'trailers' }, extra);
    if (contentType !== null) headers['content-type'] = contentType;
    const req = session.request(headers, { endStream: body === null });
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Failure(`no end of stream in ${ms} ms: ${describe(res)}`));
    }, ms);
    req.on('response', (h, flags) => { res.headers = h; res.trailersOnly = (flags & 1) === 1; });
    req.on('trailers', (h) => { res.trailers = h; });
    req.on('data', (d) => { res.data = Buffer.concat([res.data, d]); });
    req.on('end', () => { res.ended = true; });
    req.on('error', () => {});
    req.on('close', () => {
      clearTimeout(timer);
      res.rst = req.rstCode;
      session.close();
      resolve(res);
    });
    if (body !== null) req.end(body);
  });
}

function describe(res) {
  const h = (x) => (x ? JSON.stringify(Object.fromEntries(Object.entries(x).filter(([k]) => typeof k === 'string'))) : 'null');
  return `headers=${h(res.headers)} trailers=${h(res.trailers)} trailersOnly=${res.trailersOnly} ` +
    `data=${res.data.length} bytes rst=${res.rst} ended=${res.ended}`;
}

function grpcField(res, name) {
  const src = res.trailersOnly ? res.headers : res.trailers;
  const v = src ? src[name] : undefined;
  return v !== undefined && name === 'grpc-message' ? decodeURIComponent(v) : v;
}

function rawStatus(res, code, message, trailersOnly) {
  if (!res.headers) throw new Failure('no response HEADERS: ' + describe(res));
  if (res.headers[':status'] !== 200) throw new Failure(`:status ${res.headers[':status']}, expected 200: ${describe(res)}`);
  if (!res.ended) throw new Failure('the stream did not end with END_STREAM: ' + describe(res));
  if (trailersOnly !== undefined && res.trailersOnly !== trailersOnly) {
    throw new Failure(`expected ${trailersOnly ? 'a Trailers-Only response' : 'HEADERS, then trailers'}: ${describe(res)}`);
  }
  if (grpcField(res, 'grpc-status') !== String(code)) {
    throw new Failure(`grpc-status ${show(grpcField(res, 'grpc-status'))}, expected ${code} ` +
      `(message ${show(grpcField(res, 'grpc-message'))}): ${describe(res)}`);
  }
  if (message !== undefined && grpcField(res, 'grpc-message') !== message) {
    throw new Failure(`grpc-message ${show(grpcField(res, 'grpc-message'))}, expected ${show(message)}`);
  }
}

// ------------------------------------------------------------ the tests

const TESTS = [];
// opts.log: the --log FILE content; opts.reference: a reason to skip
// against the grpcio reference; opts.sigterm: the test stops the server.
function test(name, opts, fn) {
  if (typeof opts === 'function') { fn = opts; opts = {}; }
  TESTS.push({ name, fn, ...opts });
}

test('watchlogs: no filter sends the 8 built-in entries in order, then OK', async (srv) => {
  const { entries, status } = await watch(channel(srv), {});
  same('entries', entries, E);
  statusIs(status, grpc.status.OK);
});

test('watchlogs: filter ERROR sends the 3 ERROR entries', async (srv) => {
  const { entries, status } = await watch(channel(srv), { filter: 'ERROR' });
  same('entries', entries, ERRORS);
  statusIs(status, grpc.status.OK);
});

test('watchlogs: limit 2 sends the first 2 entries', async (srv) => {
  const { entries, status } = await watch(channel(srv), { limit: 2 });
  same('entries', entries, E.slice(0, 2));
  statusIs(status, grpc.status.OK);
});

test('watchlogs: filter ERROR, limit 2', async (srv) => {
  let { entries, status } = await watch(channel(srv), { filter: 'ERROR', limit: 2 });
  same('entries', entries, ERRORS.slice(0, 2));
  statusIs(status, grpc.status.OK);
  ({ entries, status } = await watch(channel(srv), { filter: 'NOSUCHLEVEL' }));
  same('entries for a level nobody logs', entries, []);
  statusIs(status, grpc.status.OK);
});

test('append: seq 9 then 10 on a fresh server; a plain watch sees them', async (srv) => {
  const ch = channel(srv);
  same('first Append seq', await append(ch, 'WARN', 'first append'), 9);
  same('second Append seq', await append(ch, 'ERROR', 'second append'), 10);
  const { entries, status } = await watch(channel(srv), {});
  same('entries after two Appends', entries, E.concat([['WARN', 'first append'], ['ERROR', 'second append']]));
  statusIs(status, grpc.status.OK);
});

test('follow: backlog, then Appends from another channel, OK at the limit', async (srv) => {
  const f = follow(channel(srv), { filter: 'WARN', limit: 3 });
  same('backlog', (await f.take(1)).map(entry), [['WARN', 'high memory usage']]);
  const other = channel(srv);
  same('Append seq', await append(other, 'INFO', 'not for WARN watchers'), 9);
  same('Append seq', await append(other, 'WARN', 'live one'), 10);
  same('live entry', (await f.take(1)).map(entry), [['WARN', 'live one']]);
  same('Append seq', await append(other, 'WARN', 'live two'), 11);
  const { rest, status } = await f.finish();
  same('entries after the live one', rest.map(entry), [['WARN', 'live two']]);
  statusIs(status, grpc.status.OK);
});

test('follow: a deadline (grpc-timeout) ends the watch DEADLINE_EXCEEDED', async (srv) => {
  const t0 = now();
  const f = follow(channel(srv), {}, 800);
  same('backlog', (await f.take(8)).map(entry), E);
  await append(channel(srv), 'INFO', 'before the deadline');
  same('live entry', (await f.take(1)).map(entry), [['INFO', 'before the deadline']]);
  const { rest, status } = await f.finish();
  const took = (now() - t0) / 1000;
  same('entries after the live one', rest.map(entry), []);
  if (!status || status.code !== grpc.status.DEADLINE_EXCEEDED ||
      !String(status.details).toLowerCase().startsWith('deadline exceeded')) {
    throw new Failure(`expected DEADLINE_EXCEEDED 'deadline exceeded...', got ${status && codeName(status.code)} ${show(status && status.details)}`);
  }
  if (took < 0.7 || took > 3) throw new Failure(`the 0.8 s deadline ended the call after ${took.toFixed(2)} s`);
  return `ended after ${took.toFixed(2)} s`;
});

test('follow: lines another writer appends to --log FILE arrive within 100 ms',
  { log: 'INFO one\nERROR two\n' }, async (srv) => {
    const f = follow(channel(srv), { limit: 5 });
    same('backlog from FILE', (await f.take(2)).map(entry), [['INFO', 'one'], ['ERROR', 'two']]);
    await sleep(150);
    const lat = [];
    for (const [line, want] of [['WARN from outside\n', ['WARN', 'from outside']],
      ['ERROR second from outside\n', ['ERROR', 'second from outside']],
      ['{"level": "INFO", "msg": "json form"}\n', ['INFO', 'json form']]]) {
      fs.appendFileSync(srv.log, line);
      const t0 = now();
      const got = await f.nextTimed(2000);
      if (!got) throw new Failure(`${show(line)} appended to FILE did not arrive within 2 s`);
      same('entry from FILE', entry(got.m), want);
      lat.push(got.t - t0);
      await sleep(70);
    }
    const { rest, status } = await f.finish();
    same('entries after the three lines', rest.map(entry), []);
    statusIs(status, grpc.status.OK);
    const note = 'latencies ' + lat.map((x) => x.toFixed(1)).join(', ') + ' ms';
    if (Math.max(...lat) > 100) throw new Failure('a line took more than 100 ms: ' + note);
    return note;
  });

test("append with --log FILE: seq counts the file's entries, the line is in FILE",
  { log: 'INFO one\nERROR two\n' }, async (srv) => {
    const ch = channel(srv);
    same('Append seq', await append(ch, 'WARN', 'appended by a call'), 3);
    same("FILE's last line", fs.readFileSync(srv.log, 'utf8').split('\n').slice(-2), ['WARN appended by a call', '']);
    const { entries, status } = await watch(ch, {});
    same('entries', entries, [['INFO', 'one'], ['ERROR', 'two'], ['WARN', 'appended by a call']]);
    statusIs(status, grpc.status.OK);
  });

test('follow: a client cancel ends the watch CANCELLED; the server goes on', async (srv) => {
  const ch = channel(srv);
  const f = follow(ch, {});
  same('backlog', (await f.take(8)).map(entry), E);
  f.call.cancel();
  const { status } = await f.finish();
  statusIs(status, grpc.status.CANCELLED);
  same('Append after the cancel', await append(ch, 'INFO', 'after cancel'), 9);
  const { entries } = await watch(ch, { filter: 'INFO' });
  same('entries', entries, INFOS.concat([['INFO', 'after cancel']]));
});

// A seeded generator (mulberry32), so the texts are the same on every run.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function printable(r, n) {
  const a = new Array(n);
  for (let i = 0; i < n; i++) a[i] = String.fromCharCode(0x20 + Math.floor(r() * 95));
  return a.join('');
}

test('bidichat: 1,000 messages, each echo read before the next send', async (srv) => {
  const r = rng(1);
  const b = new Bidi(channel(srv), 30000);
  const t0 = now();
  for (let i = 0; i < 1000; i++) {
    const text = `${i} ${printable(r, Math.floor(r() * 40))}`;
    b.send(text);
    same(`echo of message ${i + 1}`, await b.recv(), 'echo: ' + text);
  }
  b.halfClose();
  same('after half-close', await b.recv(), null);
  statusIs(b.r.status, grpc.status.OK);
  return `${Math.round(1000 / ((now() - t0) / 1000))} round trips/s`;
});

test('bidichat: 20 messages of 60 KiB of random printable text', async (srv) => {
  const r = rng(2);
  const b = new Bidi(channel(srv));
  for (let i = 0; i < 20; i++) {
    const text = printable(r, 60 * 1024);
    b.send(text);
    same(`echo of 60 KiB message ${i + 1}`, await b.recv(), 'echo: ' + text);
  }
  b.halfClose();
  same('after half-close', await b.recv(), null);
  statusIs(b.r.status, grpc.status.OK);
});

test('bidichat: half-close ends the stream OK with no more messages', async (srv) => {
  const ch = channel(srv);
  let b = new Bidi(ch);
  for (const t of ['one', '', 'three']) b.send(t);
  const got = [await b.recv(), await b.recv(), await b.recv()];
  same('echoes', got, ['echo: one', 'echo: ', 'echo: three']);
  b.halfClose();
  same('after half-close', await b.recv(), null);
  statusIs(b.r.status, grpc.status.OK);
  b = new Bidi(ch);
  b.halfClose();
  same('a stream closed at once', await b.recv(), null);
  statusIs(b.r.status, grpc.status.OK);
});

test('bidichat: a client cancel mid-stream gives CANCELLED; the server goes on', async (srv) => {
  const ch = channel(srv);
  let b = new Bidi(ch);
  for (let i = 0; i < 5; i++) {
    b.send(`m${i}`);
    same('echo', await b.recv(), `echo: m${i}`);
  }
  b.send('sent just before the cancel');
  b.call.cancel();
  const { status } = await b.r.finish();
  statusIs(status, grpc.status.CANCELLED);
  b = new Bidi(ch);
  b.send('after');
  same('echo on a new call', await b.recv(), 'echo: after');
  b.halfClose();
  same('after half-close', await b.recv(), null);
  const { entries } = await watch(channel(srv), { limit: 1 });
  same('a watch on a new channel', entries, E.slice(0, 1));
});

function unknown(srv, p) {
  return new Promise((resolve, reject) => {
    const ch = channel(srv);
    ch.log.makeUnaryRequest(p, (x) => x, (x) => x, Buffer.alloc(0), { deadline: deadline() }, (err) => {
      try {
        if (!err) throw new Failure(`${p} answered OK`);
        statusIs(err, grpc.status.UNIMPLEMENTED, 'unknown method');
        resolve();
      } catch (e) { reject(e); }
    });
  });
}

test("unknown method /LogWatcher/Nope: UNIMPLEMENTED 'unknown method'", (srv) => unknown(srv, '/LogWatcher/Nope'));
test("unknown service /Nope/Nope: UNIMPLEMENTED 'unknown method'", (srv) => unknown(srv, '/Nope/Nope'));

// A barrier: every party waits until all have arrived.
function barrier(parties) {
  let arrived = 0;
  let open;
  const all = new Promise((r) => { open = r; });
  return () => { if (++arrived === parties) open(); return all; };
}

async function follower(ch, wait, name, filter, limit, want) {
  const f = follow(ch, { filter, limit });
  const backlog = await f.take(want.length - 1);
  await wait();
  const { rest, status } = await f.finish(10000);
  same(`${name}: entries`, backlog.concat(rest).map(entry), want);
  statusIs(status, grpc.status.OK, undefined, `${name}: status`);
}

async function chatter(ch, wait, name, n) {
  const b = new Bidi(ch);
  for (let i = 0; i < n; i++) {
    if (i === 1) await wait();   // every stream is open here
    const text = `${name} message ${i}`;
    b.send(text);
    same(`${name}: echo ${i}`, await b.recv(), 'echo: ' + text);
  }
  b.halfClose();
  same(`${name}: after half-close`, await b.recv(), null);
  statusIs(b.r.status, grpc.status.OK, undefined, `${name}: status`);
}

async function settle(promises) {
  const results = await Promise.allSettled(promises);
  const errors = results.filter((r) => r.status === 'rejected').map((r) => String(r.reason && r.reason.message));
  if (errors.length) throw new Failure(`${errors.length} of ${promises.length} calls failed:\n${errors.slice(0, 3).join('\n')}`);
}

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Failure(`${what}: not done after ${ms / 1000} s`)), ms); })])
    .finally(() => clearTimeout(t));
}

test('50 concurrent streams on one channel (25 follow watches, 25 chats)', async (srv) => {
  const ch = channel(srv);
  const wait = barrier(51);
  const calls = [];
  for (let i = 0; i < 25; i++) {
    if (i % 2) calls.push(follower(ch, wait, `watch ${i}`, '', 9, E.concat([GO])));
    else calls.push(follower(ch, wait, `watch ${i}`, 'INFO', 4, INFOS.concat([GO])));
    calls.push(chatter(ch, wait, `chat ${i}`, 20));
  }
  calls.push((async () => { await wait(); same('seq of the go entry', await append(channel(srv), ...GO), 9); })());
  await withTimeout(settle(calls), 20000, '51 calls');
});

test('8 channels at once, each with a follow watch, a chat, an Append and a watch', async (srv) => {
  const chans = Array.from({ length: 8 }, () => channel(srv));
  const wait = barrier(17);
  const seqs = {};
  const calls = [];
  chans.forEach((ch, k) => {
    calls.push(follower(ch, wait, `channel ${k} watch`, 'INFO', 4, INFOS.concat([GO])));
    calls.push(chatter(ch, wait, `channel ${k} chat`, 10));
    calls.push((async () => { seqs[`channel ${k}`] = await append(ch, 'CONC', `from channel ${k}`); })());
    calls.push((async () => {
      const { entries, status } = await watch(ch, { filter: 'ERROR' });
      same(`channel ${k}: plain watch`, entries, ERRORS);
      statusIs(status, grpc.status.OK, undefined, `channel ${k}: plain watch status`);
    })());
  });
  calls.push((async () => { await wait(); seqs.go = await append(chans[0], ...GO); })());
  await withTimeout(settle(calls), 20000, `${calls.length} calls`);
  same('the 9 Append seqs', Object.values(seqs).sort((a, b) => a - b), [9, 10, 11, 12, 13, 14, 15, 16, 17]);
  const { entries } = await watch(chans[3], { filter: 'CONC' });
  const bySeq = Object.entries(seqs).filter(([k]) => k !== 'go').sort((a, b) => a[1] - b[1]);
  same('CONC entries in seq order', entries, bySeq.map(([k]) => ['CONC', 'from ' + k]));
});

test('SIGTERM: a call in flight finishes, new calls fail, exit status 0', { sigterm: true }, async (srv) => {
  const b = new Bidi(channel(srv));
  b.send('before');
  same('echo', await b.recv(), 'echo: before');
  srv.proc.kill('SIGTERM');
  await sleep(200);
  const { status } = await watch(channel(srv), {}, 2000);
  if (!status || status.code !== grpc.status.UNAVAILABLE) {
    throw new Failure(`a call on a new connection after SIGTERM: ${status && codeName(status.code)} ${show(status && status.details)}`);
  }
  b.send('after SIGTERM');
  same('echo in flight', await b.recv(), 'echo: after SIGTERM');
  b.halfClose();
  same('after half-close', await b.recv(), null);
  statusIs(b.r.status, grpc.status.OK);
  await withTimeout(srv.exited, 7000, 'exit after SIGTERM');
  same('exit status', srv.code, 0);
});

// ------------------------------------------- raw HTTP/2 (node:http2)

const JSON_SKIP = 'grpcio serves only protobuf payloads';
const WATCH_ERROR_2 = lpm(Buffer.concat([pbString(1, 'ERROR'), pbVarint(2, 2)]));
const APPEND_X = lpm(Buffer.concat([pbString(1, 'INFO'), pbString(2, 'x')]));

test('raw: WatchLogs with application/grpc+json', { reference: JSON_SKIP }, async (srv) => {
  const res = await rawCall(srv, '/LogWatcher/WatchLogs', lpm(Buffer.from('{"filter": "ERROR", "limit": 2}')), 'application/grpc+json');
  rawStatus(res, 0, undefined, false);
  same('response content-type', res.headers['content-type'], 'application/grpc+json');
  same('messages', splitLpms(res.data).map(String),
    ['{"level": "ERROR", "msg": "disk full"}', '{"level": "ERROR", "msg": "connection reset"}']);
});

test('raw: BiDiChat with application/grpc+json (json.dumps-exact echoes)', { reference: JSON_SKIP }, async (srv) => {
  // The request bodies (one in raw UTF-8) and the echoes as Python's
  // json.dumps writes them.
  const sent = ['{"text": "hello"}', '{"text": "caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ /\\n"}', '{"text": ""}',
    '{"text": "na\u00efve"}', '{"unknown": [1, {"x": null}], "text": "last"}'];
  const want = ['{"text": "echo: hello"}', '{"text": "echo: caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ /\\n"}',
    '{"text": "echo: "}', '{"text": "echo: na\\u00efve"}', '{"text": "echo: last"}'];
  const res = await rawCall(srv, '/Chat/BiDiChat', Buffer.concat(sent.map((s) => lpm(Buffer.from(s)))), 'application/grpc+json');
  rawStatus(res, 0, undefined, false);
  same('response content-type', res.headers['content-type'], 'application/grpc+json');
  same('messages', splitLpms(res.data).map(String), want);
});

test('raw: +json request that is not JSON: INTERNAL', { reference: JSON_SKIP }, async (srv) => {
  rawStatus(await rawCall(srv, '/LogWatcher/Append', lpm(Buffer.from('{"level": "INFO",')), 'application/grpc+json'), 13);
});

test('raw: +json request of the wrong shape: INVALID_ARGUMENT', { reference: JSON_SKIP }, async (srv) => {
  rawStatus(await rawCall(srv, '/LogWatcher/WatchLogs', lpm(Buffer.from('{"limit": -1}')), 'application/grpc+json'), 3, undefined, true);
});

test('raw: WatchLogs over plain HTTP/2: HEADERS, DATA, trailers grpc-status 0', async (srv) => {
  const res = await rawCall(srv, '/LogWatcher/WatchLogs', WATCH_ERROR_2);
  rawStatus(res, 0, undefined, false);
  same('response content-type', res.headers['content-type'], 'application/grpc');
  same('messages', pbEntries(splitLpms(res.data)), ERRORS.slice(0, 2));
});

test("raw: unknown method: Trailers-Only UNIMPLEMENTED 'unknown method'", async (srv) => {
  const res = await rawCall(srv, '/LogWatcher/Nope', lpm(Buffer.alloc(0)));
  rawStatus(res, 12, 'unknown method', true);
  same('content-type of the Trailers-Only response', String(res.headers['content-type']).slice(0, 16), 'application/grpc');
  same('DATA bytes', res.data.length, 0);
});

test('raw: content-type text/plain: HTTP 415, no grpc-status',
  { reference: 'grpcio answers a non-gRPC content-type its own way' }, async (srv) => {
    const res = await rawCall(srv, '/LogWatcher/WatchLogs', lpm(Buffer.alloc(0)), 'text/plain');
    if (!res.headers || res.headers[':status'] !== 415) throw new Failure('expected :status 415: ' + describe(res));
    if ('grpc-status' in res.headers || (res.trailers && 'grpc-status' in res.trailers)) {
      throw new Failure('a 415 carries no grpc-status: ' + describe(res));
    }
  });

test('raw: a request message that is not valid protobuf: INTERNAL', async (srv) => {
  rawStatus(await rawCall(srv, '/LogWatcher/Append', lpm(Buffer.from([0x0a, 0x05, 0x61, 0x62]))), 13);
});

test('raw: a second request message on a unary call: INTERNAL',
  { reference: 'grpcio does not check for a second unary request message' }, async (srv) => {
    rawStatus(await rawCall(srv, '/LogWatcher/Append', Buffer.concat([APPEND_X, APPEND_X])), 13);
  });

test('raw: no request message on a unary call: INTERNAL', { reference: 'grpcio answers UNIMPLEMENTED' }, async (srv) => {
  rawStatus(await rawCall(srv, '/LogWatcher/Append', null), 13);
});

test('raw: compressed flag 1 without grpc-encoding: INTERNAL', { reference: 'grpcio accepts it' }, async (srv) => {
  rawStatus(await rawCall(srv, '/LogWatcher/Append', lpm(APPEND_X.subarray(5), 1)), 13);
});

test('raw: grpc-encoding gzip: UNIMPLEMENTED with grpc-accept-encoding', { reference: 'grpcio supports gzip' }, async (srv) => {
  const res = await rawCall(srv, '/LogWatcher/Append', lpm(zlib.gzipSync(APPEND_X.subarray(5)), 1),
    'application/grpc', { 'grpc-encoding': 'gzip' });
  rawStatus(res, 12);
  if (!('grpc-accept-encoding' in Object.assign({}, res.headers, res.trailers || {}))) {
    throw new Failure('no grpc-accept-encoding: ' + describe(res));
  }
});

test("raw: grpc-timeout passes: trailers DEADLINE_EXCEEDED 'deadline exceeded'", async (srv) => {
  const t0 = now();
  const res = await rawCall(srv, '/LogWatcher/WatchLogs', lpm(pbVarint(3, 1)), 'application/grpc', { 'grpc-timeout': '300m' });
  const took = (now() - t0) / 1000;
  rawStatus(res, 4, 'deadline exceeded', false);
  same('messages before the deadline', pbEntries(splitLpms(res.data)), E);
  if (took < 0.25 || took > 2) throw new Failure(`a 300 ms grpc-timeout ended after ${took.toFixed(2)} s`);
});

// ------------------------------------------------------------ the runner

async function main() {
  const argv = process.argv.slice(2);
  let server = './grpcstream';
  let buildDir = path.join('build', 'h2');
  const only = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--server') server = argv[++i];
    else if (argv[i] === '--build-dir') buildDir = argv[++i];
    else only.push(argv[i]);
  }
  fs.mkdirSync(buildDir, { recursive: true });
  const ref = server.includes('ref_server.py');
  if (!missing) {
    const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, defaults: true });
    services = grpc.loadPackageDefinition(def);
  }
  let failed = 0;
  for (const t of TESTS) {
    if (only.length && !only.some((o) => t.name.startsWith(o))) continue;
    if (missing) { console.log(`SKIP: ${t.name} (${missing})`); continue; }
    if (ref && t.reference) { console.log(`SKIP: ${t.name} (reference server: ${t.reference})`); continue; }
    let logPath = null;
    if (t.log !== undefined) {
      logPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'h2log-')), 'log');
      fs.writeFileSync(logPath, t.log);
    }
    const srv = new Server(server, buildDir, logPath);
    try {
      await srv.start();
      const t0 = now();
      const note = await withTimeout(Promise.resolve(t.fn(srv)), 30000, 'the test');
      const took = (now() - t0) / 1000;
      if (!t.sigterm && !srv.alive()) throw new Failure(`the server exited (status ${srv.code}, signal ${srv.signal})`);
      console.log(`PASS: ${t.name}${note ? ` (${note})` : took > 1 ? ` (${took.toFixed(2)} s)` : ''}`);
    } catch (e) {
      failed++;
      const detail = e instanceof Failure ? e.message : String(e && e.stack);
      console.log(`FAIL: ${t.name}`);
      const err = srv.errText.trim().slice(-500);
      for (const line of (detail + '\nserver stderr: ' + (err || '(empty)')).split('\n').slice(0, 40)) console.log('    ' + line);
    } finally {
      await srv.stop();
      if (logPath) fs.rmSync(path.dirname(logPath), { recursive: true, force: true });
    }
  }
  return failed ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => { console.log(`FAIL: interop_js crashed\n    ${e && e.stack}`); process.exit(1); });
