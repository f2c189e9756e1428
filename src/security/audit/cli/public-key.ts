import { publicKeyPem } from "../signing.js";
import { configuredServer, runCommand } from "./arguments.js";

/** npm run audit:public-key: the PEM public key of AUDIT_SIGNING_KEY, for auditors to verify with. */
await runCommand("audit:public-key", () => {
  process.stdout.write(publicKeyPem(configuredServer().audit.signingKey));
  return Promise.resolve(0);
});
