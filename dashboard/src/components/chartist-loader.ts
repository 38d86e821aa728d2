// The charting library and its styles as one lazily loaded chunk (see components/chart.tsx).
import 'chartist/dist/index.css';

export { BarChart, LineChart } from 'chartist';
