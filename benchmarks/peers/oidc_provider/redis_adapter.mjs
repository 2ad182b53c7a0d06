// A Redis adapter for node oidc-provider, as its documentation tells users to run one: the design is
// that of the Redis example the oidc-provider project documents (example/adapters/redis.js in the
// panva/node-oidc-provider repository, MIT licence, written for ioredis). This file is not a copy
// of that example; it is written for this benchmark as an ES module, and keeps the example's storage
// scheme and its Redis commands call for call, so that it costs what the documented adapter costs:
//   - one ioredis client for the whole process, from REDIS_URL, every key prefixed with "oidc:";
//   - a model's record at "<Model>:<id>": a plain string of JSON (SET), except for the models that
//     are consumed (AuthorizationCode, RefreshToken, DeviceCode, BackchannelAuthenticationRequest),
//     which are a hash {payload: JSON} (HMSET) so that consume() can add a "consumed" field (HSET);
//   - the record's TTL is the expiresIn the library gives (EXPIRE), in the same MULTI;
//   - tokens of a grant (the consumable models and AccessToken) are listed at "grant:<grantId>"
//     (RPUSH in the MULTI), whose TTL is first read (TTL, its own round trip) and raised to the new
//     token's when shorter; revokeByGrantId reads that list (LRANGE) and deletes it and every key on
//     it in one MULTI;
//   - "uid:<uid>" and "userCode:<userCode>" point at the id of the record that carries them.
// Differences from the example, none of them on the Redis side: ES module syntax, ioredis 6 (the
// example names ioredis 4; the commands are the same), and an empty reply tested without lodash.
import Redis from 'ioredis';

const redis = new Redis(process.env.REDIS_URL, { keyPrefix: 'oidc:' });

const CONSUMED = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);
const LISTED_BY_GRANT = new Set([...CONSUMED, 'AccessToken']);

const grantList = (grantId) => `grant:${grantId}`;
const byUid = (uid) => `uid:${uid}`;
const byUserCode = (userCode) => `userCode:${userCode}`;

export default class RedisAdapter {
  constructor(model) {
    this.model = model;
    this.hashed = CONSUMED.has(model);
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const tx = redis.multi();
    if (this.hashed) tx.hmset(key, { payload: JSON.stringify(payload) });
    else tx.set(key, JSON.stringify(payload));
    if (expiresIn) tx.expire(key, expiresIn);

    if (LISTED_BY_GRANT.has(this.model) && payload.grantId) {
      const list = grantList(payload.grantId);
      tx.rpush(list, key);
      const remaining = await redis.ttl(list);
      if (expiresIn > remaining) tx.expire(list, expiresIn);
    }
    for (const [field, indexKey] of [['userCode', byUserCode], ['uid', byUid]]) {
      if (payload[field]) {
        tx.set(indexKey(payload[field]), id);
        tx.expire(indexKey(payload[field]), expiresIn);
      }
    }
    await tx.exec();
  }

  async find(id) {
    const key = this.key(id);
    if (!this.hashed) {
      const json = await redis.get(key);
      return json ? JSON.parse(json) : undefined;
    }
    const fields = await redis.hgetall(key);
    if (!fields || Object.keys(fields).length === 0) return undefined;
    const { payload, ...extra } = fields; // extra: "consumed", once consume() has run
    return { ...extra, ...JSON.parse(payload) };
  }

  async findByUid(uid) {
    return this.find(await redis.get(byUid(uid)));
  }

  async findByUserCode(userCode) {
    return this.find(await redis.get(byUserCode(userCode)));
  }

  async consume(id) {
    await redis.hset(this.key(id), 'consumed', Math.floor(Date.now() / 1000));
  }

  async destroy(id) {
    await redis.del(this.key(id));
  }

  // eslint-disable-next-line class-methods-use-this
  async revokeByGrantId(grantId) {
    const tx = redis.multi();
    const keys = await redis.lrange(grantList(grantId), 0, -1);
    for (const key of keys) tx.del(key);
    tx.del(grantList(grantId));
    await tx.exec();
  }
}
