import type { JsonSchema } from '../../../shared/dashboard-api';

/**
 * A form for a destination kind's config, drawn from the JSON Schema the server publishes
 * (`GET /integrations/kinds`), so a new tracker needs no dashboard change. Fields hold text
 * while being edited ("a, b" for lists, "Done = resolved" lines for maps) and become config
 * values on submit; the server validates and names the field that is wrong.
 */

/** Words that read better than the property names. */
const labels: Record<string, string> = {
  baseUrl: 'Site URL',
  projectKey: 'Project key',
  projectId: 'Project id (numeric)',
  issueType: 'Issue type',
  issueTypeId: 'Issue type id (numeric)',
  priorityMap: 'Priority per severity',
  statusMap: 'Status mapping',
  labelIds: 'Label ids',
  teamId: 'Team id',
  teamKey: 'Team key',
  apiUrl: 'API URL',
  uploadScreenshot: 'Upload the screenshot into the thread',
  url: 'URL',
  teamAddress: 'Team address',
  ignoreTls: 'Ignore TLS (local test servers only)',
  secure: 'TLS from the first byte (port 465)',
  apiToken: 'API token',
  accessToken: 'OAuth access token',
  webhookSecret: 'Webhook secret',
  apiKey: 'API key',
  botToken: 'Bot token',
  signingSecret: 'Signing secret',
};

const hints: Record<string, string> = {
  baseUrl: 'https://your-site.atlassian.net',
  projectKey: 'WEB',
  projectId: 'Only for the pre-filled "create issue" link',
  issueTypeId: 'Only for the pre-filled "create issue" link',
  teamKey: 'ENG; only for the pre-filled "create issue" link',
  channel: 'Channel id like C0123ABCD; invite the bot to it',
  apiUrl: 'Only to point at a proxy or a test server',
  statusMap: 'One per line: remote state = Bugloop status (new, triaged, in_progress, resolved, verified, closed, wont_fix, reopened)',
  webhookSecret: 'The tracker signs its webhooks with it',
  signingSecret: 'At least 16 characters; receivers check X-Bugloop-Signature',
};

export function fieldLabel(name: string): string {
  if (labels[name]) return labels[name];
  const words = name.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export type FormValues = Record<string, unknown>;

const isKeyedMap = (schema: JsonSchema) => schema.type === 'object' && Boolean(schema.propertyNames?.enum);
const isFreeMap = (schema: JsonSchema) => schema.type === 'object' && !schema.propertyNames?.enum;

/** Stored config → the values the form edits. */
export function formValuesOf(schema: JsonSchema, config: Record<string, unknown>): FormValues {
  const values: FormValues = {};
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    const value = config[name] ?? property.default;
    if (property.type === 'array') values[name] = Array.isArray(value) ? value.join(', ') : '';
    else if (isFreeMap(property)) values[name] = Object.entries((value as Record<string, unknown>) ?? {}).map(([key, entry]) => `${key} = ${entry}`).join('\n');
    else if (isKeyedMap(property)) values[name] = Object.fromEntries(Object.entries((value as Record<string, unknown>) ?? {}).map(([key, entry]) => [key, String(entry)]));
    else values[name] = value;
  }
  return values;
}

/** The form's values → config for the API (empty fields left out, so defaults apply). */
export function configOf(schema: JsonSchema, values: FormValues): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    const value = values[name];
    if (property.type === 'boolean') config[name] = Boolean(value);
    else if (property.type === 'integer' || property.type === 'number') {
      if (value !== '' && value !== undefined && value !== null) config[name] = Number(value);
    } else if (property.type === 'array') {
      config[name] = String(value ?? '')
        .split(/[,\n]/)
        .map((entry) => entry.trim())
        .filter(Boolean);
    } else if (isFreeMap(property)) {
      const entries = String(value ?? '')
        .split('\n')
        .map((line) => line.split('='))
        .filter((parts) => parts.length >= 2 && parts[0].trim())
        .map((parts) => [parts[0].trim(), parts.slice(1).join('=').trim()]);
      config[name] = Object.fromEntries(entries);
    } else if (isKeyedMap(property)) {
      const numeric = typeof property.additionalProperties === 'object' && property.additionalProperties.type === 'integer';
      const entries = Object.entries((value as Record<string, string>) ?? {}).filter(([, entry]) => entry !== '' && entry !== undefined);
      config[name] = Object.fromEntries(entries.map(([key, entry]) => [key, numeric ? Number(entry) : entry]));
    } else if (typeof value === 'string' && value.trim() !== '') config[name] = value.trim();
  }
  return config;
}

/** The config fields of one destination kind. */
export function SchemaFields(props: { schema: JsonSchema; values: FormValues; onChange: (values: FormValues) => void }) {
  const required = new Set(props.schema.required ?? []);
  const set = (name: string, value: unknown) => props.onChange({ ...props.values, [name]: value });
  return (
    <>
      {Object.entries(props.schema.properties ?? {}).map(([name, property]) => {
        const label = `${fieldLabel(name)}${required.has(name) ? ' *' : ''}`;
        const hint = hints[name];
        const value = props.values[name];
        if (property.type === 'boolean') {
          return (
            <label key={name} class="field field-check">
              <input type="checkbox" name={`config.${name}`} checked={Boolean(value)} onChange={(event) => set(name, event.currentTarget.checked)} />
              <span>{fieldLabel(name)}</span>
            </label>
          );
        }
        if (isKeyedMap(property)) {
          const entries = (value as Record<string, string>) ?? {};
          const numeric = typeof property.additionalProperties === 'object' && property.additionalProperties.type === 'integer';
          return (
            <fieldset key={name} class="field wide">
              <legend>{label}</legend>
              <div class="checks">
                {property.propertyNames!.enum!.map((key) => (
                  <label key={key} class="field">
                    <span>{key}</span>
                    <input
                      name={`config.${name}.${key}`}
                      type={numeric ? 'number' : 'text'}
                      placeholder={numeric ? '0–4' : 'e.g. Highest'}
                      value={entries[key] ?? ''}
                      onInput={(event) => set(name, { ...entries, [key]: event.currentTarget.value })}
                    />
                  </label>
                ))}
              </div>
            </fieldset>
          );
        }
        if (isFreeMap(property)) {
          return (
            <label key={name} class="field wide">
              <span>{label}</span>
              <textarea name={`config.${name}`} rows={3} value={String(value ?? '')} placeholder="Done = resolved" onInput={(event) => set(name, event.currentTarget.value)} />
              {hint && <span class="hint">{hint}</span>}
            </label>
          );
        }
        if (property.enum) {
          return (
            <label key={name} class="field">
              <span>{label}</span>
              <select name={`config.${name}`} value={String(value ?? '')} onChange={(event) => set(name, event.currentTarget.value)}>
                {!required.has(name) && property.default === undefined && <option value="">—</option>}
                {property.enum.map((option) => (
                  <option key={option} value={option}>
                    {option}
                  </option>
                ))}
              </select>
            </label>
          );
        }
        const type = property.type === 'integer' || property.type === 'number' ? 'number' : property.format === 'uri' ? 'url' : property.format === 'email' ? 'email' : 'text';
        return (
          <label key={name} class="field">
            <span>{label}</span>
            <input
              name={`config.${name}`}
              type={type}
              required={required.has(name)}
              min={property.minimum}
              max={property.maximum}
              placeholder={property.type === 'array' ? 'comma-separated' : property.default !== undefined ? String(property.default) : hint && type !== 'text' ? hint : undefined}
              value={value === undefined || value === null ? '' : String(value)}
              onInput={(event) => set(name, event.currentTarget.value)}
            />
            {hint && <span class="hint">{hint}</span>}
          </label>
        );
      })}
    </>
  );
}
