import { Field, GraphQLISODateTime, ID, ObjectType } from "type-graphql";
import { Role } from "../shared/enums.js";
import { connectionTypes, Node } from "../shared/relay.js";

@ObjectType({ implements: Node })
export class User {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  displayName!: string;

  @Field(() => Role)
  role!: Role;

  @Field(() => GraphQLISODateTime)
  createdAt!: Date;

  @Field(() => String, { nullable: true })
  email!: string | null;

  @Field(() => String, { nullable: true })
  phone!: string | null;

  @Field(() => GraphQLISODateTime, { nullable: true })
  lastLoginAt!: Date | null;
}

export const UserConnection = connectionTypes(User, "User");
