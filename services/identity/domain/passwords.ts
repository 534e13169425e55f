/**
 * Password hashing with Argon2id (memory-hard) at OWASP's recommended minimum: 19 MiB, 2 passes.
 * The native library runs off the event loop, so logins do not stall other requests.
 */
import { type Algorithm, hash, verify } from "@node-rs/argon2";

// The library's Algorithm is a const enum, which isolated modules cannot read; 2 is its Argon2id.
const argon2id = 2 as Algorithm.Argon2id;
const parameters = { algorithm: argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 };

// A password is hashed and checked in Unicode's NFKC form, so that the same characters typed on
// another keyboard or system (composed or decomposed) are the same password.
export function hashPassword(password: string): Promise<string> {
  return hash(password.normalize("NFKC"), parameters);
}

export function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  return verify(passwordHash, password.normalize("NFKC"));
}

/**
 * A hash to verify against when the user does not exist, so that an unknown username takes as long
 * to refuse as a wrong password and the answer's timing does not tell which it was.
 */
export function decoyPasswordHash(): Promise<string> {
  decoy ??= hashPassword(crypto.randomUUID());
  return decoy;
}
let decoy: Promise<string> | undefined;
