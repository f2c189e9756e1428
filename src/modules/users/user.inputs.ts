import { Field, InputType } from "type-graphql";
import { z } from "zod";
import * as v from "../../graphql/validation.js";
import { Role } from "../shared/enums.js";

@InputType()
export class CreateUserInput {
  @Field(() => String)
  displayName!: string;

  @Field(() => String)
  email!: string;

  @Field(() => String)
  password!: string;

  @Field(() => Role)
  role!: Role;

  @Field(() => String, { nullable: true })
  phone?: string | null;
}

export const createUserInput = z.object({
  displayName: v.name,
  email: v.email,
  password: v.password,
  role: z.enum(Role),
  phone: v.phone.nullish(),
});

@InputType()
export class UpdateMeInput {
  @Field(() => String, { nullable: true })
  displayName?: string | null;

  @Field(() => String, { nullable: true, description: "null removes the phone number." })
  phone?: string | null;
}

export const updateMeInput = z.object({
  displayName: v.name.optional(),
  phone: v.phone.nullish(),
});
