import bcrypt from "bcrypt";
import DataLoader from "dataloader";
import { GraphQLError, type GraphQLFieldResolver } from "graphql";
import { uuidv7 } from "../../../src/db/uuidv7.js";
import {
  CUSTOMER_COUNT,
  CUSTOMERS_PAGE,
  type CustomerRow,
  INSERT_CUSTOMER,
  NIL_UUID,
  NOTE_COUNTS,
  NOTE_PAGES,
  type NoteRow,
  ORGANIZATION,
  type OrganizationRow,
  SIGN_UP,
  USER_BY_EMAIL,
  USERS_BY_ID,
  type UserRow,
} from "./queries.js";
import type { BareSql } from "./sql.js";
import type { BareTokens, Viewer } from "./tokens.js";

/*
 * The bare server's resolvers: only what the bench's operations touch, written as a user of
 * graphql-js, postgres-js and DataLoader would write them. The signed-in user is whoever the
 * verified token names; there is no other check, no validation beyond GraphQL's own types, no
 * limit, no audit and no encryption.
 */

export interface BareContext {
  viewer: Viewer | undefined;
  loaders: Loaders;
}

type Resolver = GraphQLFieldResolver<any, BareContext, any>;
/** Resolvers by type and field, attached to the schema built from the SDL. */
export type ResolverMap = Record<string, Record<string, Resolver>>;

const error = (message: string, code: string, status: number) =>
  new GraphQLError(message, { extensions: { code, http: { status } } });

function signedIn(ctx: BareContext): Viewer {
  if (!ctx.viewer) throw error("Sign in first", "UNAUTHENTICATED", 200);
  return ctx.viewer;
}

const globalId = (type: string) => (row: { id: string }) =>
  Buffer.from(`${type}:${row.id}`, "utf8").toString("base64url");
const cursorOf = (id: string) => Buffer.from(`c1:${id}`, "utf8").toString("base64url");

function afterId(after: string | null | undefined): string {
  if (after == null) return NIL_UUID;
  const decoded = Buffer.from(after, "base64url").toString("utf8");
  if (!decoded.startsWith("c1:")) throw error("after is not a valid cursor", "BAD_USER_INPUT", 200);
  return decoded.slice(3);
}

/** A connection from up to limit + 1 rows (the extra one only says there is a next page). */
function connection<T extends { id: string }>(
  rows: T[],
  limit: number,
  totalCount: () => Promise<number>,
) {
  const nodes = rows.slice(0, limit);
  return {
    nodes,
    edges: () => nodes.map((node) => ({ cursor: cursorOf(node.id), node })),
    pageInfo: () => ({
      hasNextPage: rows.length > limit,
      endCursor: nodes.length > 0 ? cursorOf(nodes.at(-1)!.id) : null,
    }),
    totalCount,
  };
}

export interface Loaders {
  user: DataLoader<string, UserRow | undefined>;
  /** One loader of note pages per page shape (first, after) the operation asks for. */
  notePage(limit: number, after: string): DataLoader<string, NoteRow[]>;
  noteCount: DataLoader<string, number>;
}

/** The loaders of one request: users and notes of many rows in one statement each. */
export function createLoaders(sql: BareSql, viewer: Viewer | undefined): Loaders {
  const orgId = viewer?.orgId ?? NIL_UUID;
  const readerId = viewer?.userId ?? NIL_UUID;
  const pages = new Map<string, DataLoader<string, NoteRow[]>>();
  return {
    user: new DataLoader(async (ids) => {
      const rows = await sql.rows<UserRow>(USERS_BY_ID, [orgId, ids]);
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id));
    }),
    notePage(limit, after) {
      const key = `${limit}:${after}`;
      let loader = pages.get(key);
      if (!loader) {
        loader = new DataLoader(async (customerIds) => {
          const rows = await sql.rows<NoteRow>(NOTE_PAGES, [
            customerIds,
            orgId,
            after,
            limit + 1,
            readerId,
          ]);
          const byCustomer = new Map<string, NoteRow[]>(customerIds.map((id) => [id, []]));
          for (const row of rows) byCustomer.get(row.customerId)?.push(row);
          return customerIds.map((id) => byCustomer.get(id)!);
        });
        pages.set(key, loader);
      }
      return loader;
    },
    noteCount: new DataLoader(async (customerIds) => {
      const rows = await sql.rows<{ customerId: string; n: number }>(NOTE_COUNTS, [
        customerIds,
        orgId,
        readerId,
      ]);
      const counts = new Map(rows.map((row) => [row.customerId, row.n]));
      return customerIds.map((id) => counts.get(id) ?? 0);
    }),
  };
}

interface Contact {
  email: string | null;
  phone: string | null;
  dateOfBirth: string | null;
  taxIdLast4: string | null;
}
const NO_CONTACT: Contact = { email: null, phone: null, dateOfBirth: null, taxIdLast4: null };
/** Parsed once per row, whichever of its fields the operation selects. */
const contacts = new WeakMap<CustomerRow, Contact>();
function contactOf(row: CustomerRow): Contact {
  let contact = contacts.get(row);
  if (!contact) {
    contact = row.contact === null ? NO_CONTACT : (JSON.parse(row.contact) as Contact);
    contacts.set(row, contact);
  }
  return contact;
}

interface CustomerInput {
  name: string;
  email?: string | null;
  phone?: string | null;
  dateOfBirth?: string | null;
  taxId?: string | null;
}

export function bareResolvers(sql: BareSql, tokens: BareTokens, bcryptRounds: number): ResolverMap {
  const contactField = (field: keyof Contact) => (row: CustomerRow) => contactOf(row)[field];

  return {
    Query: {
      me: (_root, _args, ctx: BareContext) => ctx.loaders.user.load(signedIn(ctx).userId),
      organization: async (_root, _args, ctx: BareContext) => {
        const [row] = await sql.rows<OrganizationRow>(ORGANIZATION, [signedIn(ctx).orgId]);
        return row;
      },
      customers: async (_root, args: { first: number; after?: string | null }, ctx) => {
        const { orgId } = signedIn(ctx);
        const rows = await sql.rows<CustomerRow>(CUSTOMERS_PAGE, [
          orgId,
          afterId(args.after),
          args.first + 1,
        ]);
        return connection(rows, args.first, async () => {
          const [count] = await sql.rows<{ n: number }>(CUSTOMER_COUNT, [orgId]);
          return count!.n;
        });
      },
    },
    Mutation: {
      createCustomer: async (_root, { input }: { input: CustomerInput }, ctx) => {
        const viewer = signedIn(ctx);
        const id = uuidv7();
        const contact: Contact = {
          email: input.email ?? null,
          phone: input.phone ?? null,
          dateOfBirth: input.dateOfBirth ?? null,
          taxIdLast4: input.taxId?.slice(-4) ?? null,
        };
        const [row] = await sql.rows<CustomerRow>(INSERT_CUSTOMER, [
          id,
          viewer.orgId,
          input.name,
          JSON.stringify(contact),
          input.taxId ?? null,
          viewer.userId,
        ]);
        return row;
      },
      logIn: async (_root, args: { email: string; password: string }) => {
        const [user] = await sql.rows<{ id: string; orgId: string; passwordHash: string }>(
          USER_BY_EMAIL,
          [args.email],
        );
        if (!user || !(await bcrypt.compare(args.password, user.passwordHash))) {
          throw error("Wrong email or password", "UNAUTHENTICATED", 200);
        }
        return tokens.sign(user.id, user.orgId);
      },
      signUp: async (
        _root,
        {
          input,
        }: { input: Record<"organizationName" | "displayName" | "email" | "password", string> },
      ) => {
        const passwordHash = await bcrypt.hash(input.password, bcryptRounds);
        const [user] = await sql.rows<{ id: string; orgId: string }>(SIGN_UP, [
          uuidv7(),
          input.organizationName,
          uuidv7(),
          input.displayName,
          input.email,
          passwordHash,
        ]);
        return tokens.sign(user!.id, user!.orgId);
      },
    },
    User: { id: globalId("User") },
    Organization: { id: globalId("Organization") },
    Customer: {
      id: globalId("Customer"),
      email: contactField("email"),
      phone: contactField("phone"),
      dateOfBirth: contactField("dateOfBirth"),
      taxIdLast4: contactField("taxIdLast4"),
      createdBy: (row: CustomerRow, _args, ctx: BareContext) =>
        row.createdById ? ctx.loaders.user.load(row.createdById) : null,
      notes: (row: CustomerRow, args: { first: number; after?: string | null }, ctx) =>
        ctx.loaders
          .notePage(args.first, afterId(args.after))
          .load(row.id)
          .then((rows) => connection(rows, args.first, () => ctx.loaders.noteCount.load(row.id))),
    },
    Note: {
      id: globalId("Note"),
      author: (row: NoteRow, _args, ctx: BareContext) =>
        row.authorId ? ctx.loaders.user.load(row.authorId) : null,
    },
  };
}
