import {
  Kind,
  Type,
  TypeRegistry,
  type Static,
  type TSchema,
  type SchemaOptions,
} from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

// TypeBox checks values only of kinds it knows; these custom kinds keep the CRD structural
// (plain enum / additionalProperties / int-or-string) and still let withDefaults() check.
TypeRegistry.Set<{ enum: string[] }>(
  'SdStringEnum',
  (schema, value) => typeof value === 'string' && schema.enum.includes(value),
);
TypeRegistry.Set(
  'SdFreeForm',
  (_schema, value) => typeof value === 'object' && value !== null && !Array.isArray(value),
);
TypeRegistry.Set<{ pattern: string }>(
  'SdQuantity',
  (schema, value) =>
    (typeof value === 'number' && Number.isInteger(value)) ||
    (typeof value === 'string' && new RegExp(schema.pattern).test(value)),
);
TypeRegistry.Set<{ minimum: number; maximum?: number }>(
  'SdPositiveNumber',
  (schema, value) =>
    typeof value === 'number' &&
    Number.isFinite(value) &&
    value > schema.minimum &&
    (schema.maximum === undefined || value <= schema.maximum),
);
TypeRegistry.Set<{ additionalProperties: TSchema }>(
  'SdStringMap',
  (schema, value) =>
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => Value.Check(schema.additionalProperties, v)),
);

/**
 * A string limited to the given values, as a structural OpenAPI `enum` (TypeBox's own
 * literal unions become `anyOf`/`const`, which a CRD schema cannot hold).
 */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: SchemaOptions = {},
) {
  return Type.Unsafe<T[number]>({
    [Kind]: 'SdStringEnum',
    type: 'string',
    enum: [...values],
    ...options,
  });
}

/** A CEL rule checked by the API server; `message` names the field and what to do. */
export interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?:
    'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

export function celRules(...rules: CelRule[]) {
  return { 'x-kubernetes-validations': rules };
}

/**
 * A field that names where messages are (a queue, a consumer, a directory, a stream): once
 * set, an edit is refused by the API server (a transition rule; checked when the old and the
 * new object both have it). Renamed in place, the operator would read or write somewhere else
 * while what waits under the old name stays there: a new consumer hands every message still
 * in the main queue out again, and a new shard prefix strands the shard queues' backlog.
 */
export function immutable(field: string, loses: string) {
  return celRules({
    rule: 'self == oldSelf',
    reason: 'FieldValueForbidden',
    message: immutableMessage(field, loses),
  });
}

/** Why an edit of `field` is refused, and the way to move the queues instead. */
export function immutableMessage(field: string, loses: string, what = 'changed once set'): string {
  return (
    `${field} cannot be ${what}: ${loses}; to move, create a new ShardDistributor ` +
    'under another name and delete this one with deletionPolicy Drain once it is empty'
  );
}

/**
 * A number above 0, as OpenAPI's `minimum: 0, exclusiveMinimum: true` (TypeBox writes
 * exclusiveMinimum as a number, which a CRD schema cannot hold).
 */
export function PositiveNumber(options: SchemaOptions & { maximum?: number } = {}) {
  return Type.Unsafe<number>({
    [Kind]: 'SdPositiveNumber',
    type: 'number',
    minimum: 0,
    exclusiveMinimum: true,
    ...options,
  });
}

/** A free-form object kept as-is by the API server (pod template overrides, valueFrom …). */
export function FreeForm(options: SchemaOptions = {}) {
  return Type.Unsafe<Record<string, unknown>>({
    [Kind]: 'SdFreeForm',
    type: 'object',
    'x-kubernetes-preserve-unknown-fields': true,
    ...options,
  });
}

/** Kubernetes quantities are strings or numbers (`500m`, `1Gi`, `2`). */
export function Quantity(options: SchemaOptions = {}) {
  return Type.Unsafe<string | number>({
    [Kind]: 'SdQuantity',
    'x-kubernetes-int-or-string': true,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    pattern:
      '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
    ...options,
  });
}

/** A map with string keys, as OpenAPI `additionalProperties` (a CRD cannot hold patternProperties). */
export function StringMap<T extends TSchema>(values: T, options: SchemaOptions = {}) {
  return Type.Unsafe<Record<string, Static<T>>>({
    [Kind]: 'SdStringMap',
    type: 'object',
    additionalProperties: values,
    ...options,
  });
}

export function Resources(description: string) {
  return Type.Object(
    {
      limits: Type.Optional(StringMap(Quantity())),
      requests: Type.Optional(StringMap(Quantity())),
    },
    { description },
  );
}

export type { TSchema };
