/** The logging the services need (Fastify's pino logger has it): structured fields first, then the message. */
export interface Logger {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
}
