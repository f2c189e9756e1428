-- A hash chain per organization (and one for events without one) instead of one for all.
-- The events written before form the legacy chain: they keep their seqs and their hashes, and
-- are verified as they were written (src/security/audit/chain.ts, LEGACY_CHAIN).
CREATE TABLE "audit_chains" (
	"chain_id" uuid PRIMARY KEY NOT NULL,
	"seq" bigint NOT NULL,
	"prev_hash" text NOT NULL,
	"hash" text NOT NULL
);
--> statement-breakpoint
-- A constant default fills the existing rows without rewriting them (no UPDATE is run, so the
-- append-only triggers are not involved); new rows always name their chain.
ALTER TABLE "audit_events" ADD COLUMN "chain_id" uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000001';--> statement-breakpoint
ALTER TABLE "audit_events" ALTER COLUMN "chain_id" DROP DEFAULT;--> statement-breakpoint
INSERT INTO "audit_chains" ("chain_id", "seq", "prev_hash", "hash")
SELECT '00000000-0000-0000-0000-000000000001', h."seq", e."prev_hash", h."hash"
FROM "audit_chain_head" h JOIN "audit_events" e ON e."seq" = h."seq"
WHERE h."id" = 1 AND h."seq" > 0;--> statement-breakpoint
DROP TABLE "audit_chain_head" CASCADE;--> statement-breakpoint
DROP FUNCTION "audit_chain_head_guard"();--> statement-breakpoint
DROP INDEX "audit_events_seq_key";--> statement-breakpoint
DROP INDEX "audit_events_org_id_seq_idx";--> statement-breakpoint
CREATE UNIQUE INDEX "audit_events_chain_id_seq_key" ON "audit_events" USING btree ("chain_id","seq");--> statement-breakpoint
CREATE INDEX "audit_events_org_id_at_id_idx" ON "audit_events" USING btree ("org_id","at","id");--> statement-breakpoint
-- A chain's head only moves forward, and always onto an event of that chain that exists with
-- that hash. Checked at commit: an append moves the head and inserts its event in one statement.
CREATE FUNCTION "audit_chains_guard"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- a chain's head before its first event (a batch writer creates it, then moves it)
  IF NEW."seq" = 0 AND NEW."hash" = repeat('0', 64) AND TG_OP = 'INSERT' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' AND (NEW."chain_id" <> OLD."chain_id" OR NEW."seq" < OLD."seq") THEN
    RAISE EXCEPTION 'audit_chains: a chain head only moves forward'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NOT EXISTS (
    SELECT 1 FROM "audit_events"
    WHERE "chain_id" = NEW."chain_id" AND "seq" = NEW."seq" AND "hash" = NEW."hash"
  ) THEN
    RAISE EXCEPTION 'audit_chains: a chain head must be its last appended event'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE CONSTRAINT TRIGGER "audit_chains_guard"
AFTER INSERT OR UPDATE ON "audit_chains"
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION "audit_chains_guard"();--> statement-breakpoint
CREATE FUNCTION "audit_chains_refuse_removal"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_chains: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;--> statement-breakpoint
CREATE TRIGGER "audit_chains_no_delete"
BEFORE DELETE ON "audit_chains"
FOR EACH ROW EXECUTE FUNCTION "audit_chains_refuse_removal"();--> statement-breakpoint
CREATE TRIGGER "audit_chains_no_truncate"
BEFORE TRUNCATE ON "audit_chains"
FOR EACH STATEMENT EXECUTE FUNCTION "audit_chains_refuse_removal"();
