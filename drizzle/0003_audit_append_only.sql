-- The audit log is append-only: rows can be inserted, never changed or removed, by anyone
-- who goes through SQL (the application included). Tampering by someone able to drop these
-- triggers is still detected by the hash chain (npm run audit:verify).
INSERT INTO "audit_chain_head" ("id", "seq", "hash")
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000')
ON CONFLICT ("id") DO NOTHING;
--> statement-breakpoint
CREATE FUNCTION "audit_events_refuse_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
--> statement-breakpoint
CREATE TRIGGER "audit_events_no_update_or_delete"
BEFORE UPDATE OR DELETE ON "audit_events"
FOR EACH ROW EXECUTE FUNCTION "audit_events_refuse_change"();
--> statement-breakpoint
CREATE TRIGGER "audit_events_no_truncate"
BEFORE TRUNCATE ON "audit_events"
FOR EACH STATEMENT EXECUTE FUNCTION "audit_events_refuse_change"();
--> statement-breakpoint
-- The chain head only moves forward, and always onto an event that exists with that hash.
CREATE FUNCTION "audit_chain_head_guard"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'UPDATE' THEN
    RAISE EXCEPTION 'audit_chain_head: % is not allowed', TG_OP
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.id <> OLD.id OR NEW.seq < OLD.seq OR NOT EXISTS (
    SELECT 1 FROM "audit_events" WHERE "seq" = NEW.seq AND "hash" = NEW.hash
  ) THEN
    RAISE EXCEPTION 'audit_chain_head may only advance to the last appended event'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "audit_chain_head_guard"
BEFORE UPDATE OR DELETE ON "audit_chain_head"
FOR EACH ROW EXECUTE FUNCTION "audit_chain_head_guard"();
--> statement-breakpoint
CREATE TRIGGER "audit_chain_head_no_truncate"
BEFORE TRUNCATE ON "audit_chain_head"
FOR EACH STATEMENT EXECUTE FUNCTION "audit_chain_head_guard"();
