import type { OperationAudit } from "../../security/audit/operation-audit.js";
import type { BudgetAccount, BucketState, CostBudgets } from "../../security/limits/budget.js";
import type { OperationMeter } from "../../security/limits/meter.js";
import type { Context, OperationState } from "../types.js";

/**
 * The budget side of one operation: its requested cost is taken before it runs (all or
 * nothing), then settled to what it really cost. An operation refused before it was priced (a
 * malformed document, a bad token) still pays the minimum; one the budget refused pays nothing.
 */
export class OperationCharge {
  /** The requested cost, once priced (reported in extensions.cost). */
  requested: number | undefined;
  /** The bucket after the last change, for extensions.cost. */
  state: BucketState | undefined;
  private taken = 0;
  private refused = false;

  /** The points this operation has paid so far (all of it, once settled). */
  get paid(): number {
    return this.taken;
  }
  private settled = false;

  constructor(
    private readonly budgets: CostBudgets,
    readonly account: BudgetAccount,
  ) {}

  /** Takes the requested cost; false, with nothing taken, when the budget cannot pay it. */
  async take(requested: number): Promise<BucketState> {
    this.requested = requested;
    this.state = await this.budgets.apply(this.account, requested, "take");
    if (this.state.allowed) this.taken = requested;
    else this.refused = true;
    return this.state;
  }

  /** The operation was refused for want of points: it will be charged nothing. */
  refuse(): void {
    this.refused = true;
  }

  /**
   * Charges `actual` in all: gives back, or takes, the difference to what was taken. An operation
   * that took nothing before (refused before it was priced) pays its points only if the budget
   * has them: a flood of refusals empties the budget, and is then refused at the door, but never
   * runs it into a debt that would lock its address out for hours.
   */
  async settle(actual: number): Promise<BucketState | undefined> {
    if (this.refused || this.settled) return this.state;
    this.settled = true;
    if (this.taken === 0) {
      this.state = await this.budgets.apply(this.account, actual, "take");
      if (this.state.allowed) this.taken = actual;
    } else if (actual !== this.taken) {
      this.state = await this.budgets.apply(this.account, actual - this.taken, "force");
      this.taken = actual;
    }
    return this.state;
  }
}

/** What the pipeline's stages share about one operation, from its admission to its record. */
export interface OperationRun {
  readonly audit: OperationAudit;
  readonly charge: OperationCharge;
  /** Started when execution starts (the execute stage). */
  meter: OperationMeter | undefined;
  /** The operation type, once Apollo has resolved the operation. */
  type: string | undefined;
}

const runs = new WeakMap<OperationState, OperationRun>();

/** Binds the run to the operation's context (and so to Apollo's copy of it). */
export function bindRun(context: Context, run: OperationRun): Context {
  runs.set(context.operation, run);
  return context;
}

/** The run of the operation this context belongs to (every context the pipeline made has one). */
export const runOf = (context: Context): OperationRun | undefined => runs.get(context.operation);
