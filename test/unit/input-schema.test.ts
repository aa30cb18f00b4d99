import { describe, expect, it, vi } from 'vitest';
import { compileInputSchema, inputSchemaProblem, validateTriggerData } from '../../src/executions/input-schema';

const orderSchema = () => ({
  type: 'object',
  required: ['orderId', 'customer'],
  additionalProperties: false,
  properties: {
    orderId: { type: 'string' },
    customer: { type: 'object', required: ['email'], properties: { email: { type: 'string' } } },
    'line items': { type: 'array', items: { type: 'number' } },
  },
});

describe('trigger data against a definition input schema', () => {
  it('names each problem by its JSON path', () => {
    const problems = validateTriggerData(orderSchema(), { customer: {}, extra: 1, 'line items': [1, 'two'] });
    expect(problems).toEqual(
      expect.arrayContaining([
        { path: '$.orderId', message: 'is required' },
        { path: '$.customer.email', message: 'is required' },
        { path: '$.extra', message: 'is not allowed' },
        { path: '$["line items"][1]', message: 'must be number' },
      ]),
    );
    expect(problems).toHaveLength(4);
  });

  it('accepts data that fits, and anything when there is no schema', () => {
    expect(validateTriggerData(orderSchema(), { orderId: 'A-1', customer: { email: 'ada@example.test' } })).toEqual([]);
    expect(validateTriggerData(undefined, { anything: true })).toEqual([]);
  });

  it('compiles a schema once, found by the object itself or by its content', () => {
    const schema = orderSchema();
    const first = compileInputSchema(schema);
    // The same object again (a start of a pinned version) is found without serializing it.
    const stringify = vi.spyOn(JSON, 'stringify');
    try {
      expect(compileInputSchema(schema)).toBe(first);
      expect(stringify).not.toHaveBeenCalled();
    } finally {
      stringify.mockRestore();
    }
    // Another object with the same content, as a version parsed again would be.
    expect(compileInputSchema(orderSchema())).toBe(first);
    expect(compileInputSchema({ ...orderSchema(), required: ['orderId'] })).not.toBe(first);
  });

  it('says why a schema cannot be used', () => {
    expect(inputSchemaProblem({ type: 'nonsense' })).toMatch(/type/);
    expect(inputSchemaProblem(orderSchema())).toBeUndefined();
  });
});
