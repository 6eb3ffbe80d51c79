import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

/**
 * Finds string literals in src/ that read as prose meant for a person: the lint behind
 * test/lib/i18n-literals.test.ts. Human text lives in the catalogues (locales/<lang>/*.json) and
 * reaches the code through t('key'); what is left in the code is machine text (argv, ids, paths,
 * XML, sh) which never changes with the language.
 *
 * A literal is prose when it has at least two plain words (letters only, two or more, an
 * optional capital) and at least half of its tokens are such words or punctuation: `ip link set
 * dev` is machine text by its context, not by its look, so such literals carry a marker
 * (`// i18n: machine` on their line or the line above), or their file says `i18n: machine file`
 * (with why) in a comment among its first lines.
 */
export interface Literal {
  file: string;
  line: number;
  text: string;
}

const WORD = /^[(["'`«]*[A-Za-zÀ-ỹ][a-zà-ỹ]+[)\]"'`».,:;!?]*$/;

export function looksLikeProse(text: string): boolean {
  const tokens = text.split(/\s+/).filter(Boolean);
  if (tokens.length < 2) return false;
  const words = tokens.filter((token) => WORD.test(token)).length;
  return words >= 2 && words * 2 >= tokens.length;
}

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield path;
  }
}

/** Contexts where a literal is code, not text: module names, keys, types, comparisons. */
function isCodeContext(node: ts.Node): boolean {
  const parent = node.parent;
  if (!parent) return false;
  if (ts.isImportDeclaration(parent) || ts.isExportDeclaration(parent) || ts.isImportTypeNode(parent))
    return true;
  if (ts.isLiteralTypeNode(parent)) return true;
  if (ts.isPropertyAssignment(parent) && parent.name === node) return true;
  if (ts.isElementAccessExpression(parent)) return true;
  if (ts.isCaseClause(parent)) return true;
  if (
    ts.isBinaryExpression(parent) &&
    [
      ts.SyntaxKind.EqualsEqualsEqualsToken,
      ts.SyntaxKind.ExclamationEqualsEqualsToken,
      ts.SyntaxKind.EqualsEqualsToken,
      ts.SyntaxKind.ExclamationEqualsToken,
    ].includes(parent.operatorToken.kind)
  )
    return true;
  if (ts.isCallExpression(parent) || ts.isNewExpression(parent)) {
    const callee = parent.expression.getText();
    // The catalogue key itself, and what only a regular expression reads.
    if (/(^|\.)t$/.test(callee) && parent.arguments?.[0] === node) return true;
    if (callee === 'RegExp') return true;
  }
  return false;
}

function marked(sourceLines: string[], line: number): boolean {
  const here = sourceLines[line] ?? '';
  const above = sourceLines[line - 1] ?? '';
  return /i18n: machine/.test(here) || /i18n: machine/.test(above);
}

function literalText(node: ts.Node): string | undefined {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node))
    return [node.head.text, ...node.templateSpans.map((span) => span.literal.text)].join(' X ');
  return undefined;
}

/** Every prose literal under srcDir, less marked ones; paths relative to root. */
export function proseLiterals(root: string, srcDir = join(root, 'src')): Literal[] {
  const found: Literal[] = [];
  for (const path of sources(srcDir)) {
    const text = readFileSync(path, 'utf8');
    // A file of machine text only (an sh template, a schema for profile authors) says so at its top.
    if (/i18n: machine file/.test(text.split('\n').slice(0, 12).join('\n'))) continue;
    const file = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true);
    const lines = text.split('\n');
    const visit = (node: ts.Node): void => {
      const literal = literalText(node);
      if (literal !== undefined) {
        if (!isCodeContext(node) && looksLikeProse(literal)) {
          const line = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
          if (!marked(lines, line))
            found.push({ file: relative(root, path), line: line + 1, text: literal.slice(0, 80) });
        }
        if (ts.isTemplateExpression(node)) for (const span of node.templateSpans) visit(span.expression);
        return;
      }
      ts.forEachChild(node, visit);
    };
    visit(file);
  }
  return found;
}
