-- A message from a user to a user, or to `support`: the shop's shared inbox, which every admin reads.
create table messages (
  id uuid primary key,
  sender_id text not null,
  receiver_id text not null check (receiver_id <> sender_id),
  subject text not null,
  body text not null,
  -- The receiver's first read (for support, the first admin's), and who that was.
  read_at timestamptz,
  read_by text,
  -- Milliseconds, like the JavaScript dates that carry it into paging cursors: with microseconds a
  -- cursor would fall just before its own row and pages would repeat it.
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  check ((read_at is null) = (read_by is null))
);
create index messages_inbox on messages (receiver_id, created_at desc, id desc);
create index messages_sent on messages (sender_id, created_at desc, id desc);
create index messages_unread on messages (receiver_id) where read_at is null;

-- A message its sender or a receiver removed from their own view; everyone else still sees it.
create table hidden_messages (
  message_id uuid not null references messages (id),
  user_id text not null,
  hidden_at timestamptz not null default now(),
  primary key (message_id, user_id)
);
