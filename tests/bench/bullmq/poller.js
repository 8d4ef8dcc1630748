// poller.js: spotwatch's job -- poll each user's currently-playing state,
// store it, announce changes -- written the way a Node team would with
// BullMQ, for tests/bench/bench.py (scenario 6).
//
//  - one Job Scheduler per user (queue.upsertJobScheduler, `every` EVERY_MS),
//    so BullMQ owns the schedule, as spotwatch's due set does;
//  - one Worker per process, `concurrency` CONCURRENCY, removeOnComplete,
//    the usual settings for a high-volume queue;
//  - an undici Pool (keep-alive, CONNECTIONS sockets) to the Web API;
//  - per user, a Redis hash holds the access token and the last state; a
//    change is PUBLISHed on bq:playback:<user>, as spotwatch does.
//
// env: REDIS_PORT, API_BASE (".../v1"), USERS_FILE (JSON lines {user,
// access_token}), EVERY_MS (2000), CONCURRENCY (100), CONNECTIONS (32),
// SETUP (1: create the schedulers and tokens, then exit), PREFIX ("bq").
// Prints "ready" on stdout once the worker runs.
'use strict';
const fs = require('fs');
const { Queue, Worker } = require('bullmq');
const { Pool } = require('undici');

const env = (k, d) => (process.env[k] === undefined ? d : process.env[k]);
const connection = { host: '127.0.0.1', port: +env('REDIS_PORT', 6379), maxRetriesPerRequest: null };
const prefix = env('PREFIX', 'bq');
const every = +env('EVERY_MS', 2000);
const concurrency = +env('CONCURRENCY', 100);
const api = new URL(env('API_BASE', 'http://127.0.0.1:8080/v1'));
const path = api.pathname.replace(/\/$/, '') + '/me/player/currently-playing?additional_types=track,episode';

async function setup() {
  const queue = new Queue('poll', { connection, prefix });
  const users = fs.readFileSync(env('USERS_FILE'), 'utf8').split('\n').filter(Boolean).map(JSON.parse);
  const redis = await queue.client;
  for (let i = 0; i < users.length; i += 500) {
    const chunk = users.slice(i, i + 500);
    const p = redis.pipeline();
    for (const u of chunk) p.hset(`${prefix}:user:${u.user}`, 'token', u.access_token);
    await p.exec();
    await Promise.all(chunk.map((u) => queue.upsertJobScheduler(`poll:${u.user}`, { every },
      { name: 'poll', data: { user: u.user }, opts: { removeOnComplete: true, removeOnFail: 1000 } })));
  }
  await queue.close();
}

// The comparison part of a state, as spotwatch keeps it.
function compact(body) {
  if (!body) return { p: 0 };
  const it = body.item;
  return {
    p: 1, pl: body.is_playing ? 1 : 0, k: it ? (it.id || it.uri) : body.currently_playing_type,
    d: body.device ? body.device.id : null, pr: body.progress_ms, du: it ? it.duration_ms : 0,
  };
}

async function run() {
  const pool = new Pool(api.origin, { connections: +env('CONNECTIONS', 32), keepAliveTimeout: 60000, pipelining: 1 });
  const worker = new Worker('poll', async (job) => {
    const user = job.data.user;
    const redis = await worker.client;
    const key = `${prefix}:user:${user}`;
    const [token, last] = await redis.hmget(key, 'token', 'state');
    const res = await pool.request({ path, method: 'GET', headers: { authorization: `Bearer ${token}` } });
    const text = await res.body.text();
    if (res.statusCode !== 200 && res.statusCode !== 204) throw new Error(`HTTP ${res.statusCode}`);
    const cur = compact(res.statusCode === 200 && text ? JSON.parse(text) : null);
    const prev = last ? JSON.parse(last) : null;
    const state = JSON.stringify(cur);
    if (state !== last) {
      const m = redis.multi().hset(key, 'state', state);
      if (!prev || prev.k !== cur.k || prev.pl !== cur.pl || prev.d !== cur.d) {
        m.publish(`${prefix}:playback:${user}`, JSON.stringify({ type: 'changed', user, at: Date.now(), state: cur }));
      }
      await m.exec();
    }
    return null;
  }, { connection, prefix, concurrency, removeOnComplete: { count: 0 }, removeOnFail: { count: 1000 } });
  worker.on('error', (e) => console.error('worker error:', e.message));
  await worker.waitUntilReady();
  process.stdout.write('ready\n');
  const stop = async () => { await worker.close(); await pool.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

(env('SETUP', '0') === '1' ? setup().then(() => process.exit(0)) : run()).catch((e) => {
  console.error(e);
  process.exit(1);
});
