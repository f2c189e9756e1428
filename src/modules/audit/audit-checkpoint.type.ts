import { Field, GraphQLISODateTime, ObjectType } from "type-graphql";

@ObjectType({
  description:
    "A signed statement that the organization's audit chain had, at `seq`, the event whose hash is `hash`. Keep it (or its `line`) somewhere the service cannot change: an export that does not contain this checkpoint, or disagrees with it, was altered.",
})
export class AuditCheckpoint {
  @Field(() => String, {
    description: "Seq of the last event it covers, in decimal (it may exceed 32 bits).",
  })
  seq!: string;

  @Field(() => String, { description: "Hash of the chain's event at `seq` (hex SHA-256)." })
  hash!: string;

  @Field(() => GraphQLISODateTime)
  at!: Date;

  @Field(() => String, {
    description: "Hash of the chain's previous checkpoint (64 zeros for the first).",
  })
  previous!: string;

  @Field(() => String, { description: "Id of the signing key: SHA-256 of its public key." })
  keyId!: string;

  @Field(() => String, { description: "Ed25519 signature, base64." })
  signature!: string;

  @Field(() => String, {
    description:
      "The checkpoint as a line of `npm run audit:export` (canonical JSON), byte for byte.",
  })
  line!: string;

  @Field(() => String, {
    nullable: true,
    description:
      "The public key that verifies it (PEM), as `npm run audit:public-key` prints it; null once the service signs with another key. Pin it: trust a key you got from the service once, not anew each time.",
  })
  publicKey!: string | null;
}
