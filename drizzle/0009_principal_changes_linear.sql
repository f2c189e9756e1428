-- Principal changes (0008), announced in time linear in the rows a statement changes, and for
-- every way a row can stop granting what it did. 0008 listed each change in a growing string it
-- searched row by row (a password change ending 12,000 sessions hit the statement timeout), and
-- announced an ended session by its family, where a server now forgets by user.
-- Payloads: "u:<user id>" (role, organization, password change, deletion, any session of the
-- user ended, a session moved to another user), "c:<api client id>" (scopes, revocation,
-- organization, deletion), and "*" (a TRUNCATE: forget every principal). A row whose key changes
-- announces its old key and its new one.
-- The transaction's list ("app.changed_principals") stays short: past 4,000 characters (a mass
-- change, an organization deleted with its users) it becomes "*".
DROP TRIGGER IF EXISTS "users_announce_change" ON "users";
--> statement-breakpoint
DROP TRIGGER IF EXISTS "users_announce_delete" ON "users";
--> statement-breakpoint
DROP TRIGGER IF EXISTS "api_clients_announce_change" ON "api_clients";
--> statement-breakpoint
DROP TRIGGER IF EXISTS "api_clients_announce_delete" ON "api_clients";
--> statement-breakpoint
DROP TRIGGER IF EXISTS "refresh_tokens_announce_revocation" ON "refresh_tokens";
--> statement-breakpoint
DROP TRIGGER IF EXISTS "refresh_tokens_announce_revoked_insert" ON "refresh_tokens";
--> statement-breakpoint
DROP FUNCTION IF EXISTS "announce_principal_change"();
--> statement-breakpoint
CREATE FUNCTION "list_principal_change"(changed text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  listed text := coalesce(current_setting('app.changed_principals', true), '');
BEGIN
  PERFORM pg_notify('principal_changes', changed);
  IF listed = '*' OR position(changed IN listed) > 0 THEN
    RETURN;
  END IF;
  PERFORM set_config('app.changed_principals',
    CASE WHEN changed = '*' OR length(listed) > 4000 THEN '*' ELSE listed || ' ' || changed END,
    true);
END
$$;
--> statement-breakpoint
-- A row trigger: TG_ARGV[0] the payload's prefix, TG_ARGV[1] the column that names the principal.
CREATE FUNCTION "announce_principal_change"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_key text := CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) ->> TG_ARGV[1] END;
  new_key text := CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_jsonb(NEW) ->> TG_ARGV[1] END;
BEGIN
  IF old_key IS NOT NULL THEN
    PERFORM list_principal_change(TG_ARGV[0] || ':' || old_key);
  END IF;
  IF new_key IS NOT NULL AND new_key IS DISTINCT FROM old_key THEN
    PERFORM list_principal_change(TG_ARGV[0] || ':' || new_key);
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE FUNCTION "announce_every_principal"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM list_principal_change('*');
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "users_announce_change"
AFTER UPDATE ON "users" FOR EACH ROW
WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.org_id IS DISTINCT FROM NEW.org_id
  OR OLD.sessions_valid_after IS DISTINCT FROM NEW.sessions_valid_after OR OLD.id IS DISTINCT FROM NEW.id)
EXECUTE FUNCTION "announce_principal_change"('u', 'id');
--> statement-breakpoint
CREATE TRIGGER "users_announce_delete"
AFTER DELETE ON "users" FOR EACH ROW
EXECUTE FUNCTION "announce_principal_change"('u', 'id');
--> statement-breakpoint
CREATE TRIGGER "api_clients_announce_change"
AFTER UPDATE ON "api_clients" FOR EACH ROW
WHEN (OLD.scopes IS DISTINCT FROM NEW.scopes OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
  OR OLD.org_id IS DISTINCT FROM NEW.org_id OR OLD.id IS DISTINCT FROM NEW.id)
EXECUTE FUNCTION "announce_principal_change"('c', 'id');
--> statement-breakpoint
CREATE TRIGGER "api_clients_announce_delete"
AFTER DELETE ON "api_clients" FOR EACH ROW
EXECUTE FUNCTION "announce_principal_change"('c', 'id');
--> statement-breakpoint
CREATE TRIGGER "refresh_tokens_announce_revocation"
AFTER UPDATE ON "refresh_tokens" FOR EACH ROW
WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.family_id IS DISTINCT FROM NEW.family_id
  OR OLD.user_id IS DISTINCT FROM NEW.user_id)
EXECUTE FUNCTION "announce_principal_change"('u', 'user_id');
--> statement-breakpoint
CREATE TRIGGER "refresh_tokens_announce_revoked_insert"
AFTER INSERT ON "refresh_tokens" FOR EACH ROW
WHEN (NEW.revoked_at IS NOT NULL)
EXECUTE FUNCTION "announce_principal_change"('u', 'user_id');
--> statement-breakpoint
CREATE TRIGGER "users_announce_truncate"
AFTER TRUNCATE ON "users" FOR EACH STATEMENT
EXECUTE FUNCTION "announce_every_principal"();
--> statement-breakpoint
CREATE TRIGGER "api_clients_announce_truncate"
AFTER TRUNCATE ON "api_clients" FOR EACH STATEMENT
EXECUTE FUNCTION "announce_every_principal"();
--> statement-breakpoint
CREATE TRIGGER "refresh_tokens_announce_truncate"
AFTER TRUNCATE ON "refresh_tokens" FOR EACH STATEMENT
EXECUTE FUNCTION "announce_every_principal"();
