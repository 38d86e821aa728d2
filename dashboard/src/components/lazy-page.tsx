import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ErrorState, Loading } from './states';

const loaded = new Map<() => Promise<unknown>, ComponentType<never>>();

/**
 * Renders a page whose code is loaded on first use (a dynamic import, i.e. its own chunk).
 * A failed load (a deploy replaced the chunk, the network dropped) shows a retry.
 */
export function LazyPage<Props extends object>(props: { load: () => Promise<ComponentType<Props>>; props: Props }) {
  const [component, setComponent] = useState<ComponentType<Props> | undefined>(() => loaded.get(props.load) as ComponentType<Props> | undefined);
  const [error, setError] = useState<unknown>();
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    if (loaded.has(props.load)) {
      setComponent(() => loaded.get(props.load) as ComponentType<Props>);
      return;
    }
    let current = true;
    setError(undefined);
    props.load().then(
      (page) => {
        loaded.set(props.load, page as ComponentType<never>);
        if (current) setComponent(() => page);
      },
      (caught: unknown) => current && setError(caught),
    );
    return () => {
      current = false;
    };
  }, [props.load, attempt]);
  if (error) return <ErrorState error={error} onRetry={() => setAttempt((value) => value + 1)} />;
  if (!component) return <Loading />;
  const Page = component;
  return <Page {...props.props} />;
}
