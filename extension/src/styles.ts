// The panel's CSS, injected once per document. JupyterLab's theme variables when
// present (light and dark themes), plain fallbacks on the standalone page.
const STYLE_ID = "rm-live-style";

const CSS = `
.rm-live {
  font-family: var(--jp-ui-font-family, system-ui, sans-serif);
  font-size: var(--jp-ui-font-size1, 13px);
  color: var(--jp-ui-font-color1, #1f2328);
  background: var(--jp-layout-color1, #fff);
  border: 1px solid var(--jp-border-color2, #d0d7de);
  border-radius: 6px;
  padding: 10px 12px;
  max-width: 640px;
  display: flex;
  flex-direction: column;
  gap: 8px;
}
.rm-live-title { font-weight: 600; }
.rm-live-row { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
.rm-live select {
  min-width: 180px; max-width: 300px; padding: 3px 4px;
  color: inherit; background: var(--jp-layout-color0, #fff);
  border: 1px solid var(--jp-border-color1, #8c959f); border-radius: 4px;
}
.rm-live button {
  padding: 4px 14px; border-radius: 4px; cursor: pointer; font: inherit;
  border: 1px solid var(--jp-border-color1, #8c959f);
  background: var(--jp-layout-color2, #f6f8fa); color: inherit;
}
.rm-live button.rm-live-start {
  background: var(--jp-brand-color1, #0969da); color: #fff; border-color: transparent;
}
.rm-live button:disabled { opacity: 0.45; cursor: default; }
.rm-live-state {
  padding: 2px 8px; border-radius: 10px; font-size: 0.92em;
  background: var(--jp-layout-color3, #eaeef2);
}
.rm-live-state[data-state="connected"] { background: #1a7f37; color: #fff; }
.rm-live-state[data-state="connecting"], .rm-live-state[data-state="starting"] {
  background: #bf8700; color: #fff;
}
.rm-live-state[data-state="failed"], .rm-live-state[data-state="disconnected"] {
  background: #cf222e; color: #fff;
}
.rm-live-meter-row { display: grid; grid-template-columns: 52px 1fr 64px; gap: 8px;
  align-items: center; }
.rm-live-meter { height: 10px; border-radius: 5px; overflow: hidden;
  background: var(--jp-layout-color3, #eaeef2); }
.rm-live-meter-bar { height: 100%; width: 0%; background: #2da44e;
  transition: width 60ms linear; }
.rm-live-meter-bar[data-zone="high"] { background: #d4a72c; }
.rm-live-meter-bar[data-zone="clip"] { background: #cf222e; }
.rm-live-db, .rm-live-counters, .rm-live-kernel {
  font-family: var(--jp-code-font-family, monospace); font-size: 0.9em;
  color: var(--jp-ui-font-color2, #57606a);
}
.rm-live-transcript {
  min-height: 1.4em; padding: 4px 8px; border-radius: 4px;
  background: var(--jp-layout-color2, #f6f8fa); white-space: pre-wrap;
}
.rm-live-transcript:empty::before { content: "no results yet"; opacity: 0.5; }
.rm-live-error {
  padding: 6px 8px; border-radius: 4px; color: #82071e; background: #ffebe9;
  border: 1px solid #ff818266;
}
.rm-live-error[hidden] { display: none; }
.rm-live video { max-width: 320px; border-radius: 4px; background: #000; }
`;

export function injectStyles(doc: Document = document): void {
  if (doc.getElementById(STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = CSS;
  doc.head.appendChild(style);
}
