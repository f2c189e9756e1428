import { Field, InputType, Int, ObjectType } from "type-graphql";
import { z } from "zod";
import * as v from "../../graphql/validation.js";
import { Scope } from "../shared/enums.js";
import { User } from "../users/user.type.js";

@ObjectType()
export class AuthPayload {
  @Field(() => String)
  accessToken!: string;

  @Field(() => String)
  refreshToken!: string;

  @Field(() => Int, { description: "Seconds until the access token expires." })
  expiresIn!: number;

  @Field(() => User)
  user!: User;
}

@ObjectType()
export class ClientTokenPayload {
  @Field(() => String)
  accessToken!: string;

  @Field(() => Int)
  expiresIn!: number;

  @Field(() => [Scope])
  scopes!: Scope[];
}

@InputType()
export class SignUpInput {
  @Field(() => String)
  organizationName!: string;

  @Field(() => String)
  displayName!: string;

  @Field(() => String)
  email!: string;

  @Field(() => String)
  password!: string;
}

export const signUpInput = z.object({
  organizationName: v.name,
  displayName: v.name,
  email: v.email,
  password: v.password,
});
