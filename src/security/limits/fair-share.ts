/*
 * Fair shares of one server process: how many operations one principal (a user, an API client,
 * or an anonymous client address) and one organization may run at once. An operation over its
 * share waits, first come first served, behind the operations of the same principal or
 * organization only (a queue per key, never one for everybody), for a short while; still
 * waiting then, or with too many already waiting, it is refused. No key's backlog can delay
 * another key's operations, and no organization can hold the whole database pool.
 */

export interface FairShareSettings {
  /** Operations one principal may run at once. */
  perPrincipal: number;
  /** Operations all the principals of one organization may run at once. */
  perOrganization: number;
  /** How long an operation over its share may wait for a slot (0: refused at once). */
  waitMs: number;
}

/** Waiting operations per key past which more are refused at once (bounds the memory a key holds). */
export const MAX_WAITING_PER_KEY = 64;

/** Who an operation counts against: its principal, and its organization if it has one. */
export interface ShareKeys {
  principal: string;
  organization: string | undefined;
}

interface Waiter {
  admit(): void;
  timer: NodeJS.Timeout | undefined;
}

/** The slots of one key: how many are taken and who waits for one, in arrival order. */
class Gate {
  active = 0;
  readonly waiting: Waiter[] = [];
}

/** Gives the slots back; calling it more than once gives them back once. */
export type Release = () => void;

export class FairShare {
  private readonly gates = new Map<string, Gate>();

  constructor(private readonly settings: FairShareSettings) {}

  /**
   * Takes a slot of the principal and one of its organization, waiting for them if need be.
   * Resolves to the release, or to undefined when the operation is refused (nothing is held).
   */
  async acquire(keys: ShareKeys): Promise<Release | undefined> {
    const { perPrincipal, perOrganization } = this.settings;
    const principal = `p:${keys.principal}`;
    if (!(await this.take(principal, perPrincipal))) return undefined;
    if (keys.organization !== undefined) {
      const organization = `o:${keys.organization}`;
      if (!(await this.take(organization, perOrganization))) {
        this.give(principal);
        return undefined;
      }
      return once(() => {
        this.give(organization);
        this.give(principal);
      });
    }
    return once(() => this.give(principal));
  }

  /** Operations running and waiting for a key (tests, metrics). */
  usage(keys: ShareKeys): { principal: number; organization: number; waiting: number } {
    const principal = this.gates.get(`p:${keys.principal}`);
    const organization = keys.organization ? this.gates.get(`o:${keys.organization}`) : undefined;
    return {
      principal: principal?.active ?? 0,
      organization: organization?.active ?? 0,
      waiting: (principal?.waiting.length ?? 0) + (organization?.waiting.length ?? 0),
    };
  }

  private take(key: string, limit: number): Promise<boolean> | boolean {
    let gate = this.gates.get(key);
    if (!gate) {
      gate = new Gate();
      this.gates.set(key, gate);
    }
    if (gate.active < limit) {
      gate.active++;
      return true;
    }
    if (this.settings.waitMs === 0 || gate.waiting.length >= MAX_WAITING_PER_KEY) return false;
    const queue = gate.waiting;
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        admit: () => {
          clearTimeout(waiter.timer);
          resolve(true);
        },
        timer: setTimeout(() => {
          queue.splice(queue.indexOf(waiter), 1);
          resolve(false);
        }, this.settings.waitMs),
      };
      queue.push(waiter);
    });
  }

  /** Hands the slot to the first waiter of the key, or frees it. */
  private give(key: string): void {
    const gate = this.gates.get(key);
    if (!gate) return;
    const next = gate.waiting.shift();
    if (next) {
      next.admit(); // the slot passes on: active stays the same
      return;
    }
    gate.active--;
    if (gate.active === 0) this.gates.delete(key);
  }
}

function once(release: () => void): Release {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    release();
  };
}
