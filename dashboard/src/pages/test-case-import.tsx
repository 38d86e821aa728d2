import { useState } from 'preact/hooks';
import { type CsvImportPreset, type CsvImportResponse, type CsvImportTarget, type CsvPreviewResponse, csvImportTargets } from '../../../shared/quality-api';
import { ApiError, RawBody, api, queryString } from '../api';
import { EmptyState } from '../components/states';
import { TestsNav } from '../components/tests-nav';
import type { QualityPageProps } from '../quality-routes';
import { Link } from '../router';
import { canTriage, useProjectRole } from '../session';
import '../quality.css';

const targetLabels: Record<CsvImportTarget, string> = {
  key: 'Key / ID',
  title: 'Title',
  suite: 'Suite / section',
  component: 'Component',
  tags: 'Tags',
  priority: 'Priority',
  kind: 'Automated?',
  steps: 'Steps',
  expected: 'Expected result',
  preconditions: 'Preconditions',
  requirements: 'Requirements',
};

/**
 * CSV import with column mapping: pick a file (TestRail, Qase, Kiwi TCMS or any CSV), preview what
 * the server reads from it (detected tool, the column behind each field, the first cases), change
 * the mapping where it guessed wrong, then import. The preview is the import with `dryRun=true`,
 * so it validates exactly as the import will.
 */
export function TestCaseImportPage(props: QualityPageProps) {
  const { projectId } = props;
  const triager = canTriage(useProjectRole(projectId));
  const [text, setText] = useState('');
  const [fileName, setFileName] = useState('');
  const [preset, setPreset] = useState<CsvImportPreset | ''>('');
  const [mapping, setMapping] = useState<Partial<Record<CsvImportTarget, string>>>({});
  const [preview, setPreview] = useState<CsvPreviewResponse>();
  const [result, setResult] = useState<CsvImportResponse>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const path = (dryRun: boolean) =>
    `/projects/${projectId}/test-cases/import${queryString({ preset: preset || undefined, dryRun: dryRun || undefined, ...Object.fromEntries(Object.entries(mapping).map(([target, column]) => [`map.${target}`, column])) })}`;
  const run = async (dryRun: boolean) => {
    setBusy(true);
    setError(undefined);
    try {
      if (dryRun) {
        setPreview(await api.post<CsvPreviewResponse>(path(true), new RawBody(text, 'text/csv')));
        setResult(undefined);
      } else setResult(await api.post<CsvImportResponse>(path(false), new RawBody(text, 'text/csv')));
    } catch (caught) {
      setError(caught instanceof ApiError ? caught.message : 'The request failed.');
      if (dryRun) setPreview(undefined);
    } finally {
      setBusy(false);
    }
  };

  if (!triager) {
    return (
      <section class="quality-page">
        <TestsNav projectId={projectId} current="catalog" />
        <EmptyState title="Viewers cannot import test cases">Ask a triager or admin of this project.</EmptyState>
      </section>
    );
  }
  return (
    <section class="quality-page csv-import">
      <TestsNav projectId={projectId} current="catalog" />
      <nav class="crumbs small">
        <Link href={`/p/${projectId}/test-cases`}>Test cases</Link> ›
      </nav>
      <h1>Import test cases from CSV</h1>
      <div class="panel">
        <p class="muted small">
          Exports of TestRail, Qase and Kiwi TCMS are recognised by their headers. Rows whose key already exists update that case (with history); nothing is written when a row is
          invalid.
        </p>
        <div class="inline-form">
          <label class="field">
            CSV file
            <input
              type="file"
              name="csv"
              accept=".csv,text/csv"
              onChange={async (event) => {
                const file = event.currentTarget.files?.[0];
                if (!file) return;
                setFileName(file.name);
                setText(await file.text());
                setMapping({});
                setPreview(undefined);
                setResult(undefined);
              }}
            />
          </label>
          <label class="field">
            Exported by
            <select name="preset" value={preset} onChange={(event) => setPreset(event.currentTarget.value as CsvImportPreset | '')}>
              <option value="">Detect from the headers</option>
              <option value="testrail">TestRail</option>
              <option value="qase">Qase</option>
              <option value="kiwi">Kiwi TCMS</option>
              <option value="generic">Another tool</option>
            </select>
          </label>
          <button type="button" class="button" disabled={!text || busy} onClick={() => void run(true)}>
            Preview
          </button>
        </div>
        {fileName && <p class="small muted">{fileName}: {text.length.toLocaleString()} characters</p>}
      </div>
      {error && (
        <p class="notice notice-error" role="alert">
          {error}
        </p>
      )}
      {preview && (
        <div class="panel">
          <h2>
            {preview.total} test case(s) · read as {preview.preset}
          </h2>
          <h3>Columns</h3>
          <div class="mapping-grid">
            {csvImportTargets.map((target) => (
              <label key={target} class="field">
                {targetLabels[target]}
                <select
                  name={`map.${target}`}
                  value={mapping[target] ?? ''}
                  onChange={(event) => setMapping((previous) => ({ ...previous, [target]: event.currentTarget.value || undefined }))}
                >
                  <option value="">{preview.columns[target] ? `Detected: ${preview.columns[target]}` : 'Not in the file'}</option>
                  {preview.headers.map((header) => (
                    <option key={header} value={header}>
                      {header}
                    </option>
                  ))}
                </select>
              </label>
            ))}
          </div>
          <div class="inline-form">
            <button type="button" class="button" disabled={busy} onClick={() => void run(true)}>
              Preview again
            </button>
            <button type="button" class="button primary" disabled={busy} onClick={() => void run(false)}>
              Import {preview.total} test case(s)
            </button>
          </div>
          <h3>First {preview.cases.length}</h3>
          <table class="compact csv-preview">
            <thead>
              <tr>
                <th>Key</th>
                <th>Title</th>
                <th>Suite</th>
                <th>Priority</th>
                <th>Kind</th>
                <th class="number">Steps</th>
                <th>Requirements</th>
              </tr>
            </thead>
            <tbody>
              {preview.cases.map((testCase, index) => (
                <tr key={index}>
                  <td class="key">{testCase.key ?? 'new TC-n'}</td>
                  <td>{testCase.title}</td>
                  <td>{testCase.suite ?? '—'}</td>
                  <td>{testCase.priority ?? '—'}</td>
                  <td>{testCase.kind}</td>
                  <td class="number">{testCase.steps?.length ?? 0}</td>
                  <td>{testCase.requirements?.join(', ') || '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {result && (
        <p class="notice notice-info import-result" role="status">
          Imported: {result.created} created, {result.updated} updated, {result.unchanged} unchanged. <Link href={`/p/${projectId}/test-cases`}>Open the catalog</Link>.
        </p>
      )}
    </section>
  );
}
