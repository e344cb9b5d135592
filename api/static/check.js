// The public check page's one optional script: read the QR code of an uploaded image, or of the
// camera's picture, in this browser (jsQR, vendored from npm: /static/vendor/jsqr/) and put its
// text in the form. No image or picture leaves the device; the node receives only the TB1:
// text, as when pasted. Without JavaScript the upload and the camera are not shown and pasting
// works as before.

const LARGEST = 16_000_000; // pixels: a phone photo is about 12 million

const picker = document.getElementById("qr-picker");
const input = document.getElementById("qr-file");
const said = document.getElementById("qr-status");
const text = document.getElementById("license");
const camera = document.getElementById("qr-camera");
const video = document.getElementById("qr-video");
const stopButton = document.getElementById("qr-stop");
const SCAN_EVERY = 200; // ms between two frames read
const SCAN_FOR = 60_000; // ms before the camera is closed unread

function readText(data, where) {
  text.value = data;
  return data.startsWith("TB1:")
    ? `已从${where}读出证照二维码文字，请按“核验”。`
    : "已读出二维码，但内容不是证照二维码文字（应以 TB1: 开头）。";
}

async function read(file) {
  const bitmap = await createImageBitmap(file);
  if (bitmap.width * bitmap.height > LARGEST) {
    return { problem: "图片过大，请裁剪到二维码附近后再上传。" };
  }
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
  const found = globalThis.jsQR(pixels.data, pixels.width, pixels.height);
  if (!found) return { problem: "图片中没有找到可识别的二维码。" };
  return { data: found.data };
}

if (picker && input && said && text && typeof globalThis.jsQR === "function") {
  picker.hidden = false;
  input.addEventListener("change", async () => {
    const file = input.files?.[0];
    if (!file) return;
    said.textContent = "正在识别……";
    try {
      const { data, problem } = await read(file);
      if (problem) {
        said.textContent = problem;
        return;
      }
      said.textContent = readText(data, "图片");
    } catch (error) {
      said.textContent = `无法读取该图片：${error.message}`;
    }
  });
}

// -- the camera: frames read in the page until a code is found, a minute passes or it is closed

let scanning = null;

function closeCamera(message) {
  clearInterval(scanning);
  scanning = null;
  for (const track of video.srcObject?.getTracks() ?? []) track.stop();
  video.srcObject = null;
  video.hidden = true;
  stopButton.hidden = true;
  camera.hidden = false;
  said.textContent = message;
  camera.focus();
}

async function scan() {
  if (!navigator.mediaDevices?.getUserMedia) {
    said.textContent = "此页不能使用摄像头（需要 HTTPS 或本机地址），请选择图片或粘贴文字。";
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "environment" },
      audio: false,
    });
  } catch (error) {
    said.textContent = `无法打开摄像头：${error.message}`;
    return;
  }
  video.srcObject = stream;
  video.hidden = false;
  stopButton.hidden = false;
  camera.hidden = true;
  await video.play();
  said.textContent = "请将证照二维码对准摄像头……";
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  const until = Date.now() + SCAN_FOR;
  scanning = setInterval(() => {
    if (Date.now() > until) return closeCamera("一分钟内没有识别到二维码，摄像头已关闭。");
    if (video.readyState < 2 || !video.videoWidth) return;
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    context.drawImage(video, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
    const found = globalThis.jsQR(pixels.data, pixels.width, pixels.height);
    if (found) closeCamera(readText(found.data, "摄像头画面"));
  }, SCAN_EVERY);
}

if (camera && video && stopButton && said && text && typeof globalThis.jsQR === "function") {
  camera.addEventListener("click", () => {
    scan().catch((error) => closeCamera(`摄像头出错：${error.message}`));
  });
  stopButton.addEventListener("click", () => closeCamera("摄像头已关闭。"));
}
