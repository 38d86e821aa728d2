import { type DefectSeverity, type DefectStatus, defectStatusLabels } from '../../../shared/dashboard-api';

export function StatusBadge(props: { status: DefectStatus }) {
  return <span class={`status status-${props.status}`}>{defectStatusLabels[props.status]}</span>;
}

export function SeverityBadge(props: { severity: DefectSeverity | null }) {
  if (!props.severity) return <span class="muted">—</span>;
  return <span class={`severity severity-${props.severity}`}>{props.severity}</span>;
}
