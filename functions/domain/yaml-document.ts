// Reads a YAML (or JSON) document into plain data, and when it cannot, says at which key
// and why, not only at which line: "scope.regions: duplicate key (line 4, column 3)".
import { isAlias, isCollection, isNode, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import { fieldName } from './errors.ts';

/**
 * How many values aliases may add to a document in all. A policy needs a handful; an "alias
 * bomb" (each anchor repeating the previous one ten times) asks for billions, and would hold
 * the process and its memory if it were expanded.
 */
export const MAX_ALIAS_VALUES = 1000;

export type YamlReading = { ok: true; value: unknown } | { ok: false; problems: string[] };

type Segment = string | number;

/** The key path of a node, from the ancestors `visit` passes: `['scope', 'regions', 0]`. */
const pathOf = (ancestors: readonly unknown[], node: unknown): Segment[] => {
  const chain = [...ancestors, node];
  const path: Segment[] = [];
  for (let i = 1; i < chain.length; i++) {
    const parent = chain[i - 1];
    const child = chain[i];
    if (isPair(child)) path.push(isScalar(child.key) ? String(child.key.value) : '(complex key)');
    else if (isSeq(parent)) path.push(parent.items.indexOf(child as never));
  }
  return path;
};

const nameOf = (path: Segment[]) => fieldName(path) || '(document)';

/** The deepest node whose text covers `offset`, else the last one that starts before it. */
const pathAt = (doc: Document, offset: number): Segment[] => {
  let covering: Segment[] | undefined;
  let preceding: Segment[] = [];
  visit(doc, (_key, node, ancestors) => {
    if (!isNode(node) || !node.range) return;
    const [start, , end] = node.range;
    if (start <= offset && offset <= end) covering = pathOf(ancestors, node);
    if (start <= offset) preceding = pathOf(ancestors, node);
  });
  return covering ?? preceding;
};

const CAUSES: Record<string, string> = {
  DUPLICATE_KEY: 'duplicate key: it is already set above, and only one of the two values could win',
};

/**
 * Counts the values each alias stands for (its anchor's whole subtree, aliases inside it
 * included) without building them, and names the first alias past the limit, or one whose
 * anchor is missing.
 */
const aliasProblems = (doc: Document): string[] => {
  const sizes = new Map<Node, number>();
  const inProgress = new Set<Node>();
  const sizeOf = (node: unknown): number => {
    if (isAlias(node)) {
      const source = node.resolve(doc);
      return source ? sizeOf(source) : 0;
    }
    if (!isCollection(node)) return 1;
    const known = sizes.get(node);
    if (known !== undefined) return known;
    // An anchor that contains an alias to itself would expand without end.
    if (inProgress.has(node)) return Number.POSITIVE_INFINITY;
    inProgress.add(node);
    let size = 1;
    for (const item of node.items) size += isPair(item) ? sizeOf(item.key) + sizeOf(item.value) : sizeOf(item);
    inProgress.delete(node);
    sizes.set(node, size);
    return size;
  };

  const problems: string[] = [];
  let added = 0;
  visit(doc, {
    Alias: (_key, alias, ancestors) => {
      const where = nameOf(pathOf(ancestors, alias));
      if (!alias.resolve(doc)) {
        problems.push(`${where}: unknown alias *${alias.source} (an anchor &${alias.source} must come before it)`);
        return visit.BREAK;
      }
      added += sizeOf(alias);
      if (added > MAX_ALIAS_VALUES) {
        problems.push(
          `${where}: too many aliases: they would expand to more than ${MAX_ALIAS_VALUES} values (an alias bomb?); write the values out instead`,
        );
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return problems;
};

export const readYaml = (text: string): YamlReading => {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // The parser can report one broken spot several ways; the first says it best.
    const firstAtEachSpot = doc.errors.filter((error, i) => doc.errors.findIndex((e) => e.pos[0] === error.pos[0]) === i);
    return {
      ok: false,
      problems: firstAtEachSpot.map((error) => {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        const cause = CAUSES[error.code] ?? error.message;
        return `${nameOf(pathAt(doc, error.pos[0]))}: ${cause} (line ${line}, column ${col})`;
      }),
    };
  }
  const problems = aliasProblems(doc);
  if (problems.length > 0) return { ok: false, problems };
  // The aliases were counted above, so the library's own, coarser count is not needed.
  return { ok: true, value: doc.toJS({ maxAliasCount: -1 }) };
};
