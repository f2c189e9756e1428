import { rotateFieldKeys } from "../pii-rotation.js";
import { runPiiCommand } from "./pii-command.js";

/** npm run pii:rotate [-- --batch-size N]: re-encrypts every value not under PII_ACTIVE_KEY. */
await runPiiCommand([], ({ db, cipher, batchSize }) => {
  console.error(`re-encrypting personal data under key ${cipher.activeKeyId}`);
  return rotateFieldKeys(db, cipher, {
    batchSize,
    onBatch: (table, rows) => console.error(`${table}: ${rows} rows re-encrypted`),
  });
});
