create table carriers (
  id uuid primary key,
  name text not null,
  phone text,
  website text,
  active boolean not null,
  -- Milliseconds, like the JavaScript dates that carry it into paging cursors: with microseconds a
  -- cursor would fall just before its own row and pages would repeat it.
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  updated_at timestamptz not null default now()
);
-- Names are unique regardless of case, so "swift parcel" cannot sit beside "Swift Parcel".
create unique index carriers_name_key on carriers (lower(name));
create index carriers_created_at on carriers (created_at, id);

-- Turns of the round-robin over active carriers. A sequence hands every new shipment a number of its
-- own without a lock, however many consumers create shipments at once.
create sequence carrier_turns;

create table shipments (
  id uuid primary key,
  -- One shipment per order, whichever delivery of its confirmation comes first.
  order_id text not null constraint shipments_order_id_key unique,
  user_id text not null,
  tracking_code text not null constraint shipments_tracking_code_key unique,
  -- No cascade: a carrier with shipments stays, deactivated.
  carrier_id uuid not null references carriers (id),
  status text not null check (status in (
    'created', 'picked_up', 'in_transit', 'out_for_delivery', 'delivered', 'returned', 'cancelled')),
  sender jsonb not null,
  receiver jsonb not null,
  lines jsonb not null,
  -- Set by the service's clock, in milliseconds, like the tracking events it is compared with.
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index shipments_newest on shipments (created_at desc, id desc);
create index shipments_by_status on shipments (status, created_at desc, id desc);
create index shipments_by_carrier on shipments (carrier_id);

-- A shipment's history, its creation first; `seq` keeps the order events were recorded in.
create table tracking_events (
  seq bigint generated always as identity primary key,
  shipment_id uuid not null references shipments (id),
  status text not null check (status in (
    'created', 'picked_up', 'in_transit', 'out_for_delivery', 'delivered', 'returned', 'cancelled')),
  occurred_at timestamptz not null,
  place text not null,
  note text,
  recorded_at timestamptz not null default now()
);
create index tracking_events_by_shipment on tracking_events (shipment_id, seq);

-- Orders cancelled before their confirmation reached the service (it was parked and replayed later,
-- say): their confirmation creates no shipment when it comes.
create table cancelled_orders (
  order_id text primary key,
  recorded_at timestamptz not null default now()
);
