// The public check page's one optional script: read the QR code of an uploaded image in this
// browser (jsQR, vendored from npm: /static/vendor/jsqr/) and put its text in the form. The
// image never leaves the device; the node receives only the TB1: text, as when pasted. Without
// JavaScript the upload is not shown and pasting works as before.

const LARGEST = 16_000_000; // pixels: a phone photo is about 12 million

const picker = document.getElementById("qr-picker");
const input = document.getElementById("qr-file");
const said = document.getElementById("qr-status");
const text = document.getElementById("license");

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
      text.value = data;
      said.textContent = data.startsWith("TB1:")
        ? "已从图片读出证照二维码文字，请按“核验”。"
        : "已读出二维码，但内容不是证照二维码文字（应以 TB1: 开头）。";
    } catch (error) {
      said.textContent = `无法读取该图片：${error.message}`;
    }
  });
}
