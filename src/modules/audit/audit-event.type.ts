import { Field, GraphQLISODateTime, ID, InputType, Int, ObjectType } from "type-graphql";
import { ActorType, AuditOutcome } from "../shared/enums.js";
import { connectionTypes, Node } from "../shared/relay.js";

@ObjectType({
  implements: Node,
  description: "One GraphQL operation, as recorded in the audit log.",
})
export class AuditEvent {
  @Field(() => ID)
  id!: string;

  @Field(() => GraphQLISODateTime)
  at!: Date;

  @Field(() => ActorType)
  actorType!: ActorType;

  @Field(() => ID, { nullable: true, description: "Global id of the User or ApiClient." })
  actorId!: string | null;

  @Field(() => String, { nullable: true })
  operationType!: string | null;

  @Field(() => String, { nullable: true })
  operationName!: string | null;

  @Field(() => AuditOutcome)
  outcome!: AuditOutcome;

  @Field(() => [String])
  errorCodes!: string[];

  @Field(() => [String], {
    description: "Personal-data fields that were resolved, e.g. Customer.email.",
  })
  sensitiveFields!: string[];

  @Field(() => [String])
  deniedFields!: string[];

  @Field(() => String, { nullable: true })
  ip!: string | null;

  @Field(() => String)
  requestId!: string;

  @Field(() => Int)
  durationMs!: number;
}

export const AuditEventConnection = connectionTypes(AuditEvent, "AuditEvent");

@InputType()
export class AuditEventFilter {
  @Field(() => ID, { nullable: true })
  actorId?: string | null;

  @Field(() => AuditOutcome, { nullable: true })
  outcome?: AuditOutcome | null;

  @Field(() => String, { nullable: true })
  operationName?: string | null;
}
