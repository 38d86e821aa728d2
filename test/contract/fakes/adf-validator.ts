/**
 * A structural check of Atlassian Document Format, following the rules of Atlassian's ADF JSON
 * schema for the nodes Bugloop writes (and a few neighbours): which children each node may
 * have, required attributes, non-empty text, allowed marks. Returns the problems found, with
 * their JSON path; an empty list means valid. The fake Jira rejects a description that fails it.
 */
const blockNodes = new Set(['paragraph', 'heading', 'codeBlock', 'blockquote', 'bulletList', 'orderedList', 'rule', 'table', 'panel', 'mediaSingle']);
const inlineNodes = new Set(['text', 'hardBreak', 'mention', 'emoji', 'inlineCard', 'date', 'status']);
const markTypes = new Set(['strong', 'em', 'code', 'link', 'strike', 'underline', 'subsup', 'textColor']);

type Node = { type?: unknown; content?: unknown; attrs?: Record<string, unknown>; text?: unknown; marks?: unknown; version?: unknown };

export function validateAdf(document: unknown): string[] {
  const problems: string[] = [];
  const doc = document as Node;
  if (!doc || typeof doc !== 'object') return ['$: not an object'];
  if (doc.type !== 'doc') problems.push('$.type: must be "doc"');
  if (doc.version !== 1) problems.push('$.version: must be 1');
  children(doc, '$', problems, (child) => blockNodes.has(child), true);
  return problems;
}

function children(node: Node, path: string, problems: string[], allowed: (type: string) => boolean, required: boolean): void {
  if (node.content === undefined) {
    if (required) problems.push(`${path}.content: required`);
    return;
  }
  if (!Array.isArray(node.content)) {
    problems.push(`${path}.content: must be an array`);
    return;
  }
  if (required && node.content.length === 0) problems.push(`${path}.content: must not be empty`);
  node.content.forEach((child: Node, index: number) => {
    const childPath = `${path}.content[${index}]`;
    if (typeof child?.type !== 'string' || !allowed(child.type)) {
      problems.push(`${childPath}.type: "${String(child?.type)}" is not allowed here`);
      return;
    }
    check(child, childPath, problems);
  });
}

function check(node: Node, path: string, problems: string[]): void {
  switch (node.type) {
    case 'paragraph':
      return children(node, path, problems, (type) => inlineNodes.has(type), false);
    case 'heading': {
      const level = node.attrs?.level;
      if (!Number.isInteger(level) || (level as number) < 1 || (level as number) > 6) problems.push(`${path}.attrs.level: must be 1–6`);
      return children(node, path, problems, (type) => inlineNodes.has(type), false);
    }
    case 'codeBlock':
      if (node.attrs?.language !== undefined && typeof node.attrs.language !== 'string') problems.push(`${path}.attrs.language: must be a string`);
      children(node, path, problems, (type) => type === 'text', false);
      for (const [index, child] of ((node.content as Node[]) ?? []).entries()) {
        if (child.marks !== undefined) problems.push(`${path}.content[${index}].marks: code blocks take no marks`);
      }
      return;
    case 'blockquote':
      return children(node, path, problems, (type) => ['paragraph', 'bulletList', 'orderedList', 'codeBlock'].includes(type), true);
    case 'bulletList':
    case 'orderedList':
      return children(node, path, problems, (type) => type === 'listItem', true);
    case 'listItem':
      return children(node, path, problems, (type) => ['paragraph', 'bulletList', 'orderedList', 'codeBlock'].includes(type), true);
    case 'rule':
      if (node.content !== undefined) problems.push(`${path}.content: a rule has no content`);
      return;
    case 'table':
      return children(node, path, problems, (type) => type === 'tableRow', true);
    case 'tableRow':
      return children(node, path, problems, (type) => type === 'tableHeader' || type === 'tableCell', true);
    case 'tableHeader':
    case 'tableCell':
      return children(node, path, problems, (type) => blockNodes.has(type) && type !== 'table', true);
    case 'text':
      if (typeof node.text !== 'string' || node.text.length === 0) problems.push(`${path}.text: must be a non-empty string`);
      if (node.marks !== undefined) {
        if (!Array.isArray(node.marks)) problems.push(`${path}.marks: must be an array`);
        else
          for (const [index, mark] of (node.marks as Node[]).entries()) {
            if (typeof mark.type !== 'string' || !markTypes.has(mark.type)) problems.push(`${path}.marks[${index}]: unknown mark ${String(mark.type)}`);
            if (mark.type === 'link' && typeof mark.attrs?.href !== 'string') problems.push(`${path}.marks[${index}].attrs.href: required`);
          }
      }
      return;
    case 'hardBreak':
    case 'mention':
    case 'emoji':
    case 'inlineCard':
    case 'date':
    case 'status':
    case 'panel':
    case 'mediaSingle':
      return;
    default:
      problems.push(`${path}.type: unknown node ${String(node.type)}`);
  }
}
