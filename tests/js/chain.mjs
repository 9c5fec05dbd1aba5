// A credential chain through the AWS SDK for JavaScript v3, configured only by the profile files
// and the environment (run by tests/test_clients_chains.py). Calls GetCallerIdentity twice and
// writes {"arns": [...], "access_key_ids": [...]} (the key each request was signed with) to
// OPENSTS_COMPAT_REPORT. With OPENSTS_COMPAT_MFA_CODE the profile's mfa_serial is answered with it.
// With OPENSTS_COMPAT_CLOCK_AHEAD_SECS the process clock (Date.now) runs that far ahead, so a
// fresh session is already inside the SDK's refresh window (5 minutes before expiry); the
// signers are told the offset (systemClockOffset), so requests still carry the real time.
import { writeFileSync } from "node:fs";
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { fromNodeProviderChain } from "@aws-sdk/credential-providers";

const code = process.env.OPENSTS_COMPAT_MFA_CODE;
const ahead = Number(process.env.OPENSTS_COMPAT_CLOCK_AHEAD_SECS ?? 0) * 1000;
if (ahead) {
  const realNow = Date.now;
  Date.now = () => realNow() + ahead;
}
const clock = ahead ? { systemClockOffset: -ahead } : {};
// The default chain; clientConfig reaches the STS client the chain itself uses to assume roles.
const chainInit = { clientConfig: clock, ...(code ? { mfaCodeProvider: async () => code } : {}) };
const client = new STSClient({
  maxAttempts: 1,
  ...clock,
  ...(code || ahead ? { credentials: fromNodeProviderChain(chainInit) } : {}),
});
const signedWith = [];
client.middlewareStack.add(
  (next) => async (args) => {
    const auth = args.request.headers.authorization ?? args.request.headers.Authorization ?? "";
    signedWith.push((auth.split("Credential=")[1] ?? "").split("/")[0]);
    return next(args);
  },
  { step: "deserialize", name: "signedWith" },
);
const arns = [];
for (let i = 0; i < 2; i++) arns.push((await client.send(new GetCallerIdentityCommand({}))).Arn);
writeFileSync(process.env.OPENSTS_COMPAT_REPORT, JSON.stringify({ arns, access_key_ids: signedWith }));
