import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ConfigDocsError,
  ConfigSpecError,
  defineConfig,
  renderConfigDocs,
  renderConfigHelp,
  renderConfigTable,
  TABLE_BEGIN,
  TABLE_END,
} from '../src/index.ts';

describe('renderConfigHelp', () => {
  it('lists each variable once with its requirement, default and secrecy, its description wrapped', () => {
    const spec = defineConfig({
      REQUIRED_ONE: { schema: z.string(), description: 'Needed, see `other`.' },
      WITH_DEFAULT: { schema: z.string(), default: 'a|b', description: 'word '.repeat(30).trim() },
      MAYBE: { schema: z.string().optional(), secret: true, description: 'Optional\nsecret.' },
    });
    const again = defineConfig({ REQUIRED_ONE: spec.REQUIRED_ONE });

    expect(renderConfigHelp([spec, again], 40).split('\n')).toEqual([
      '  REQUIRED_ONE  (required)',
      '      Needed, see other.',
      '  WITH_DEFAULT  (default a|b)',
      '      word word word word word word word',
      '      word word word word word word word',
      '      word word word word word word word',
      '      word word word word word word word',
      '      word word',
      '  MAYBE  (optional, secret)',
      '      Optional secret.',
    ]);
  });
});

describe('renderConfigTable', () => {
  it('renders one row per variable with its requirement, default and secrecy', () => {
    const spec = defineConfig({
      REQUIRED_ONE: { schema: z.string(), description: 'Needed.' },
      WITH_DEFAULT: { schema: z.string(), default: 'a|b', description: 'Pipes | are escaped.' },
      MAYBE: { schema: z.string().optional(), secret: true, description: 'Optional\nsecret.' },
    });

    expect(renderConfigTable([spec]).split('\n')).toEqual([
      '| Variable       | Required / default | Description           |',
      '| -------------- | ------------------ | --------------------- |',
      '| `REQUIRED_ONE` | required           | Needed.               |',
      '| `WITH_DEFAULT` | default `a\\|b`     | Pipes \\| are escaped. |',
      '| `MAYBE`        | optional, secret   | Optional secret.      |',
    ]);
  });

  it('lists a variable shared by two specs once, and refuses two different definitions of it', () => {
    const shared = { schema: z.string(), description: 'Shared.' };
    const a = defineConfig({ SHARED: shared, A: { schema: z.string(), description: 'A.' } });
    const b = defineConfig({ SHARED: shared });
    const c = defineConfig({ SHARED: { schema: z.string(), description: 'Other.' } });

    expect(renderConfigTable([a, b]).match(/`SHARED`/g)).toHaveLength(1);
    expect(() => renderConfigTable([a, c])).toThrow(ConfigSpecError);
  });
});

describe('renderConfigDocs', () => {
  it('keeps the text around the markers and refuses a document without them', () => {
    const spec = defineConfig({ A: { schema: z.string(), description: 'A.' } });
    const document = `intro\n\n${TABLE_BEGIN}\nstale\n${TABLE_END}\n\nafter\n`;

    expect(renderConfigDocs(document, [spec])).toBe(
      `intro\n\n${TABLE_BEGIN}\n\n${renderConfigTable([spec])}\n\n${TABLE_END}\n\nafter\n`,
    );
    expect(() => renderConfigDocs('no markers', [spec])).toThrow(ConfigDocsError);
  });
});
