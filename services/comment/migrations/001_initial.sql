-- Product reviews. A customer writes at most one per product; the constraint, not a check before
-- the insert, is what holds under concurrent submits.
create table reviews (
  id uuid primary key,
  -- The order reviews were written in: the lists' order and their paging cursors. Timestamps can tie
  -- (two reviews in one millisecond), and a tie broken by a random id would show them out of order.
  seq bigint generated always as identity unique,
  -- a catalog product id (a UUID), lower-case as the catalog writes it, so it matches order lines
  product_id text not null,
  user_id text not null,
  author_name text not null,
  rating smallint not null check (rating between 1 and 5),
  title text not null,
  text text not null,
  status text not null check (status in ('pending', 'approved', 'rejected')),
  rejection_reason text check (status = 'rejected' or rejection_reason is null),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  moderated_at timestamptz,
  constraint reviews_one_per_customer unique (product_id, user_id)
);
-- The public list in both of its orders, and the rating summary: approved reviews only.
create index reviews_approved_newest on reviews (product_id, seq desc) where status = 'approved';
create index reviews_approved_best on reviews (product_id, rating desc, seq desc) where status = 'approved';
create index reviews_by_user on reviews (user_id, seq);
create index reviews_by_status on reviews (status, seq);

-- Orders the order service confirmed, as far as reviews care: who ordered, and whether the order
-- has since been cancelled. A cancellation may arrive before the confirmation it follows (a
-- redelivery, a retry): the row remembers it, so the late confirmation adds no purchases.
create table orders (
  order_id text primary key,
  user_id text not null,
  status text not null check (status in ('confirmed', 'cancelled')),
  updated_at timestamptz not null default now()
);

-- The products of confirmed orders that were not cancelled: what makes a review a verified purchase.
create table purchases (
  order_id text not null references orders (order_id) on delete cascade,
  product_id text not null,
  user_id text not null,
  primary key (order_id, product_id)
);
create index purchases_by_customer on purchases (user_id, product_id);
