/**
 * The fallback when no in-page engine could capture the page. Kept out of the screenshot chunk:
 * the dialog calls it directly, with the user's consent.
 */

/**
 * The browser's own screen capture (desktop, asks the user): one frame of the tab or screen
 * they pick. Used when no in-page engine could capture the page. `beforeFrame` runs once the
 * user agreed and before the frame is taken (the widget hides itself there).
 */
export async function captureScreen(beforeFrame: () => Promise<void>): Promise<HTMLCanvasElement> {
  const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false, preferCurrentTab: true } as DisplayMediaStreamOptions);
  try {
    const video = document.createElement('video');
    video.srcObject = stream;
    video.muted = true;
    await video.play();
    // The widget hides itself first; the frame taken is one painted after that.
    await beforeFrame();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      video.requestVideoFrameCallback?.(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext('2d')?.drawImage(video, 0, 0);
    return canvas;
  } finally {
    stream.getTracks().forEach((track) => track.stop());
  }
}
