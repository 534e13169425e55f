create table users (
  id uuid primary key,
  username text not null,
  email text not null,
  name text not null,
  surname text not null,
  password_hash text not null,
  roles text[] not null default array['customer'],
  -- Milliseconds, like the JavaScript dates that carry it into paging cursors: with microseconds a
  -- cursor would fall just before its own row and pages would repeat it.
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  updated_at timestamptz not null default now()
);
-- Usernames and emails are unique regardless of case.
create unique index users_username_key on users (lower(username));
create unique index users_email_key on users (lower(email));
create index users_created_at on users (created_at, id);

create table clients (
  id text primary key,
  name text not null,
  -- null for public clients (the storefront), which cannot keep a secret
  secret_hash text,
  grant_types text[] not null,
  scopes text[] not null default '{}',
  created_at timestamptz not null default now()
);

create table refresh_tokens (
  id uuid primary key,
  token_hash text not null unique,
  family_id uuid not null,
  user_id uuid not null references users (id) on delete cascade,
  client_id text not null references clients (id) on delete cascade,
  expires_at timestamptz not null,
  created_at timestamptz not null default now(),
  rotated_at timestamptz,
  revoked_at timestamptz
);
create index refresh_tokens_family on refresh_tokens (family_id);

create table signing_keys (
  kid text primary key,
  alg text not null,
  public_jwk jsonb not null,
  private_jwk jsonb not null,
  created_at timestamptz not null default now(),
  -- A new key is published before it signs, so verifiers holding a cached key set can fetch it in time.
  activates_at timestamptz not null,
  -- when it stops signing; it stays published until the tokens it signed have expired
  retired_at timestamptz
);
-- At most one key signs at a time.
create unique index signing_keys_one_active on signing_keys ((retired_at is null)) where retired_at is null;
