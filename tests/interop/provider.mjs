// tests/interop/provider.mjs - panva's oidc-provider (an OpenID Certified
// OAuth 2.0 / OpenID Connect server) set up as a mail provider might run
// it, for tests/interop/test_oidc_provider.sh.
//
// Usage: node provider.mjs --modules DIR --port-file FILE [--log FILE]
//                          [--max-seconds S] [--client-key PUB.pem]
// DIR is the npm prefix holding node_modules/oidc-provider (installed by
// the test outside the source tree). The server binds 127.0.0.1 on an
// ephemeral port, uses http://127.0.0.1:PORT as its issuer, writes PORT to
// FILE once it listens and exits by itself after --max-seconds.
//
// What is configured, and why:
// - clients: basic-client (client_secret_basic), post-client
//   (client_secret_post), public-client (token_endpoint_auth_method none),
//   all application_type native with the loopback redirect http://127.0.0.1/
//   (for native clients oidc-provider ignores the port of a loopback
//   redirect, RFC 8252 7.3); service-client (client_credentials only) and
//   dovecot-client (no grants: a resource server that may introspect);
//   with --client-key, jwt-client (client_credentials only, authenticated
//   with private_key_jwt and the public key PUB.pem, RFC 7523 2.2), whose
//   tokens act for alice@example.test, as an app-only token granted one
//   mailbox would.
// - PKCE required for every client (S256 is the only method offered).
// - no development interactions: /interaction/UID is answered here by
//   logging in the user (login_hint, else alice@example.test) and granting
//   what the prompt asks for, as a user clicking "allow" would (the user
//   denied@example.test clicks "deny").
// - device flow, client credentials, revocation and introspection on;
//   introspection at /introspect so a Dovecot passdb can use it, with the
//   RFC 7662 "username" member (the account) in its answers.
// - refresh tokens rotate on every use. oidc-provider issues a refresh
//   token only for scope offline_access, and keeps offline_access only when
//   the authorization request has prompt=consent (OpenID Connect Core 11).
// - a JSON lines log of every request: method, path, status, grant type,
//   client and how it authenticated (never a token or secret).
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

const args = { modules: '', portFile: '', log: '', maxSeconds: 300, clientKey: '' };
for (let i = 2; i < process.argv.length; i += 2) {
  const [k, v] = [process.argv[i], process.argv[i + 1]];
  if (v === undefined) {
    console.error(`provider.mjs: ${k} needs a value`);
    process.exit(2);
  }
  if (k === '--modules') args.modules = v;
  else if (k === '--port-file') args.portFile = v;
  else if (k === '--log') args.log = v;
  else if (k === '--max-seconds') args.maxSeconds = Number(v);
  else if (k === '--client-key') args.clientKey = v;
  else {
    console.error(`provider.mjs: unknown option ${k}`);
    process.exit(2);
  }
}
if (!args.modules || !args.portFile) {
  console.error('provider.mjs: --modules DIR and --port-file FILE are required');
  process.exit(2);
}

// oidc-provider is ESM only and lives outside the source tree: resolve it
// from DIR as if required from there, then import that file.
const resolved = createRequire(path.join(path.resolve(args.modules), 'package.json'))
  .resolve('oidc-provider');
const { default: Provider, errors } = await import(pathToFileURL(resolved).href);

const DEFAULT_USER = 'alice@example.test';
const DENYING_USER = 'denied@example.test';
const logStream = args.log ? fs.createWriteStream(args.log, { flags: 'a' }) : null;
const log = (obj) => { if (logStream) logStream.write(`${JSON.stringify(obj)}\n`); };

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'test' };

const loopback = ['http://127.0.0.1/'];
const JWT_CLIENT_MAILBOX = 'alice@example.test';
const jwtClients = args.clientKey ? [{
  client_id: 'jwt-client', token_endpoint_auth_method: 'private_key_jwt',
  jwks: { keys: [crypto.createPublicKey(fs.readFileSync(args.clientKey)).export({ format: 'jwk' })] },
  grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'mail',
}] : [];
const userGrants = ['authorization_code', 'refresh_token',
  'urn:ietf:params:oauth:grant-type:device_code'];

const provider = new Provider(issuer, {
  clients: [
    {
      // RFC 6749 2.3.1: Basic credentials are form-urlencoded first.
      client_id: 'basic-client', client_secret: 'basic s3cr:t/+%&=~',
      token_endpoint_auth_method: 'client_secret_basic', application_type: 'native',
      redirect_uris: loopback, grant_types: userGrants, response_types: ['code'],
    },
    {
      client_id: 'post-client', client_secret: 'post-secret',
      token_endpoint_auth_method: 'client_secret_post', application_type: 'native',
      redirect_uris: loopback, grant_types: userGrants, response_types: ['code'],
    },
    {
      client_id: 'public-client', token_endpoint_auth_method: 'none',
      application_type: 'native', redirect_uris: loopback, grant_types: userGrants,
      response_types: ['code'],
    },
    {
      client_id: 'service-client', client_secret: 'service-secret',
      token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'],
      response_types: [], redirect_uris: [], scope: 'mail',
    },
    {
      client_id: 'dovecot-client', client_secret: 'dovecot-secret',
      token_endpoint_auth_method: 'client_secret_basic', grant_types: [],
      response_types: [], redirect_uris: [],
    },
    ...jwtClients,
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'offline_access', 'email', 'mail'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  pkce: { required: () => true },
  rotateRefreshToken: true,
  features: {
    devInteractions: { enabled: false },
    deviceFlow: { enabled: true },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
  },
  routes: { introspection: '/introspect' },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  extraTokenClaims: (ctx, token) => {
    if (token.accountId) return { username: token.accountId };
    if (token.kind === 'ClientCredentials' && token.clientId === 'jwt-client') {
      return { username: JWT_CLIENT_MAILBOX };
    }
    return undefined;
  },
  findAccount: (ctx, sub) => ({
    accountId: sub,
    claims: () => ({ sub, email: sub, email_verified: true }),
  }),
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    ClientCredentials: 600,
    DeviceCode: 120,
    Grant: 3600,
    IdToken: 3600,
    Interaction: 600,
    RefreshToken: 86400,
    Session: 3600,
  },
  renderError: (ctx, out) => {
    ctx.type = 'text/plain';
    ctx.body = `error: ${out.error}: ${out.error_description || ''}\n`;
  },
});

// Log every request after the provider answered it.
provider.use(async (ctx, next) => {
  await next();
  let clientAuth;
  if (ctx.method === 'POST') {
    if (/^basic /i.test(ctx.get('authorization'))) clientAuth = 'basic';
    else if (ctx.oidc?.params?.client_assertion) clientAuth = 'private_key_jwt';
    else if (ctx.oidc?.params?.client_secret) clientAuth = 'post';
    else if (ctx.oidc?.params?.client_id) clientAuth = 'none';
  }
  log({
    method: ctx.method,
    path: ctx.path,
    status: ctx.status,
    grant_type: ctx.oidc?.params?.grant_type,
    client_id: ctx.oidc?.client?.clientId,
    client_auth: clientAuth,
    error: ctx.body?.error,
    error_description: ctx.body?.error_description,
  });
});
provider.on('server_error', (ctx, err) => log({ server_error: String(err?.stack || err) }));

// The user at the provider's login and consent screens: log in as
// login_hint (or the default user) and allow everything asked for. The
// user denied@example.test refuses instead (access_denied).
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  let result;
  if (params.login_hint === DENYING_USER) {
    result = { error: 'access_denied', error_description: 'the user refused' };
  } else if (prompt.name === 'login') {
    const accountId = typeof params.login_hint === 'string' && params.login_hint
      ? params.login_hint : DEFAULT_USER;
    result = { login: { accountId } };
  } else if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    result = { consent: { grantId: await grant.save() } };
  } else {
    result = { error: 'access_denied', error_description: `unexpected prompt ${prompt.name}` };
  }
  log({ interaction: prompt.name, client_id: params.client_id });
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
server.on('request', (req, res) => {
  if (req.method === 'GET' && req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      log({ interaction_error: String(err) });
      res.statusCode = err instanceof errors.SessionNotFound ? 400 : 500;
      res.setHeader('Content-Type', 'text/plain');
      res.end(`interaction failed: ${err.message}\n`);
    });
    return;
  }
  callback(req, res);
});

const timer = setTimeout(() => {
  log({ exit: 'max-seconds reached' });
  process.exit(0);
}, args.maxSeconds * 1000);
timer.unref();
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => process.exit(0));

const tmp = `${args.portFile}.tmp`;
fs.writeFileSync(tmp, `${port}\n`);
fs.renameSync(tmp, args.portFile);
log({ listening: issuer });
