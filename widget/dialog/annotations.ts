/** One mark the user made on the screenshot, in image pixels. */
export type Annotation =
  | { tool: 'highlight' | 'blackout'; x: number; y: number; width: number; height: number }
  | { tool: 'pen' | 'arrow'; points: Array<[number, number]> };

export type AnnotationTool = Annotation['tool'];

const highlightColor = '#f43f5e';

/** Draws the marks over whatever the context already holds. `unit` scales line widths. */
export function drawAnnotations(context: CanvasRenderingContext2D, annotations: Annotation[], unit: number): void {
  for (const annotation of annotations) {
    context.save();
    if (annotation.tool === 'blackout') {
      // Solid black over the pixels: the original content is destroyed in the exported image.
      context.fillStyle = '#000';
      context.fillRect(annotation.x, annotation.y, annotation.width, annotation.height);
    } else if (annotation.tool === 'highlight') {
      context.strokeStyle = highlightColor;
      context.lineWidth = 3 * unit;
      context.fillStyle = 'rgba(250, 204, 21, 0.18)';
      context.fillRect(annotation.x, annotation.y, annotation.width, annotation.height);
      context.strokeRect(annotation.x, annotation.y, annotation.width, annotation.height);
    } else if ('points' in annotation && annotation.points.length) {
      context.strokeStyle = highlightColor;
      context.fillStyle = highlightColor;
      context.lineWidth = 3 * unit;
      context.lineCap = context.lineJoin = 'round';
      const points = annotation.tool === 'arrow' ? [annotation.points[0], annotation.points[annotation.points.length - 1]] : annotation.points;
      context.beginPath();
      context.moveTo(points[0][0], points[0][1]);
      for (const [x, y] of points.slice(1)) context.lineTo(x, y);
      context.stroke();
      if (annotation.tool === 'arrow' && points.length === 2) {
        const [[x1, y1], [x2, y2]] = points;
        const angle = Math.atan2(y2 - y1, x2 - x1);
        const head = 14 * unit;
        context.beginPath();
        context.moveTo(x2, y2);
        context.lineTo(x2 - head * Math.cos(angle - 0.45), y2 - head * Math.sin(angle - 0.45));
        context.lineTo(x2 - head * Math.cos(angle + 0.45), y2 - head * Math.sin(angle + 0.45));
        context.closePath();
        context.fill();
      }
    }
    context.restore();
  }
}

/** Normalises a drag from (x1, y1) to (x2, y2) into a rectangle with positive size. */
export function dragRectangle(x1: number, y1: number, x2: number, y2: number) {
  return { x: Math.min(x1, x2), y: Math.min(y1, y2), width: Math.abs(x2 - x1), height: Math.abs(y2 - y1) };
}

/** The screenshot with the marks burnt in, at full resolution. */
export function composeImage(base: HTMLCanvasElement, annotations: Annotation[]): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = base.width;
  canvas.height = base.height;
  const context = canvas.getContext('2d')!;
  context.drawImage(base, 0, 0);
  drawAnnotations(context, annotations, base.width / Math.max(1, innerWidth));
  return canvas;
}

const toBlob = (canvas: HTMLCanvasElement, type: string, quality: number) =>
  new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, type, quality));

/**
 * Downscales to at most 1920 px wide and encodes as WebP (JPEG where the browser cannot write
 * WebP), lowering quality until the file is under 500 KB (else the smallest try, if it is under
 * the server's 5 MB limit).
 */
export async function encodeImage(source: HTMLCanvasElement, maxWidth = 1920): Promise<Blob> {
  let canvas = source;
  if (source.width > maxWidth) {
    canvas = document.createElement('canvas');
    canvas.width = maxWidth;
    canvas.height = Math.round((source.height * maxWidth) / source.width);
    const context = canvas.getContext('2d')!;
    context.imageSmoothingQuality = 'high';
    context.drawImage(source, 0, 0, canvas.width, canvas.height);
  }
  let smallest: Blob | null = null;
  for (const [type, quality] of [
    ['image/webp', 0.85],
    ['image/jpeg', 0.85],
    ['image/webp', 0.6],
    ['image/jpeg', 0.5],
  ] as const) {
    const blob = await toBlob(canvas, type, quality);
    if (!blob || blob.type !== type) continue;
    if (blob.size <= 500_000) return blob;
    if (!smallest || blob.size < smallest.size) smallest = blob;
  }
  if (smallest && smallest.size <= 4_500_000) return smallest;
  throw new Error('the screenshot could not be encoded small enough');
}
