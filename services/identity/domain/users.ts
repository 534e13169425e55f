/** Who a user is and what a registration must look like. No I/O. */
import { z } from "@hono/zod-openapi";

export const roles = ["customer", "admin"] as const;
export type Role = (typeof roles)[number];

export interface User {
  id: string;
  username: string;
  email: string;
  name: string;
  surname: string;
  roles: Role[];
  createdAt: Date;
  updatedAt: Date;
}

// Control, format (zero-width, bidi overrides), private-use and unassigned characters make names
// that look alike but differ, or that break the layout they are shown in.
const invisibleOrControl = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}]/u;

const personName = z
  .string()
  .transform((value) => value.normalize("NFC").trim())
  .pipe(
    z.string()
      .min(1, "must not be empty")
      .max(100, "must be at most 100 characters")
      .refine((value) => !invisibleOrControl.test(value), "must not contain control or invisible characters"),
  );

export const usernameSchema = z
  .string()
  .min(3, "must be at least 3 characters")
  .max(32, "must be at most 32 characters")
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    "may contain letters, digits, '.', '_' and '-', and starts with a letter or digit",
  );

export const emailSchema = z
  .string()
  .max(254, "must be at most 254 characters")
  .pipe(z.email("must be a valid email address"))
  .transform((value) => value.toLowerCase());

export const passwordPolicy = { minLength: 10, maxLength: 128 } as const;

export const registrationSchema = z.strictObject({
  username: usernameSchema,
  email: emailSchema,
  name: personName,
  surname: personName,
  password: z.string()
    .max(passwordPolicy.maxLength * 4, `must be at most ${passwordPolicy.maxLength} characters`)
    .transform((value) => value.normalize("NFKC")),
}).superRefine((input, ctx) => {
  const problem = passwordWeakness(input.password, [input.username, input.email.split("@")[0]]);
  if (problem) ctx.addIssue({ code: "custom", path: ["password"], message: problem });
}).openapi("Registration");

export type Registration = z.infer<typeof registrationSchema>;

const commonPasswords = new Set([
  "password",
  "password1",
  "password12",
  "password123",
  "password1234",
  "passw0rd",
  "qwerty",
  "qwertyuiop",
  "qwerty123",
  "qwerty1234",
  "1q2w3e4r5t",
  "1qaz2wsx3edc",
  "123456789",
  "1234567890",
  "0123456789",
  "12345678910",
  "iloveyou",
  "letmein",
  "welcome",
  "welcome123",
  "admin",
  "admin123",
  "administrator",
  "abc123",
  "abcdefghij",
  "sunshine",
  "football",
  "baseball",
  "monkey",
  "dragon",
  "princess",
  "trustno1",
  "superman",
  "starwars",
  "whatever",
  "changeme",
  "multishop",
  "multishop123",
  "shopping",
  "shopping123",
]);

/** Why a password is too weak, or undefined when it is acceptable (NIST SP 800-63B: length and a blocklist). */
export function passwordWeakness(password: string, personal: string[]): string | undefined {
  const length = [...password].length;
  if (length < passwordPolicy.minLength) return `must be at least ${passwordPolicy.minLength} characters`;
  if (length > passwordPolicy.maxLength) return `must be at most ${passwordPolicy.maxLength} characters`;
  const lower = password.toLowerCase();
  if (commonPasswords.has(lower)) return "is too common";
  if (new Set(lower).size < 4) return "must use at least 4 different characters";
  for (const word of personal) {
    if (word.length >= 3 && lower.includes(word.toLowerCase())) {
      return "must not contain your username or email";
    }
  }
  return undefined;
}

export const rolesSchema = z.array(z.enum(roles)).min(1, "must name at least one role").max(roles.length)
  .refine((list) => new Set(list).size === list.length, "must not repeat a role");
