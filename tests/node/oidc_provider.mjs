// A real OpenID provider for the single sign-on tests (tests/auth/test_oidc.py): the certified
// `oidc-provider` package, configured here. Usage:
//   node oidc_provider.mjs <port> <redirect_uri>[,<redirect_uri>...]
// Prints "listening <issuer>" once it serves. Confidential clients share the redirect URIs:
// "starguide" (what the app is configured with), "intruder" (a second client, whose ID
// tokens carry another audience), "poster" (client_secret_post) and "odd" (a secret that needs
// form-encoding in client_secret_basic). Sign-in uses the package's development interactions (a login
// form whose "login" field is the account id, then a consent form). Accounts and their claims
// are set by the tests with `PUT /_test/accounts/<id>` and a JSON body of claims; an unknown
// account signs in with only `sub`.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const redirectUris = (process.argv[3] || '').split(',').filter(Boolean);
if (!port || redirectUris.length === 0) {
  console.error('usage: node oidc_provider.mjs <port> <redirect_uri>[,<redirect_uri>...]');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const accounts = new Map();

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key-1', use: 'sig', alg: 'RS256' };

const client = (clientId, authMethod = 'client_secret_basic', secret = `${clientId}-secret`) => ({
  client_id: clientId,
  client_secret: secret,
  redirect_uris: redirectUris,
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: authMethod,
});

const provider = new Provider(issuer, {
  clients: [
    client('starguide'),
    client('intruder'),
    // Registered for client_secret_post only (as some providers register clients by default).
    client('poster', 'client_secret_post'),
    // A secret with characters that client_secret_basic must form-encode (RFC 6749 §2.3.1).
    client('odd', 'client_secret_basic', 'odd+secret/with:%and space'),
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['oidc-test-cookie-key'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { ...(accounts.get(sub) || {}), sub };
      },
    };
  },
});

// Test hook: set an account's claims before a login.
provider.use(async (ctx, next) => {
  const match = /^\/_test\/accounts\/([^/]+)$/.exec(ctx.path);
  if (!match || ctx.method !== 'PUT') {
    await next();
    return;
  }
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  accounts.set(decodeURIComponent(match[1]), JSON.parse(Buffer.concat(chunks).toString() || '{}'));
  ctx.status = 204;
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
