import { backfillNextBlindIndex, finalizeBlindIndex } from "../pii-rotation.js";
import { runPiiCommand } from "./pii-command.js";

/**
 * npm run pii:rotate-blind-index [-- --finalize] [-- --batch-size N]
 * Without --finalize (BLIND_INDEX_KEY_NEXT set): fills email_bidx_next under the next key.
 * With --finalize (the new key now BLIND_INDEX_KEY, no next): moves it into email_bidx.
 * The whole procedure is in docs/personal-data.md.
 */
await runPiiCommand(["finalize"], ({ db, cipher, blindIndex, batchSize, flags }) => {
  const onBatch = (table: string, rows: number) => console.error(`${table}: ${rows} rows`);
  return flags.finalize
    ? finalizeBlindIndex(db, cipher, blindIndex, { batchSize, onBatch })
    : backfillNextBlindIndex(db, cipher, blindIndex, { batchSize, onBatch });
});
