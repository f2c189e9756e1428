/*
 * Fair shares of one server process: how many operations one principal (a user, an API client,
 * or an anonymous client address) and one tenant (an organization, or an anonymous address) may
 * run at once.
 *
 * A tenant alone may run `perOrganization` operations; while n tenants are active (running or
 * waiting, or done within the last second) each may run perOrganization / n, at least one. So
 * one tenant has the whole share when nobody else needs it, and when others arrive it is cut
 * back to its part: the event loop, the database pool and the cores are split evenly instead of
 * in proportion to who sends most. A principal never runs more than `perPrincipal`.
 *
 * An operation over its share waits behind the operations of its own tenant only, first come
 * first served, for a short while; still waiting then, or with too many already waiting, it is
 * refused. (The model: Kubernetes' API Priority and Fairness, which shares a server's seats
 * between flows; here the flows are tenants.)
 */

import { clientAddressKey } from "../auth-limits.js";

export interface FairShareSettings {
  /** Operations one principal may run at once. */
  perPrincipal: number;
  /** Operations one tenant may run at once while it is the only one active. */
  perOrganization: number;
  /** How long an operation over its share may wait for a slot (0: refused at once). */
  waitMs: number;
}

/** Waiting operations per tenant past which more are refused at once (bounds its memory). */
export const MAX_WAITING_PER_TENANT = 64;
/** A tenant counts as active this long after its last operation ended. */
export const ACTIVE_TENANT_MEMORY_MS = 1_000;

/** Who an operation counts against: its principal, and its organization if it has one. */
export interface ShareKeys {
  principal: string;
  organization: string | undefined;
}

/** The keys of a user or API client (by id and organization), or of an anonymous address. */
export function shareKeysOf(
  who: { kind: "anonymous" } | { kind: "user" | "client"; id: string; orgId: string },
  ip: string,
): ShareKeys {
  if (who.kind === "anonymous") {
    return { principal: `ip:${clientAddressKey(ip)}`, organization: undefined };
  }
  return { principal: `${who.kind}:${who.id}`, organization: who.orgId };
}

interface Waiter {
  principal: string;
  admit(): void;
  timer: NodeJS.Timeout | undefined;
}

interface Tenant {
  active: number;
  readonly waiting: Waiter[];
  /** Since when nothing of the tenant runs or waits; a second later it is forgotten. */
  idleSince: number | undefined;
}

/** Gives the slots back; calling it more than once gives them back once. */
export type Release = () => void;

export class FairShare {
  private readonly tenants = new Map<string, Tenant>();
  private readonly principals = new Map<string, number>();
  /** One timer for all idle tenants (not one per tenant each time it goes idle). */
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly settings: FairShareSettings) {}

  /**
   * Takes a slot for the operation, waiting for it if need be. Resolves to the release, or to
   * undefined when the operation is refused (nothing is held).
   */
  acquire(keys: ShareKeys): Promise<Release | undefined> {
    const tenantKey =
      keys.organization === undefined ? `a:${keys.principal}` : `o:${keys.organization}`;
    const tenant = this.tenantOf(tenantKey);
    if (tenant.waiting.length === 0 && this.eligible(tenant, keys.principal)) {
      return Promise.resolve(this.take(tenantKey, tenant, keys.principal));
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        principal: keys.principal,
        admit: () => {
          clearTimeout(waiter.timer);
          resolve(this.take(tenantKey, tenant, keys.principal));
        },
        timer: undefined,
      };
      tenant.waiting.push(waiter);
      this.dispatchIn(tenant);
      if (!tenant.waiting.includes(waiter)) return; // admitted at once
      const refuse = () => {
        tenant.waiting.splice(tenant.waiting.indexOf(waiter), 1);
        this.idled(tenantKey, tenant);
        resolve(undefined);
      };
      if (this.settings.waitMs === 0 || tenant.waiting.length > MAX_WAITING_PER_TENANT) refuse();
      else waiter.timer = setTimeout(refuse, this.settings.waitMs);
    });
  }

  /** What a tenant and one of its principals hold and wait for (tests, metrics). */
  usage(keys: ShareKeys): { principal: number; tenant: number; waiting: number; share: number } {
    const key = keys.organization === undefined ? `a:${keys.principal}` : `o:${keys.organization}`;
    const tenant = this.tenants.get(key);
    return {
      principal: this.principals.get(keys.principal) ?? 0,
      tenant: tenant?.active ?? 0,
      waiting: tenant?.waiting.length ?? 0,
      share: this.tenantShare(),
    };
  }

  /** What each active tenant may run at once now. */
  private tenantShare(): number {
    return Math.max(1, Math.floor(this.settings.perOrganization / Math.max(1, this.tenants.size)));
  }

  private eligible(tenant: Tenant, principal: string): boolean {
    return (
      tenant.active < this.tenantShare() &&
      (this.principals.get(principal) ?? 0) < this.settings.perPrincipal
    );
  }

  private tenantOf(key: string): Tenant {
    let tenant = this.tenants.get(key);
    if (!tenant) {
      tenant = { active: 0, waiting: [], idleSince: undefined };
      this.tenants.set(key, tenant); // one more active tenant: every share shrinks from now on
    }
    tenant.idleSince = undefined;
    return tenant;
  }

  private take(tenantKey: string, tenant: Tenant, principal: string): Release {
    tenant.active++;
    this.principals.set(principal, (this.principals.get(principal) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      tenant.active--;
      const left = this.principals.get(principal)! - 1;
      if (left > 0) this.principals.set(principal, left);
      else this.principals.delete(principal);
      this.idled(tenantKey, tenant);
      this.dispatch();
    };
  }

  /** A tenant with nothing running or waiting is forgotten a little later (shares grow back). */
  private idled(_key: string, tenant: Tenant): void {
    if (tenant.active > 0 || tenant.waiting.length > 0) return;
    tenant.idleSince = Date.now();
    this.sweeper ??= setTimeout(() => this.sweep(), ACTIVE_TENANT_MEMORY_MS).unref();
  }

  /** Forgets the tenants idle for a second, and admits the waiters their shares now allow. */
  private sweep(): void {
    this.sweeper = undefined;
    const now = Date.now();
    let forgot = false;
    let stillIdle = false;
    for (const [key, tenant] of this.tenants) {
      if (tenant.idleSince === undefined) continue;
      if (now - tenant.idleSince >= ACTIVE_TENANT_MEMORY_MS) {
        this.tenants.delete(key);
        forgot = true;
      } else stillIdle = true;
    }
    if (stillIdle) this.sweeper = setTimeout(() => this.sweep(), ACTIVE_TENANT_MEMORY_MS).unref();
    if (forgot) this.dispatch();
  }

  /** Admits every waiter that fits now. */
  private dispatch(): void {
    for (const tenant of this.tenants.values()) this.dispatchIn(tenant);
  }

  /** Admits the tenant's waiters that fit now, in arrival order. */
  private dispatchIn(tenant: Tenant): void {
    for (let i = 0; i < tenant.waiting.length && tenant.active < this.tenantShare();) {
      const waiter = tenant.waiting[i]!;
      if (!this.eligible(tenant, waiter.principal)) {
        i++; // blocked by its own principal's share: a later waiter of the tenant may go
        continue;
      }
      tenant.waiting.splice(i, 1);
      waiter.admit();
    }
  }
}
