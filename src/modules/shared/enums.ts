import { registerEnumType } from "type-graphql";

export enum Role {
  ADMIN = "ADMIN",
  AGENT = "AGENT",
  VIEWER = "VIEWER",
  AUDITOR = "AUDITOR",
}
registerEnumType(Role, { name: "Role" });

/** GraphQL names the scopes CUSTOMERS_READ…; tokens and the database carry customers:read… */
export enum Scope {
  CUSTOMERS_READ = "customers:read",
  CUSTOMERS_WRITE = "customers:write",
  CUSTOMERS_PII = "customers:pii",
  USERS_READ = "users:read",
  AUDIT_READ = "audit:read",
}
registerEnumType(Scope, {
  name: "Scope",
  description:
    "Scopes granted to partner API clients (carried in tokens as customers:read, customers:write, customers:pii, users:read, audit:read).",
});

export enum ActorType {
  USER = "USER",
  API_CLIENT = "API_CLIENT",
  ANONYMOUS = "ANONYMOUS",
}
registerEnumType(ActorType, { name: "ActorType" });

export enum AuditOutcome {
  SUCCESS = "SUCCESS",
  DENIED = "DENIED",
  ERROR = "ERROR",
  REJECTED = "REJECTED",
}
registerEnumType(AuditOutcome, { name: "AuditOutcome" });
