// Schemas several route plugins share: identifiers, path parameters, times, the security requirement.

import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Principal } from '../../application/ports.ts';

export const id = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/)
  .max(128);
export const isoTime = z.iso.datetime({ offset: true });
export const controllerParams = z.object({ controllerId: id });
export const endpointParams = z.object({ controllerId: id, endpointId: id });
/** The OpenAPI security requirement of every authenticated route. */
export const auth = [{ bearer: [] }];

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
}

/** Who called (set by the authentication hook of the authenticated scope). */
export const principal = (request: FastifyRequest): Principal => request.principal!;
