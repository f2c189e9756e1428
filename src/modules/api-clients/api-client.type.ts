import { Field, GraphQLISODateTime, ID, InputType, ObjectType } from "type-graphql";
import { z } from "zod";
import * as v from "../../graphql/validation.js";
import { Scope } from "../shared/enums.js";
import { Node } from "../shared/relay.js";

@ObjectType({ implements: Node, description: "A partner's machine credentials." })
export class ApiClient {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  name!: string;

  @Field(() => String, {
    description: "Public identifier, sent with the secret to issueClientToken.",
  })
  clientId!: string;

  @Field(() => [Scope])
  scopes!: Scope[];

  @Field(() => GraphQLISODateTime)
  createdAt!: Date;

  @Field(() => GraphQLISODateTime, { nullable: true, description: "To the minute." })
  lastUsedAt!: Date | null;

  @Field(() => GraphQLISODateTime, { nullable: true })
  revokedAt!: Date | null;
}

@ObjectType()
export class ApiClientSecretPayload {
  @Field(() => ApiClient)
  client!: ApiClient;

  @Field(() => String, { description: "Shown once; only a hash is stored." })
  clientSecret!: string;
}

@InputType()
export class CreateApiClientInput {
  @Field(() => String)
  name!: string;

  @Field(() => [Scope])
  scopes!: Scope[];
}

export const createApiClientInput = z.object({
  name: v.name,
  scopes: z.array(z.enum(Scope)).min(1, "must name at least one scope"),
});
