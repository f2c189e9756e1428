ALTER TABLE "customers" ADD COLUMN "email_bidx_next" text;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "email_bidx_next" text;--> statement-breakpoint
CREATE INDEX "customers_org_id_email_bidx_next_idx" ON "customers" USING btree ("org_id","email_bidx_next");--> statement-breakpoint
CREATE UNIQUE INDEX "users_email_bidx_next_key" ON "users" USING btree (coalesce("email_bidx_next", "email_bidx"));--> statement-breakpoint
CREATE INDEX "users_email_bidx_next_idx" ON "users" USING btree ("email_bidx_next");