import { Field, InputType } from "type-graphql";
import { z } from "zod";
import * as v from "../../graphql/validation.js";
import { LocalDateScalar } from "../shared/scalars.js";

@InputType()
export class CustomerFilter {
  @Field(() => String, {
    nullable: true,
    description: "Exact match, case-insensitive, on the (encrypted) email.",
  })
  email?: string | null;

  @Field(() => String, { nullable: true, description: "Case-insensitive substring of the name." })
  nameContains?: string | null;
}

export const customerFilter = z
  .object({
    email: v.lineText(254).nullish(),
    nameContains: v.lineText(200).min(1, "must not be empty").nullish(),
  })
  .nullish();

@InputType()
export class CustomerInput {
  @Field(() => String)
  name!: string;

  @Field(() => String, { nullable: true })
  email?: string | null;

  @Field(() => String, { nullable: true })
  phone?: string | null;

  @Field(() => LocalDateScalar, { nullable: true })
  dateOfBirth?: string | null;

  @Field(() => String, { nullable: true })
  taxId?: string | null;
}

export const customerInput = z.object({
  name: v.name,
  email: v.email.nullish(),
  phone: v.phone.nullish(),
  dateOfBirth: v.dateOfBirth.nullish(),
  taxId: v.taxId.nullish(),
});

@InputType({
  description: "Fields to change; an omitted field is kept, null clears it (except name).",
})
export class CustomerPatch {
  @Field(() => String, { nullable: true })
  name?: string | null;

  @Field(() => String, { nullable: true })
  email?: string | null;

  @Field(() => String, { nullable: true })
  phone?: string | null;

  @Field(() => LocalDateScalar, { nullable: true })
  dateOfBirth?: string | null;

  @Field(() => String, { nullable: true })
  taxId?: string | null;
}

export const customerPatch = z.object({
  name: v.name.optional(),
  email: v.email.nullish(),
  phone: v.phone.nullish(),
  dateOfBirth: v.dateOfBirth.nullish(),
  taxId: v.taxId.nullish(),
});

export type CustomerFields = z.output<typeof customerPatch>;
