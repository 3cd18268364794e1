/**
 * Random filters for property tests: every operator of the filter language
 * and and / or / not, over the given field paths and values.
 */
import fc from 'fast-check';

export type Filter = Record<string, unknown>;

export interface FilterShape {
  /** Field paths conditions name. */
  field: fc.Arbitrary<string>;
  /** Values of equality, eq, ne, in and nin. */
  operand: fc.Arbitrary<unknown>;
  /** Limits of gt, gte, lt and lte. */
  bound: fc.Arbitrary<unknown>;
  /** How deep and / or / not nest (fast-check's oneof constraints). */
  depth: fc.OneOfConstraints;
  /** Also conditions beside a combinator in one object ({"n": 1, "or": [...]}). */
  mixed?: boolean;
}

export function filterArbitrary({ field, operand, bound, depth, mixed = false }: FilterShape): fc.Arbitrary<Filter> {
  const condition = fc.oneof(
    operand,
    fc.record({ eq: operand }),
    fc.record({ ne: operand }),
    fc.record({ in: fc.array(operand, { minLength: 1, maxLength: 4 }) }),
    fc.record({ nin: fc.array(operand, { minLength: 1, maxLength: 4 }) }),
    fc.record({ gt: bound }),
    fc.record({ gte: bound, lt: bound }),
    fc.record({ lte: bound }),
    fc.record({ exists: fc.boolean() }),
  );
  const leafFilter: fc.Arbitrary<Filter> = fc.dictionary(field, condition, { minKeys: 1, maxKeys: 2 });
  return fc.letrec((tie) => ({
    filter: fc.oneof(
      depth,
      leafFilter,
      fc.record({ and: fc.array(tie('filter'), { minLength: 1, maxLength: 3 }) }),
      fc.record({ or: fc.array(tie('filter'), { minLength: 1, maxLength: 3 }) }),
      fc.record({ not: tie('filter') }),
      ...(mixed ? [fc.tuple(leafFilter, tie('filter')).map(([a, b]) => ({ ...(b as Filter), ...a }))] : []),
    ),
  })).filter as fc.Arbitrary<Filter>;
}
