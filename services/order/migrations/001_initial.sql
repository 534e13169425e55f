-- The caller's delivery addresses.
create table addresses (
  id uuid primary key,
  user_id text not null,
  name text not null,
  surname text not null,
  email text not null,
  phone text not null,
  country text not null,
  city text not null,
  district text not null,
  line1 text not null,
  line2 text,
  zip_code text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index addresses_by_user on addresses (user_id, created_at, id);

-- An order and its checkout saga: `step` is where the saga waits (null once it has ended), and
-- `step_deadline` when that wait times out. `stock_reserved`, `coupon_reserved` and `captured` say
-- what a compensation must undo.
create table orders (
  id uuid primary key,
  user_id text not null,
  idempotency_key text not null,
  request_digest text not null,
  status text not null check (status in ('pending', 'confirmed', 'shipped', 'delivered', 'cancelled')),
  cancellation_reason text,
  lines jsonb not null,
  currency text not null,
  subtotal integer not null,
  discount integer not null,
  total integer not null,
  coupon_code text,
  address jsonb not null,
  payment_method_id text not null,
  step text check (step in ('reserve_stock', 'reserve_coupon', 'charge')),
  step_deadline timestamptz,
  stock_reserved boolean not null default false,
  coupon_reserved boolean not null default false,
  captured boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (user_id, idempotency_key)
);
create index orders_by_user on orders (user_id, created_at desc, id desc);
create index orders_by_status on orders (status, created_at desc, id desc);
create index orders_in_flight on orders (step_deadline) where step is not null;
