/**
 * What senders ask of connections: a channel's settings for one send, the
 * environment's when the step names no connection, else the named
 * connection's (its fields replace the channel's own; settings that are no
 * connection's, such as attachment limits, stay). A connection that is gone
 * or cannot be opened fails the step, naming it (and the master key): never
 * a send with an empty credential.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { z } from 'zod';
import type { ChannelType } from '../channels';
import { PACING_SETTINGS } from '../channels/connection';
import { CONNECTION_TYPES, type ConnectionType, connectionTypeForStep } from '../channels/connections';
import type { ConnectionResolver } from '../src/connections/resolver';
import type { Config } from '../src/config';
import type { HttpConnectionFields } from '../src/shared/http-connection';
import type { QuietHours } from '../src/shared/quiet-hours';
import { ERROR_TYPES } from '../src/shared/run';
import { permanent } from './failures';

/** The connection types of channels, each also the name of the channel's settings in the configuration. */
export type ChannelConnectionType = Exclude<ConnectionType, 'http'>;

/** The connection a send went through: its name and the version it opened, never its fields. */
export interface ConnectionUsed {
  name: string;
  version: number;
}

/** A channel's settings for one send, and the connection they are of (undefined: the environment's). */
export interface SendSettings<T extends ChannelConnectionType> {
  settings: Config[T];
  connection: ConnectionUsed | undefined;
}

export interface ChannelSettings {
  /**
   * The settings of one send of a channel whose connection type is `type`,
   * with the version of the connection they were opened from: a connection
   * updated while the step retries is opened again, so each send names its own.
   */
  settings<T extends ChannelConnectionType>(type: T, connection: string | undefined): Promise<SendSettings<T>>;
  /** An `http` connection's fields. */
  http(connection: string): Promise<HttpConnectionFields>;
  /**
   * When a channel's connection lets its sends go out: the sends a minute
   * it allows on a budget of its own (its `perMinute`, 0 for unpaced;
   * undefined when its sends take their channel's slots), and its quiet hours.
   */
  pacing(channel: ChannelType, connection: string): Promise<ConnectionPacing>;
}

/** A connection's own pacing settings (channels/connection.ts), each undefined when it has none. */
export interface ConnectionPacing {
  perMinute: number | undefined;
  quietHours: QuietHours | undefined;
}

export function createChannelSettings(config: Config, resolver: ConnectionResolver): ChannelSettings {
  const open = async <T extends ConnectionType>(type: T, name: string) => {
    try {
      return await resolver.open(type, name);
    } catch (err) {
      if (err instanceof Error && (err.name === 'ConnectionMissing' || err.name === 'ConnectionUnreadable')) throw permanent('ChannelNotConfigured', err.message);
      throw err;
    }
  };
  return {
    async settings<T extends ChannelConnectionType>(type: T, connection: string | undefined): Promise<SendSettings<T>> {
      if (connection === undefined) return { settings: config[type], connection: undefined };
      const opened = await open(type, connection);
      const declaration = CONNECTION_TYPES[type];
      // Every field of the type is the connection's, set or not: none falls back to the environment's.
      const own = Object.fromEntries(Object.keys({ ...declaration.settings, ...declaration.secrets }).map((field) => [field, undefined]));
      // Pacing is the pacer's (activities/pacing.ts), not a setting of the sender.
      const fields = Object.fromEntries(Object.entries(opened.fields).filter(([field]) => !Object.hasOwn(PACING_SETTINGS, field)));
      for (const field of Object.keys(PACING_SETTINGS)) delete own[field];
      // The type's fields are named and typed as the channel's settings (channels/connection.ts).
      const settings = Object.assign({}, config[type], own, fields) as Config[T];
      return { settings, connection: { name: opened.name, version: opened.version } };
    },
    async http(connection: string): Promise<HttpConnectionFields> {
      return (await open('http', connection)).fields;
    },
    async pacing(channel: ChannelType, connection: string): Promise<ConnectionPacing> {
      const type = connectionTypeForStep(channel);
      if (type === undefined || type === 'http') return { perMinute: undefined, quietHours: undefined };
      const { fields } = await open(type, connection);
      const own: { [K in keyof typeof PACING_SETTINGS]?: z.output<(typeof PACING_SETTINGS)[K]> } = fields;
      return { perMinute: own.perMinute, quietHours: own.quietHours };
    },
  };
}

/**
 * A provider's refusal of a connection's credentials is retried, where the
 * environment's is not: an admin can update a connection while the step
 * waits, and its next attempt opens the new version (the step's retry policy
 * bounds the wait).
 */
export function retryAuthFailureOfConnection(err: unknown, connection: string | undefined): unknown {
  if (connection === undefined || !(err instanceof ApplicationFailure) || err.type !== ERROR_TYPES.ProviderAuthFailed || !err.nonRetryable) return err;
  return ApplicationFailure.create({
    type: ERROR_TYPES.ProviderAuthFailed,
    message: `${err.message} (connection "${connection}": retried, so an update of the connection applies to the next attempt)`,
    nonRetryable: false,
  });
}
