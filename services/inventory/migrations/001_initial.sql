-- One row per product the shop stocks. The checks are the last line of defence against overselling:
-- whatever a query does, neither count goes negative and no more is reserved than is on hand.
create table stock (
  product_id text primary key,
  on_hand integer not null check (on_hand >= 0),
  reserved integer not null default 0 check (reserved >= 0),
  -- The product left the catalog: its counts stay on record, but nothing more can be reserved.
  retired boolean not null default false,
  updated_at timestamptz not null default now(),
  constraint stock_reserved_within_on_hand check (reserved <= on_hand)
);

-- One row per order that asked to reserve, refused asks included: the order id makes reserve
-- idempotent, and a repeated reserve answers what the first one did.
create table reservation_requests (
  order_id text primary key,
  -- The lines as asked, one per product, sorted by product id.
  lines jsonb not null,
  outcome text not null check (outcome in ('reserved', 'out_of_stock')),
  -- The products that lacked stock, when the outcome is out_of_stock.
  out_of_stock text[] not null default '{}',
  created_at timestamptz not null default now(),
  check ((outcome = 'out_of_stock') = (cardinality(out_of_stock) > 0))
);

-- The stock a successful reserve holds, one row per product; every row of an order moves together.
-- stock.reserved is the sum of the quantities of the rows in status 'reserved'.
create table reservations (
  order_id text not null references reservation_requests (order_id),
  product_id text not null references stock (product_id),
  quantity integer not null check (quantity > 0),
  status text not null check (status in ('reserved', 'committed', 'released')),
  expires_at timestamptz not null,
  updated_at timestamptz not null default now(),
  primary key (order_id, product_id)
);
-- What the expiry sweep looks for.
create index reservations_due on reservations (expires_at) where status = 'reserved';
