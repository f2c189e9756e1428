import { Field, ID, ObjectType } from "type-graphql";
import { GraphQLISODateTime } from "type-graphql";
import { Node } from "../shared/relay.js";

@ObjectType({ implements: Node })
export class Organization {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  name!: string;

  @Field(() => GraphQLISODateTime)
  createdAt!: Date;
}
