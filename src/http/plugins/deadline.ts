/**
 * Every request gets `request.deadline`: an AbortSignal that fires when the
 * request has run REQUEST_TIMEOUT_MS or when the client closes the connection
 * before its response. Routes pass it to the service, which passes it to the
 * worker pool: queued tasks are dropped, running ones stopped, so work nobody
 * waits for does not go on. (Fastify's own request.signal cannot serve here: on
 * Node 20 it fires as soon as a request body has been read.)
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyRequest {
    /** Aborted on timeout (reason RequestTimeoutError) or when the client leaves (ClientGoneError). */
    deadline: AbortSignal;
  }
}

export class RequestTimeoutError extends Error {
  override name = 'RequestTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`the request did not finish within ${timeoutMs} ms (REQUEST_TIMEOUT_MS) and was cancelled`);
  }
}

export class ClientGoneError extends Error {
  override name = 'ClientGoneError';
  constructor() {
    super('the client closed the connection before the response');
  }
}

async function deadline(app: FastifyInstance, options: { timeoutMs: number }): Promise<void> {
  app.decorateRequest('deadline', null as unknown as AbortSignal);
  app.addHook('onRequest', async (request, reply) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new RequestTimeoutError(options.timeoutMs)), options.timeoutMs);
    timer.unref();
    const res = reply.raw;
    res.once('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished) controller.abort(new ClientGoneError());
    });
    request.deadline = controller.signal;
  });
}

export default fp(deadline, { name: 'deadline' });
