/** What identity makes sure exists at every start: the OAuth clients and the configured admin. */
import { sha256Hex } from "@multishop/kit/digest";
import type { Logger } from "@multishop/kit/log";
import type { IdentityConfig } from "./config.ts";
import { hashPassword } from "./domain/passwords.ts";
import type { IdentityStore } from "./store/postgres.ts";

/** Read-only scopes a visitor token carries. */
export const visitorScopes = ["catalog:read"];

export async function bootstrapIdentity(store: IdentityStore, config: IdentityConfig, logger: Logger) {
  await store.upsertClient({
    id: "storefront",
    name: "Storefront (first-party, public)",
    secretHash: null,
    grantTypes: ["password", "refresh_token"],
    scopes: [],
  });
  await store.upsertClient({
    id: "visitor",
    name: "Visitor (read-only)",
    secretHash: await sha256Hex(config.VISITOR_CLIENT_SECRET),
    grantTypes: ["client_credentials"],
    scopes: visitorScopes,
  });
  for (const client of config.SERVICE_CLIENTS) {
    await store.upsertClient({
      id: client.id,
      name: `Service ${client.id}`,
      secretHash: await sha256Hex(client.secret),
      grantTypes: ["client_credentials"],
      scopes: client.scopes,
    });
  }
  if (config.ADMIN_EMAIL && config.ADMIN_PASSWORD) {
    const outcome = await store.ensureAdmin({
      id: crypto.randomUUID(),
      username: config.ADMIN_USERNAME,
      email: config.ADMIN_EMAIL.toLowerCase(),
      name: "Shop",
      surname: "Admin",
      passwordHash: await hashPassword(config.ADMIN_PASSWORD),
      roles: ["customer", "admin"],
    });
    logger.info("bootstrap admin", { email: config.ADMIN_EMAIL, outcome });
  }
}
