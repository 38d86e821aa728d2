import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * `import { init, … } from 'bugloop/widget'`: the package's `exports` map names built files, and
 * Node resolves the name (the package referring to itself, as an app that installed it would).
 * Needs `npm run build:widget` (npm test builds first).
 */
const repository = path.resolve(import.meta.dirname, '../..');
const manifest = JSON.parse(readFileSync(path.join(repository, 'package.json'), 'utf8')) as { name: string; exports: Record<string, { types: string; default: string }> };

describe('the bugloop/widget module entry', () => {
  it('is in the exports map with types, and both files are built', () => {
    const entry = manifest.exports['./widget'];
    expect(entry).toEqual({ types: './dist/types/widget/index.d.ts', default: './dist/widget/widget-module.js' });
    expect(existsSync(path.join(repository, entry.default)), 'run npm run build:widget').toBe(true);
    const types = readFileSync(path.join(repository, entry.types), 'utf8');
    for (const name of ['init', 'open', 'close', 'identify', 'setMetadata', 'destroy']) expect(types).toMatch(new RegExp(`export declare const ${name}:`));
    expect(types).toContain('WidgetOptions');
  });

  it('resolves through Node and exports the six functions, without touching a DOM at import', () => {
    const script = `
      const url = import.meta.resolve('${manifest.name}/widget');
      const widget = await import('${manifest.name}/widget');
      console.log(JSON.stringify({ url, exports: Object.keys(widget).sort(), functions: Object.values(widget).every((value) => typeof value === 'function') }));`;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repository, encoding: 'utf8' });
    const result = JSON.parse(output) as { url: string; exports: string[]; functions: boolean };
    expect(fileURLToPath(result.url)).toBe(path.join(repository, 'dist/widget/widget-module.js'));
    expect(result.exports).toEqual(['close', 'destroy', 'identify', 'init', 'open', 'setMetadata']);
    expect(result.functions).toBe(true);
  });

  it('imports the lazy chunks the script-tag loader imports (one copy of each)', () => {
    const folder = path.join(repository, 'dist/widget');
    const moduleCode = readFileSync(path.join(folder, 'widget-module.js'), 'utf8');
    const loaderCode = readFileSync(path.join(folder, 'widget.js'), 'utf8');
    const lazy = [...moduleCode.matchAll(/import\(\s*[`"']\.\/([^`"']+)[`"']\s*\)/g)].map((match) => match[1]);
    expect(lazy.map((file) => ['open-dialog-', 'transport-'].find((prefix) => file.startsWith(prefix)))).toEqual(['open-dialog-', 'transport-']);
    for (const file of lazy) {
      expect(existsSync(path.join(folder, file))).toBe(true);
      expect(loaderCode).toContain(file);
    }
    expect(readdirSync(folder).filter((file) => file.startsWith('open-dialog-'))).toHaveLength(1);
  });
});
