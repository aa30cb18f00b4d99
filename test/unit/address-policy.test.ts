import { describe, expect, it } from 'vitest';
import { createAddressPolicy } from '../../activities/http';

describe('the http step address policy', () => {
  const strict = createAddressPolicy([]);

  it.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.9',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    'fe80::1',
    'fd00::1',
    '::ffff:127.0.0.1',
    '::ffff:169.254.169.254',
    '255.255.255.255',
    '224.0.0.1',
  ])('refuses %s by default', (address) => {
    expect(strict('host.example', address)).toBe(false);
  });

  it.each(['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'])('allows the public address %s', (address) => {
    expect(strict('host.example', address)).toBe(true);
  });

  it('allows listed names, addresses and networks only', () => {
    const policy = createAddressPolicy(['internal.example', '127.0.0.1', '10.20.0.0/16']);
    expect(policy('internal.example', '10.9.9.9')).toBe(true);
    expect(policy('other.example', '127.0.0.1')).toBe(true);
    expect(policy('other.example', '10.20.5.5')).toBe(true);
    expect(policy('other.example', '10.21.0.1')).toBe(false);
    expect(policy('other.example', '127.0.0.2')).toBe(false);
  });
});
