import { Field, GraphQLISODateTime, ID, ObjectType } from "type-graphql";
import { Customer } from "../customers/customer.type.js";
import { connectionTypes, Node } from "../shared/relay.js";
import { User } from "../users/user.type.js";

@ObjectType({ implements: Node })
export class Note {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  body!: string;

  @Field(() => Boolean)
  private!: boolean;

  @Field(() => User, { nullable: true })
  author!: User | null;

  @Field(() => Customer, { nullable: true })
  customer!: Customer | null;

  @Field(() => GraphQLISODateTime)
  createdAt!: Date;
}

export const NoteConnection = connectionTypes(Note, "Note");
