/*
 * The bare server's SQL: constant statements with bound values, over the application's tables.
 * Personal fields are read from the plaintext copy of the data set (the baseline's: its
 * "_enc" columns hold plaintext there), so nothing is decrypted.
 */

/** Keyset pagination starts after this id when there is no cursor (every UUIDv7 sorts above). */
export const NIL_UUID = "00000000-0000-0000-0000-000000000000";

export interface UserRow {
  id: string;
  displayName: string;
  role: string;
  email: string;
  phone: string | null;
  createdAt: Date;
  lastLoginAt: Date | null;
}

export interface CustomerRow {
  id: string;
  name: string;
  /** JSON { email, phone, dateOfBirth, taxIdLast4 }, plaintext in this copy. */
  contact: string | null;
  taxId: string | null;
  createdById: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface NoteRow {
  id: string;
  customerId: string;
  authorId: string | null;
  body: string;
  private: boolean;
  createdAt: Date;
}

export interface OrganizationRow {
  id: string;
  name: string;
  createdAt: Date;
}

const USER = `id, display_name as "displayName", role, email_enc as email, phone_enc as phone,
  created_at as "createdAt", last_login_at as "lastLoginAt"`;
const CUSTOMER = `id, name, contact_enc as contact, tax_id_enc as "taxId",
  created_by_user_id as "createdById", created_at as "createdAt", updated_at as "updatedAt"`;
const NOTE = `id, customer_id as "customerId", author_id as "authorId", body, private,
  created_at as "createdAt"`;

/** $1 org, $2 ids. */
export const USERS_BY_ID = `select ${USER} from users where org_id = $1 and id = any($2::uuid[])`;

/** $1 org id. */
export const ORGANIZATION = `select id, name, created_at as "createdAt" from organizations
  where id = $1`;

/** $1 org, $2 after id, $3 limit. */
export const CUSTOMERS_PAGE = `select ${CUSTOMER} from customers
  where org_id = $1 and id > $2 order by id limit $3`;

/** $1 org. */
export const CUSTOMER_COUNT = `select count(*)::int as n from customers where org_id = $1`;

/**
 * A page of notes for each of many customers in one statement: $1 customer ids, $2 org,
 * $3 after id, $4 limit, $5 the reader. Private notes show to their author only, as in the
 * product (the other rows a reader sees, not a check: same rows, same page sizes).
 */
export const NOTE_PAGES = `select n.* from unnest($1::uuid[]) as c(id) cross join lateral (
    select ${NOTE} from notes
    where notes.org_id = $2 and notes.customer_id = c.id and notes.id > $3
      and (not notes.private or notes.author_id = $5)
    order by notes.id limit $4
  ) n`;

/** $1 customer ids, $2 org, $3 the reader. */
export const NOTE_COUNTS = `select customer_id as "customerId", count(*)::int as n from notes
  where org_id = $2 and customer_id = any($1::uuid[]) and (not private or author_id = $3)
  group by customer_id`;

/** $1 id, $2 org, $3 name, $4 contact JSON, $5 tax id, $6 creator. */
export const INSERT_CUSTOMER = `insert into customers
  (id, org_id, name, contact_enc, tax_id_enc, created_by_user_id)
  values ($1, $2, $3, $4, $5, $6) returning ${CUSTOMER}`;

/** $1 email. No index on the plaintext column: used only to sign in before the bench starts. */
export const USER_BY_EMAIL = `select id, org_id as "orgId", password_hash as "passwordHash"
  from users where email_enc = $1`;

/**
 * An organization and its first user, an ADMIN, in one statement: $1 org id, $2 org name,
 * $3 user id, $4 display name, $5 email, $6 password hash. email_bidx, the unique key of an
 * email, holds the email itself (lower case): the plain unique column a bare server would have.
 */
export const SIGN_UP = `with org as (
    insert into organizations (id, name) values ($1, $2) returning id
  )
  insert into users (id, org_id, display_name, role, email_enc, email_bidx, password_hash)
  select $3, org.id, $4, 'ADMIN', $5, lower($5), $6 from org
  returning id, org_id as "orgId"`;
