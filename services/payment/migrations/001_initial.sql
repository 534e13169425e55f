-- What the shop keeps of a card. Never its number or CVC: those go to the processor at tokenisation
-- and nowhere else, so this database holds no cardholder data an attacker could charge.
create table payment_methods (
  id text primary key,
  brand text not null check (brand in ('visa', 'mastercard', 'amex', 'discover')),
  last4 text not null check (last4 ~ '^[0-9]{4}$'),
  exp_month smallint not null check (exp_month between 1 and 12),
  exp_year smallint not null,
  holder text not null,
  -- The processor's reference to the card; for the simulated processor, how it treats the card.
  processor_token text not null,
  created_at timestamptz not null default now()
);

-- One payment per order: the order id makes charge and refund idempotent.
create table payments (
  order_id text primary key,
  id uuid not null unique,
  payment_method_id text not null references payment_methods (id),
  amount bigint not null check (amount >= 0),
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  status text not null check (status in ('pending', 'authorized', 'captured', 'failed', 'refunded')),
  failure_reason text check (failure_reason in ('declined', 'insufficient_funds', 'processing_error')),
  failure_detail text,
  -- The processor's id for the payment, from its authorisation on.
  processor_reference text,
  -- Whoever works on the payment with the processor holds it until leased_until, so a duplicate charge
  -- or refund waits instead of calling the processor too; a lease left by a stopped process runs out.
  lease_id uuid,
  leased_until timestamptz,
  -- Milliseconds, like the JavaScript dates that carry it into paging cursors: with microseconds a
  -- cursor would fall just before its own row and pages would repeat it.
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  updated_at timestamptz not null default now(),
  check ((status = 'failed') = (failure_reason is not null and failure_detail is not null)),
  check ((status in ('pending', 'failed')) = (processor_reference is null))
);
create index payments_newest on payments (created_at desc, order_id desc);
create index payments_status_newest on payments (status, created_at desc, order_id desc);

-- A refund returns the whole captured amount; one per payment.
create table refunds (
  order_id text primary key references payments (order_id),
  amount bigint not null check (amount >= 0),
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  processor_reference text not null,
  created_at timestamptz not null default now()
);
