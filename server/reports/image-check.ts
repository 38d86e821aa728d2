import { imageSize } from 'image-size';
import { reportLimits } from '../../shared/report-schema';
import { AppError } from '../http/app-error';

export interface CheckedImage {
  contentType: 'image/png' | 'image/jpeg' | 'image/webp';
  width: number;
  height: number;
}

/** The type by magic bytes, never by the declared content type or file name. */
export function sniffImageType(bytes: Buffer): CheckedImage['contentType'] | undefined {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  return undefined;
}

/**
 * Accepts PNG, JPEG and WebP whose header declares at most 8000 × 16000 pixels and whose
 * container is complete (a truncated upload is rejected, not stored half). Dimensions are
 * read from the header, so an image bomb is refused before anything decodes it.
 */
export function checkImage(bytes: Buffer): CheckedImage {
  const contentType = sniffImageType(bytes);
  if (!contentType) throw new AppError('unsupported_media_type', 'The screenshot must be a PNG, JPEG or WebP image');
  let dimensions: { width?: number; height?: number };
  try {
    dimensions = imageSize(bytes);
  } catch {
    throw new AppError('unsupported_media_type', 'The screenshot could not be read as an image (corrupt header)');
  }
  const { width = 0, height = 0 } = dimensions;
  if (width <= 0 || height <= 0) throw new AppError('unsupported_media_type', 'The screenshot has no dimensions');
  if (width > reportLimits.imageMaxWidth || height > reportLimits.imageMaxHeight) {
    throw new AppError('image_too_large', `The screenshot is ${width} × ${height}; at most ${reportLimits.imageMaxWidth} × ${reportLimits.imageMaxHeight} is accepted`);
  }
  if (!isComplete(bytes, contentType)) throw new AppError('unsupported_media_type', 'The screenshot is truncated');
  return { contentType, width, height };
}

function isComplete(bytes: Buffer, type: CheckedImage['contentType']): boolean {
  if (type === 'image/png') return bytes.length >= 20 && bytes.subarray(bytes.length - 8, bytes.length - 4).toString('latin1') === 'IEND';
  if (type === 'image/jpeg') {
    // Some encoders pad after the end-of-image marker; look for it near the end.
    const tail = bytes.subarray(Math.max(0, bytes.length - 64));
    for (let index = tail.length - 2; index >= 0; index -= 1) if (tail[index] === 0xff && tail[index + 1] === 0xd9) return true;
    return false;
  }
  return bytes.readUInt32LE(4) + 8 <= bytes.length;
}
