-- Recent failed sign-ins per login name, shared by every identity instance. The name is kept as the
-- SHA-256 of its lower-cased form: the same key for every spelling that reaches one account (the lookup
-- compares lower-cased too), a fixed size whatever a client sends, and no stored copy of what people
-- type into the username field (sometimes their password).
create table sign_in_failures (
  login_hash bytea primary key,
  failures integer not null,
  last_failure_at timestamptz not null,
  locked_until timestamptz
);
-- Names not tried for a day are forgotten by a periodic sweep.
create index sign_in_failures_last_failure_at on sign_in_failures (last_failure_at);
