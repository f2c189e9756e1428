-- Signed checkpoints of the audit chains (src/security/audit/checkpoint.ts).
CREATE TABLE "audit_checkpoints" (
	"id" uuid PRIMARY KEY NOT NULL,
	"chain_id" uuid NOT NULL,
	"org_id" uuid,
	"seq" bigint NOT NULL,
	"hash" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"previous" text NOT NULL,
	"key_id" text NOT NULL,
	"signature" text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "audit_checkpoints_chain_id_seq_key" ON "audit_checkpoints" USING btree ("chain_id","seq");--> statement-breakpoint
CREATE UNIQUE INDEX "audit_checkpoints_chain_id_previous_key" ON "audit_checkpoints" USING btree ("chain_id","previous");--> statement-breakpoint
-- Checkpoints are append-only: a signed statement is never edited or withdrawn.
CREATE FUNCTION "audit_checkpoints_refuse_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_checkpoints: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;--> statement-breakpoint
CREATE TRIGGER "audit_checkpoints_no_update_or_delete"
BEFORE UPDATE OR DELETE ON "audit_checkpoints"
FOR EACH ROW EXECUTE FUNCTION "audit_checkpoints_refuse_change"();--> statement-breakpoint
CREATE TRIGGER "audit_checkpoints_no_truncate"
BEFORE TRUNCATE ON "audit_checkpoints"
FOR EACH STATEMENT EXECUTE FUNCTION "audit_checkpoints_refuse_change"();
