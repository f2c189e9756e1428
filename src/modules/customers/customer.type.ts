import { Field, GraphQLISODateTime, ID, ObjectType } from "type-graphql";
import { LocalDateScalar } from "../shared/scalars.js";
import { connectionTypes, Node } from "../shared/relay.js";
import { User } from "../users/user.type.js";

@ObjectType({ implements: Node })
export class Customer {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  name!: string;

  @Field(() => GraphQLISODateTime)
  createdAt!: Date;

  @Field(() => GraphQLISODateTime)
  updatedAt!: Date;

  @Field(() => User, { nullable: true })
  createdBy!: User | null;

  @Field(() => String, { nullable: true })
  email!: string | null;

  @Field(() => String, { nullable: true })
  phone!: string | null;

  @Field(() => LocalDateScalar, { nullable: true })
  dateOfBirth!: string | null;

  @Field(() => String, { nullable: true })
  taxId!: string | null;

  @Field(() => String, { nullable: true })
  taxIdLast4!: string | null;
}

export const CustomerConnection = connectionTypes(Customer, "Customer");
