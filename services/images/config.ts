/** The images service's configuration; every variable is optional and the defaults run embedded. */
import { z } from "zod";
import { authEnv, commonEnv, loadConfig, port, positiveInt } from "@multishop/kit/config";

/** Room for the multipart boundaries and part headers around the file itself. */
const multipartOverheadBytes = 64 * 1024;

export const imagesEnv = z.object({
  ...commonEnv,
  ...authEnv,
  PORT: port(5003),
  PUBLIC_URL: z.url().optional(),
  IMAGE_MAX_BYTES: positiveInt(5 * 1024 * 1024),
  BODY_LIMIT_BYTES: z.coerce.number().int().positive().optional(),
  IMAGES_STORE: z.enum(["local", "gcs"]).optional(),
  IMAGES_BUCKET: z.string().regex(
    /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/,
    "must be a bucket name: 3 to 63 lower-case letters, digits, '-', '_' or '.'",
  ).default("multishop-images"),
  GCS_PROJECT_ID: z.string().min(1).default("multishop"),
  STORAGE_EMULATOR_HOST: z.url({ protocol: /^https?$/, error: "must be a URL like http://127.0.0.1:4443" })
    .optional(),
}).superRefine((env, ctx) => {
  if (env.BODY_LIMIT_BYTES !== undefined && env.BODY_LIMIT_BYTES <= env.IMAGE_MAX_BYTES) {
    ctx.addIssue({
      code: "custom",
      path: ["BODY_LIMIT_BYTES"],
      message:
        `must be larger than IMAGE_MAX_BYTES (${env.IMAGE_MAX_BYTES}) to leave room for the multipart framing`,
    });
  }
}).transform((env) => ({
  ...env,
  // The base of the image URLs the service hands out: its own address by default, the edge's in
  // production, where clients fetch the images.
  PUBLIC_URL: (env.PUBLIC_URL ?? `http://${env.HOST === "0.0.0.0" ? "127.0.0.1" : env.HOST}:${env.PORT}`)
    .replace(/\/$/, ""),
  BODY_LIMIT_BYTES: env.BODY_LIMIT_BYTES ?? env.IMAGE_MAX_BYTES + multipartOverheadBytes,
  IMAGES_STORE: env.IMAGES_STORE ?? (env.STORAGE_EMULATOR_HOST ? "gcs" : "local"),
}));

export type ImagesConfig = z.infer<typeof imagesEnv>;

export const loadImagesConfig = (env?: Record<string, string | undefined>) => loadConfig(imagesEnv, env);
