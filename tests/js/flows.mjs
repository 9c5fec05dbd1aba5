// The STS flows through the AWS SDK for JavaScript v3 (run by tests/test_clients_compat.py).
// Reads the fixture JSON named by OPENSTS_COMPAT_FIXTURE, writes the report (same shape as
// every other client's) to OPENSTS_COMPAT_REPORT. Only the endpoint differs from AWS.
import { readFileSync, writeFileSync } from "node:fs";
import {
  STSClient,
  STSServiceException,
  GetCallerIdentityCommand,
  AssumeRoleCommand,
  GetSessionTokenCommand,
  AssumeRoleWithWebIdentityCommand,
  AssumeRoleWithSAMLCommand,
  DecodeAuthorizationMessageCommand,
  ExpiredTokenException,
  InvalidIdentityTokenException,
} from "@aws-sdk/client-sts";
import { IAMClient, GetUserCommand, ListRolesCommand, ListUsersCommand } from "@aws-sdk/client-iam";

const d = JSON.parse(readFileSync(process.env.OPENSTS_COMPAT_FIXTURE, "utf8"));

const keys = (c) => ({
  accessKeyId: c.access_key_id ?? c.AccessKeyId,
  secretAccessKey: c.secret_access_key ?? c.SecretAccessKey,
  sessionToken: c.session_token ?? c.SessionToken,
});
const common = { region: d.region, endpoint: d.endpoint, maxAttempts: 1 };
const sts = (creds, endpoint = d.endpoint) =>
  new STSClient({ ...common, endpoint, ...(creds ? { credentials: keys(creds) } : {}) });
const iam = (creds) => new IAMClient({ ...common, credentials: keys(creds) });
const whoami = async (creds) => (await sts(creds).send(new GetCallerIdentityCommand({}))).Arn;

// The typed error: the modeled exception class if the SDK raised one, else the generic
// service exception's name (= the AWS error code).
const MODELED = { ExpiredTokenException, InvalidIdentityTokenException };
async function typedError(promise) {
  try {
    await promise;
  } catch (e) {
    let typed = null;
    for (const [name, cls] of Object.entries(MODELED)) if (e instanceof cls) typed = name;
    if (!typed) {
      if (!(e instanceof STSServiceException) && !(e?.$metadata && e?.$fault)) throw e;
      typed = e.name;
    }
    // e.name is the wire code for generic errors; Error.Code is in the parsed body as well
    return { code: e.Code ?? e.name, typed };
  }
  throw new Error("the call succeeded");
}

const user = d.user;
const flows = {};
const gci = await sts(user).send(new GetCallerIdentityCommand({}));
flows.get_caller_identity = { Arn: gci.Arn, Account: gci.Account, UserId: gci.UserId };

const ar = d.assume_role;
let out = await sts(user).send(
  new AssumeRoleCommand({
    RoleArn: ar.role_arn,
    RoleSessionName: ar.session_name,
    Tags: ar.tags,
    Policy: ar.policy,
    DurationSeconds: ar.duration_seconds,
  }),
);
const roleCreds = out.Credentials;
await iam(roleCreds).send(new ListRolesCommand({}));
flows.assume_role = {
  Arn: out.AssumedRoleUser.Arn,
  whoami: await whoami(roleCreds),
  list_roles: "ok",
  list_users: (await typedError(iam(roleCreds).send(new ListUsersCommand({})))).code,
};

const m = d.mfa_user;
out = await sts(m).send(new GetSessionTokenCommand({ SerialNumber: m.serial, TokenCode: m.code }));
flows.get_session_token_mfa = { whoami: await whoami(out.Credentials) };

const anon = sts(null);
const w = d.web_identity;
out = await anon.send(
  new AssumeRoleWithWebIdentityCommand({
    RoleArn: w.role_arn,
    RoleSessionName: w.session_name,
    WebIdentityToken: w.token,
  }),
);
flows.web_identity = {
  Arn: out.AssumedRoleUser.Arn,
  SubjectFromWebIdentityToken: out.SubjectFromWebIdentityToken,
  whoami: await whoami(out.Credentials),
};

const s = d.saml;
out = await anon.send(
  new AssumeRoleWithSAMLCommand({ RoleArn: s.role_arn, PrincipalArn: s.principal_arn, SAMLAssertion: s.assertion }),
);
flows.saml = { Arn: out.AssumedRoleUser.Arn, Subject: out.Subject, whoami: await whoami(out.Credentials) };

out = await sts(user).send(new DecodeAuthorizationMessageCommand({ EncodedMessage: d.encoded_message }));
const ctx = JSON.parse(out.DecodedMessage).context;
flows.decode = { action: ctx.action, principal_arn: ctx.principal.arn };

flows.iam_get_user = { Arn: (await iam(user).send(new GetUserCommand({}))).User.Arn };

const t = d.throttled;
const errors = {
  access_denied: await typedError(
    sts(user).send(new AssumeRoleCommand({ RoleArn: d.denied_role_arn, RoleSessionName: "probe" })),
  ),
  expired_token: await typedError(
    anon.send(
      new AssumeRoleWithWebIdentityCommand({ RoleArn: w.role_arn, RoleSessionName: "probe", WebIdentityToken: w.expired_token }),
    ),
  ),
  invalid_identity_token: await typedError(
    anon.send(
      new AssumeRoleWithWebIdentityCommand({ RoleArn: w.role_arn, RoleSessionName: "probe", WebIdentityToken: w.invalid_token }),
    ),
  ),
  expired_session: await typedError(sts(d.expired_session).send(new GetCallerIdentityCommand({}))),
  validation: await typedError(
    sts(user).send(new AssumeRoleCommand({ RoleArn: ar.role_arn, RoleSessionName: "probe", DurationSeconds: 43200 })),
  ),
  throttling: await typedError(sts(t, t.endpoint).send(new GetCallerIdentityCommand({}))),
};

writeFileSync(process.env.OPENSTS_COMPAT_REPORT, JSON.stringify({ flows, errors }, null, 1));
