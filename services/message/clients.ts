/** The message service's view of identity: who a receiver is, through the kit's service client. */
import { z } from "zod";
import { type ServiceClient, ServiceUnavailableError } from "@multishop/kit/service-client";
import type { Account } from "./domain.ts";

/** The part of identity's `GET /v1/users/{id}` the sending rules need. */
const userSchema = z.object({ id: z.string(), roles: z.array(z.string()) });

export interface Users {
  /** The user with this id, or undefined when identity has none. */
  find(id: string): Promise<Account | undefined>;
}

export function identityClient(service: ServiceClient, baseUrl: string): Users {
  return {
    async find(id) {
      const response = await service.request(`${baseUrl}/v1/users/${encodeURIComponent(id)}`);
      // 400: not even the shape of identity's ids, so no user has it.
      if (response.status === 404 || response.status === 400) {
        await response.body?.cancel();
        return undefined;
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new ServiceUnavailableError("identity", `answered ${response.status}`);
      }
      const user = userSchema.parse(await response.json());
      return { id: user.id, roles: user.roles };
    },
  };
}
