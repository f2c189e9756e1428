-- Servers keep the principals they have looked up (who a token's user or API client is now) and
-- must forget one as soon as what it was read from changes. Each change that can end or narrow
-- access is announced on the channel "principal_changes" (delivered to every instance when the
-- transaction commits), and also listed in the transaction's setting "app.changed_principals",
-- so the instance that commits it can forget the principal before it answers.
-- Payloads: "u:<user id>" (role, organization, sessions ended by a password change, deletion),
-- "s:<session family id>" (a session ended) and "c:<api client id>" (scopes, revocation, deletion).
CREATE FUNCTION "announce_principal_change"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed text := TG_ARGV[0] || ':'
    || ((CASE TG_OP WHEN 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END) ->> TG_ARGV[1]);
  listed text := coalesce(current_setting('app.changed_principals', true), '');
BEGIN
  PERFORM pg_notify('principal_changes', changed);
  IF position(changed IN listed) = 0 THEN
    PERFORM set_config('app.changed_principals', listed || ' ' || changed, true);
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "users_announce_change"
AFTER UPDATE ON "users" FOR EACH ROW
WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.org_id IS DISTINCT FROM NEW.org_id
  OR OLD.sessions_valid_after IS DISTINCT FROM NEW.sessions_valid_after)
EXECUTE FUNCTION "announce_principal_change"('u', 'id');
--> statement-breakpoint
CREATE TRIGGER "users_announce_delete"
AFTER DELETE ON "users" FOR EACH ROW
EXECUTE FUNCTION "announce_principal_change"('u', 'id');
--> statement-breakpoint
CREATE TRIGGER "api_clients_announce_change"
AFTER UPDATE ON "api_clients" FOR EACH ROW
WHEN (OLD.scopes IS DISTINCT FROM NEW.scopes OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
  OR OLD.org_id IS DISTINCT FROM NEW.org_id)
EXECUTE FUNCTION "announce_principal_change"('c', 'id');
--> statement-breakpoint
CREATE TRIGGER "api_clients_announce_delete"
AFTER DELETE ON "api_clients" FOR EACH ROW
EXECUTE FUNCTION "announce_principal_change"('c', 'id');
--> statement-breakpoint
CREATE TRIGGER "refresh_tokens_announce_revocation"
AFTER UPDATE ON "refresh_tokens" FOR EACH ROW
WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.family_id IS DISTINCT FROM NEW.family_id)
EXECUTE FUNCTION "announce_principal_change"('s', 'family_id');
--> statement-breakpoint
CREATE TRIGGER "refresh_tokens_announce_revoked_insert"
AFTER INSERT ON "refresh_tokens" FOR EACH ROW
WHEN (NEW.revoked_at IS NOT NULL)
EXECUTE FUNCTION "announce_principal_change"('s', 'family_id');
