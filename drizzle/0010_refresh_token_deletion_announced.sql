-- A session's access tokens are served only while its refresh-token family has a row of the
-- user's (src/security/principal.ts): deleting those rows, by hand or by a cleanup job, ends the
-- session. The deletion is announced like a revocation, so that every server forgets the
-- user's kept principals at once.
CREATE TRIGGER "refresh_tokens_announce_delete"
AFTER DELETE ON "refresh_tokens" FOR EACH ROW
EXECUTE FUNCTION "announce_principal_change"('u', 'user_id');
