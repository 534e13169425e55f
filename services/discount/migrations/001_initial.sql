create table coupons (
  id uuid primary key,
  -- Stored upper-case, so that the unique constraint makes codes unique regardless of case.
  code text not null constraint coupons_code_key unique check (code = upper(code)),
  type text not null check (type in ('percentage', 'fixed')),
  value integer not null check (value > 0),
  min_total integer check (min_total >= 0),
  valid_from timestamptz,
  valid_until timestamptz,
  usage_limit integer check (usage_limit > 0),
  per_user_limit integer check (per_user_limit > 0),
  active boolean not null,
  -- Milliseconds, like the JavaScript dates that carry it into paging cursors: with microseconds a
  -- cursor would fall just before its own row and pages would repeat it.
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  updated_at timestamptz not null default now(),
  check (type <> 'percentage' or value <= 100),
  check (valid_from < valid_until)
);
create index coupons_created_at on coupons (created_at, id);

-- One row per order that asked for a coupon, rejected asks included: the order id makes reserve,
-- commit and release idempotent, and a repeated reserve answers what the first one did.
create table redemptions (
  order_id text primary key,
  -- null for an unknown code, and once the coupon is deleted (the order keeps its record)
  coupon_id uuid references coupons (id) on delete set null,
  code text not null,
  user_id text not null,
  subtotal jsonb not null,
  status text not null check (status in ('reserved', 'committed', 'released', 'rejected')),
  -- the validation result the reservation answered
  result jsonb not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
-- The uses that count against a coupon's limits.
create index redemptions_uses on redemptions (coupon_id, user_id) where status in ('reserved', 'committed');
