// node-oidc-provider in its development setup: the baseline of bench/bench_oidc.py.
//
//   node provider.mjs --port PORT --redirect-uri URI [--client-id ID] [--client-secret S]
//
// Issue 4 compares NatID with "node-oidc-provider (npm oidc-provider, its development setup with
// an in-memory adapter)". So this is the library's quick start, with only what the benchmark's
// flow needs configured:
//
// * the in-memory adapter (the default: no `adapter` option; an LRU of 1,000 entries);
// * one static client: client_secret_basic, the load generator's redirect URI, code flow only;
// * devInteractions (the default development login and consent pages at /interaction/:uid; any
//   login name is accepted, the password is not checked);
// * findAccount giving `sub` and the OIDC Core profile claims (fixed values of one person);
// * PKCE required for every client, S256 (the only method oidc-provider 9 implements);
// * loadExistingGrant: an existing session with a consented grant for the client gets a code
//   without any interaction (written out, it is the library's default), which is the "existing
//   session" case the benchmark measures;
// * ID tokens signed ES256 with a P-256 key made at start-up, the algorithm NatID signs with by
//   default (oidc-provider's own default, RS256, costs ~1 ms more per signature in either).
//
// Prints "listening on <issuer>" once it accepts connections.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '3000' },
    host: { type: 'string', default: '127.0.0.1' },
    'redirect-uri': { type: 'string', default: 'http://127.0.0.1:9/cb' },
    'client-id': { type: 'string', default: 'bench-client' },
    'client-secret': { type: 'string', default: 'bench-client-secret-0123456789abcdef' },
  },
});

const issuer = `http://${args.host}:${args.port}`;

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-es256', alg: 'ES256', use: 'sig' };

const PROFILE = {
  name: 'Sok Dara',
  given_name: 'Dara',
  family_name: 'Sok',
  birthdate: '1990-04-17',
  gender: 'female',
  zoneinfo: 'Asia/Phnom_Penh',
  updated_at: 1793523600,
};

const configuration = {
  clients: [
    {
      client_id: args['client-id'],
      client_secret: args['client-secret'],
      client_name: 'NatID benchmark relying party',
      redirect_uris: [args['redirect-uri']],
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  claims: {
    openid: ['sub'],
    profile: Object.keys(PROFILE),
  },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, ...PROFILE };
      },
    };
  },
  pkce: { required: () => true },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
  },
  features: {
    devInteractions: { enabled: true },
  },
};

const provider = new Provider(issuer, configuration);
const server = provider.listen(Number(args.port), args.host, () => {
  console.log(`listening on ${issuer}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
