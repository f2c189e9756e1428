import { GraphQLLocalDate } from "graphql-scalars";

/** YYYY-MM-DD, no time zone (dates of birth). */
export const LocalDateScalar = GraphQLLocalDate;
