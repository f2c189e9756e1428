import { type ClassType, Field, ID, Int, InterfaceType, ObjectType } from "type-graphql";

/** Rows handed to Node-typed fields carry their GraphQL type name, as graphql-js expects. */
@InterfaceType("Node", { resolveType: (value: { __typename?: string }) => value.__typename })
export abstract class Node {
  @Field(() => ID)
  id!: string;
}

@ObjectType()
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true })
  endCursor!: string | null;
}

/** XConnection and XEdge for a node type, in the Relay shape of the contract. */
export function connectionTypes<T extends object>(nodeType: ClassType<T>, typeName: string) {
  @ObjectType(`${typeName}Edge`)
  class Edge {
    @Field(() => String)
    cursor!: string;

    @Field(() => nodeType)
    node!: T;
  }

  @ObjectType(`${typeName}Connection`)
  class Connection {
    @Field(() => [Edge])
    edges!: Edge[];

    @Field(() => [nodeType])
    nodes!: T[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;

    /** Counted only when asked for: one more statement, so not for every page. */
    countTotal!: () => Promise<number>;

    @Field(() => Int)
    totalCount(): Promise<number> {
      return this.countTotal();
    }
  }

  return Connection;
}
