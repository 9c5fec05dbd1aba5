// A credential chain through the AWS SDK for JavaScript v3, configured only by the profile files
// and the environment (run by tests/test_clients_chains.py). Calls GetCallerIdentity twice and
// writes {"arns": [...], "access_key_ids": [...]} (the key each request was signed with) to
// OPENSTS_COMPAT_REPORT. With OPENSTS_COMPAT_MFA_CODE the profile's mfa_serial is answered with it.
import { writeFileSync } from "node:fs";
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { fromNodeProviderChain } from "@aws-sdk/credential-providers";

const code = process.env.OPENSTS_COMPAT_MFA_CODE;
const client = new STSClient({
  maxAttempts: 1,
  ...(code ? { credentials: fromNodeProviderChain({ mfaCodeProvider: async () => code }) } : {}),
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
