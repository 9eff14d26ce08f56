/**
 * Reading configuration: YAML text (multi-document) or plain objects → the mesh objects the
 * model understands, with where each came from. This does no validation of fields (that is
 * ./validate.ts) beyond what is needed to know what an object is. It does no I/O: file loading
 * lives in runtime/config.
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseAllDocuments } from 'yaml';
import { CONFIG_MAP_NAME } from '../constants.js';
import { describe } from './describe.js';
import { type Diagnostic, diagnostic, type SourceRef } from './diagnostics.js';
import { joinPath } from './path.js';
import { API_VERSIONS, type MeshObject, type MeshObjectKind } from './types.js';

export interface LoadedObject {
  object: MeshObject;
  source?: SourceRef;
  /** Field path → one-based line in the source file, so diagnostics can point at the field. */
  lines?: ReadonlyMap<string, number>;
  /** Set when the object was shipped inside a `tsmesh-config` ConfigMap: that ConfigMap's reference. */
  configMap?: string;
}

export interface ParseResult {
  objects: LoadedObject[];
  diagnostics: Diagnostic[];
  /** Objects of kinds the mesh does not use (RBAC, Secrets, ...), counted per kind and skipped. */
  skipped: Record<string, number>;
}

export interface ParseOptions {
  /**
   * `bundled` (default): kinds of Istio's APIs that tsmesh does not implement are a TSM0001 error.
   * `istio`: they are valid input for a real Istio installation and are skipped like other kinds.
   */
  target?: 'bundled' | 'istio';
}

/** A raw document before classification, with its source and line map. */
interface RawDocument {
  value: unknown;
  source?: SourceRef;
  lines?: Map<string, number>;
}

const MESH_KINDS = new Set<string>(Object.keys(API_VERSIONS));

/** The API group of every kind the mesh understands (`''` is the Kubernetes core group). */
const KIND_GROUP: Readonly<Record<MeshObjectKind, string>> = Object.fromEntries(
  Object.entries(API_VERSIONS).map(([kind, versions]) => [kind, groupOf(versions[0])]),
) as Record<MeshObjectKind, string>;

/** Istio kinds tsmesh does not implement, by the group they belong to (for a precise message). */
const ISTIO_GROUP_SUFFIX = '.istio.io';
const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';

function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** Parses YAML text holding any number of documents (`---` separated); empty documents are skipped. */
export function parseYaml(text: string, source?: string, options: ParseOptions = {}): ParseResult {
  const { raws, diagnostics } = readYamlDocuments(text, source);
  const result = classify(raws, options);
  result.diagnostics.unshift(...diagnostics);
  return result;
}

/** Classifies plain objects (already parsed, for example from JSON or from constructs). */
export function parseObjects(objs: unknown[], options: ParseOptions = {}): ParseResult {
  return classify(
    objs.map((value, index) => ({ value, source: { index } })),
    options,
  );
}

function readYamlDocuments(text: string, file?: string): { raws: RawDocument[]; diagnostics: Diagnostic[] } {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const raws: RawDocument[] = [];
  const diagnostics: Diagnostic[] = [];
  if (!Array.isArray(docs)) return { raws, diagnostics }; // an empty stream
  docs.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      // The first error of a document is the cause; the rest usually follow from it.
      for (const err of doc.errors.slice(0, 1)) {
        const line = lineCounter.linePos(err.pos[0]).line;
        const source: SourceRef = { index, line };
        if (file !== undefined) source.file = file;
        diagnostics.push(diagnostic('yamlSyntaxError', { message: yamlMessage(err.message), source }));
      }
      return;
    }
    const contents = doc.contents as Node | null;
    if (contents === null || (isScalar(contents) && contents.value === null)) return;
    const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
    const lines = new Map<string, number>();
    collectLines(contents, '', lineCounter, lines);
    const line = contents.range ? lineCounter.linePos(contents.range[0]).line : undefined;
    const source: SourceRef = { index };
    if (file !== undefined) source.file = file;
    if (line !== undefined) source.line = line;
    // A top-level sequence (a JSON array of objects) stands for its elements.
    if (Array.isArray(value) && isSeq(contents)) {
      value.forEach((item, i) => {
        const node = contents.items[i] as Node | undefined;
        const itemLines = new Map<string, number>();
        if (node) collectLines(node, '', lineCounter, itemLines);
        const itemLine = node?.range ? lineCounter.linePos(node.range[0]).line : line;
        raws.push({ value: item, source: { ...source, line: itemLine }, lines: itemLines });
      });
      return;
    }
    raws.push({ value, source, lines });
  });
  return { raws, diagnostics };
}

/** The YAML library's first line of a message, without its own position suffix. */
function yamlMessage(message: string): string {
  return message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}

/** Records the line of every field, keyed by its path. */
function collectLines(node: unknown, path: string, counter: LineCounter, out: Map<string, number>): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (key === undefined) continue;
      const childPath = joinPath(path, key);
      const keyNode = pair.key as Node;
      if (keyNode.range) out.set(childPath, counter.linePos(keyNode.range[0]).line);
      collectLines(pair.value, childPath, counter, out);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const childPath = joinPath(path, i);
      const itemNode = item as Node;
      if (itemNode?.range) out.set(childPath, counter.linePos(itemNode.range[0]).line);
      collectLines(item, childPath, counter, out);
    });
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function classify(raws: RawDocument[], options: ParseOptions): ParseResult {
  const result: ParseResult = { objects: [], diagnostics: [], skipped: {} };
  for (const raw of raws) classifyOne(raw, options, result);
  return result;
}

function classifyOne(raw: RawDocument, options: ParseOptions, result: ParseResult): void {
  const { value, source } = raw;
  const fail = (message: string, path?: string, object?: string) => {
    const d = diagnostic('schemaValidationError', { message });
    if (object !== undefined) d.object = object;
    if (path !== undefined) d.path = path;
    if (source !== undefined) d.source = withLine(source, raw.lines, path);
    result.diagnostics.push(d);
  };
  if (!isRecord(value)) {
    fail(
      `expected a Kubernetes object (a mapping with apiVersion, kind and metadata), got ${describe(value)}`,
    );
    return;
  }
  const { apiVersion, kind } = value;
  if (typeof kind !== 'string' || kind === '') {
    fail(`kind must be a non-empty string, got ${describe(kind)}`, 'kind');
    return;
  }
  if (typeof apiVersion !== 'string' || apiVersion === '') {
    fail(`apiVersion must be a non-empty string, got ${describe(apiVersion)}`, 'apiVersion');
    return;
  }
  // kubectl's List wraps other objects.
  if (kind === 'List' && apiVersion === 'v1') {
    const items = value.items;
    if (!Array.isArray(items)) {
      fail(`items must be a list of objects, got ${describe(items)}`, 'items');
      return;
    }
    items.forEach((item, i) => {
      classifyOne({ value: item, source, lines: subLines(raw.lines, joinPath('items', i)) }, options, result);
    });
    return;
  }
  const metadata = value.metadata;
  const name = isRecord(metadata) ? metadata.name : undefined;
  const namespace = isRecord(metadata) ? metadata.namespace : undefined;
  const ref = `${kind} ${typeof namespace === 'string' ? namespace : 'default'}/${typeof name === 'string' ? name : '?'}`;
  const group = groupOf(apiVersion);

  if (kind === 'ConfigMap' && group === '' && isConfigMapName(name)) {
    expandConfigMap(value, ref, raw, options, result);
    return;
  }

  const meshKind = MESH_KINDS.has(kind) && KIND_GROUP[kind as MeshObjectKind] === group;
  if (!meshKind) {
    if (group.endsWith(ISTIO_GROUP_SUFFIX) || group === GATEWAY_API_GROUP || group === 'tsmesh.dev') {
      if (group === 'tsmesh.dev') {
        fail(`unknown kind ${kind} in ${apiVersion}; tsmesh.dev defines MeshConfig`, 'kind', ref);
        return;
      }
      if (options.target === 'istio') {
        result.skipped[kind] = (result.skipped[kind] ?? 0) + 1;
        return;
      }
      const d = diagnostic('notSupported', {
        object: ref,
        path: 'kind',
        message: `${kind} (${apiVersion}) is not supported by the bundled runtime; tsmesh implements ${supportedKindList()}`,
      });
      if (source !== undefined) d.source = source;
      result.diagnostics.push(d);
      return;
    }
    result.skipped[kind] = (result.skipped[kind] ?? 0) + 1;
    return;
  }
  if (!isRecord(metadata)) {
    fail(`metadata must be a mapping with a name, got ${describe(metadata)}`, 'metadata', ref);
    return;
  }
  if (typeof name !== 'string' || name === '') {
    fail(`metadata.name must be a non-empty string, got ${describe(name)}`, 'metadata.name', ref);
    return;
  }
  if (namespace !== undefined && typeof namespace !== 'string') {
    fail(`metadata.namespace must be a string, got ${describe(namespace)}`, 'metadata.namespace', ref);
    return;
  }
  const loaded: LoadedObject = { object: value as unknown as MeshObject };
  if (source !== undefined) loaded.source = source;
  if (raw.lines !== undefined) loaded.lines = raw.lines;
  result.objects.push(loaded);
}

function supportedKindList(): string {
  return Object.keys(API_VERSIONS)
    .filter((k) => KIND_GROUP[k as MeshObjectKind].endsWith(ISTIO_GROUP_SUFFIX))
    .join(', ');
}

function isConfigMapName(name: unknown): boolean {
  return typeof name === 'string' && (name === CONFIG_MAP_NAME || name.startsWith(`${CONFIG_MAP_NAME}-`));
}

/** Each data value of a `tsmesh-config` ConfigMap is a multi-document YAML of mesh objects. */
function expandConfigMap(
  value: Record<string, unknown>,
  ref: string,
  raw: RawDocument,
  options: ParseOptions,
  result: ParseResult,
): void {
  const data = value.data ?? {};
  if (!isRecord(data)) {
    const d = diagnostic('schemaValidationError', {
      object: ref,
      path: 'data',
      message: `data must be a mapping of keys to YAML text, got ${describe(data)}`,
    });
    if (raw.source) d.source = raw.source;
    result.diagnostics.push(d);
    return;
  }
  for (const key of Object.keys(data).sort()) {
    const text = data[key];
    if (typeof text !== 'string') {
      const d = diagnostic('schemaValidationError', {
        object: ref,
        path: joinPath('data', key),
        message: `expected YAML text, got ${describe(text)}`,
      });
      if (raw.source) d.source = raw.source;
      result.diagnostics.push(d);
      continue;
    }
    const inner = parseYaml(text, `${raw.source?.file ?? ref}[${key}]`, options);
    for (const o of inner.objects) o.configMap ??= ref;
    result.objects.push(...inner.objects);
    result.diagnostics.push(...inner.diagnostics);
    for (const [k, n] of Object.entries(inner.skipped)) result.skipped[k] = (result.skipped[k] ?? 0) + n;
  }
}

/** The line map of a sub-tree, re-rooted at that sub-tree. */
function subLines(lines: Map<string, number> | undefined, prefix: string): Map<string, number> | undefined {
  if (!lines) return undefined;
  const out = new Map<string, number>();
  for (const [path, line] of lines) {
    if (path === prefix) continue;
    if (path.startsWith(prefix + '.') || path.startsWith(prefix + '[')) {
      const rest = path.slice(prefix.length);
      out.set(rest.startsWith('.') ? rest.slice(1) : rest, line);
    }
  }
  return out;
}

/** The source with the line of `path` when the line map knows it. */
export function withLine(
  source: SourceRef,
  lines: ReadonlyMap<string, number> | undefined,
  path: string | undefined,
): SourceRef {
  if (!lines || path === undefined) return source;
  let p: string | undefined = path;
  while (p) {
    const line = lines.get(p);
    if (line !== undefined) return { ...source, line };
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    p = cut > 0 ? p.slice(0, cut) : undefined;
  }
  return source;
}
