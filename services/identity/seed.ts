/** Demo data: a customer account to sign in with. */
import { hashPassword } from "./domain/passwords.ts";
import type { IdentityStore } from "./store/postgres.ts";

export const demoCustomer = {
  username: "demo",
  email: "demo@multishop.local",
  name: "Demo",
  surname: "Customer",
};

/** Creates the demo customer unless an account with its email exists; says whether it did. */
export async function seedIdentity(store: IdentityStore, customerPassword: string): Promise<boolean> {
  if (await store.findLogin(demoCustomer.email)) return false;
  await store.insertUser({
    id: crypto.randomUUID(),
    ...demoCustomer,
    passwordHash: await hashPassword(customerPassword),
    roles: ["customer"],
  });
  return true;
}
