-- Private signing keys are stored sealed: AES-256-GCM under SIGNING_KEY_ENCRYPTION_KEY, which the
-- database never sees, with the key id as additional data. The sealed form is the 12-byte nonce
-- followed by the ciphertext and its tag.
alter table signing_keys add column private_key_sealed bytea;
-- Rows written before this migration keep their clear JWK in private_jwk until identity's next start
-- seals them and clears it; new rows never fill it.
alter table signing_keys alter column private_jwk drop not null;
alter table signing_keys add constraint signing_keys_private_key_stored
  check (private_key_sealed is not null or private_jwk is not null);
