// Importing workout files: drop (or pick) FIT, GPX and TCX files, gzipped or
// zipped; each is declared with its SHA-256, sent in the chunks the server
// asks for, and the import is followed live until every file is read.
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { request, subscribe } from './api';
import { errorText, h } from './dom';
import {
  FinishImportDocument,
  ImportProgressDocument,
  ImportStatusDocument,
  StartImportDocument,
  UploadImportChunkDocument,
  type ImportStatusQuery,
} from './gql/graphql';

const MAX_FILES = 20;
const MAX_FILE_BYTES = 25 * 1024 * 1024;

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** SHA-256 in hex: the browser's own where the page is a secure context. */
async function sha256(bytes: Uint8Array): Promise<string> {
  if (globalThis.crypto?.subtle) {
    return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)));
  }
  return hex(nobleSha256(bytes));
}

function base64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

type Outcome = ImportStatusQuery['importStatus'];

let stopProgress: (() => void) | null = null;

/** Stops following an import (leaving the screen). */
export function leaveImport(): void {
  stopProgress?.();
  stopProgress = null;
}

export function importScreen(openActivity: (id: string) => void): HTMLElement {
  const input = h('input', { type: 'file', name: 'files', multiple: true, accept: '.fit,.gpx,.tcx,.gz,.zip' });
  const zone = h('div', { className: 'dropzone', tabIndex: 0 },
    h('p', {}, 'Drop FIT, GPX or TCX files here (or a zip of them: a Strava or Garmin export), or '),
    input);
  const status = h('p', { className: 'status', role: 'status' });
  const table = h('table', { className: 'import-files' });
  const workouts = h('ul', { className: 'imported' });

  const showFiles = (files: { name: string; state: string; reason?: string | null }[]) =>
    table.replaceChildren(
      h('tr', {}, h('th', {}, 'File'), h('th', {}, 'State'), h('th', {}, 'Why')),
      ...files.map((file) =>
        h('tr', { dataset: { file: file.name, state: file.state } },
          h('td', {}, file.name), h('td', {}, file.state.toLowerCase()), h('td', {}, file.reason ?? '')),
      ),
    );
  const showOutcome = (done: Outcome) => {
    status.textContent = `Done: ${done.imported} imported, ${done.duplicates} already here, ${done.failed} refused.`;
    showFiles(done.files);
    workouts.replaceChildren(
      ...done.files.flatMap((file) =>
        file.workouts.map((w) =>
          h('li', { dataset: { outcome: w.outcome } },
            w.activityId
              ? h('button', { type: 'button', className: 'link', name: 'open-activity', onclick: () => openActivity(w.activityId!) },
                  `${w.type ?? 'Workout'} · ${w.startTime ? new Date(w.startTime).toLocaleString() : ''}`)
              : `${file.name}: `,
            ` ${w.outcome.toLowerCase()}${w.reason ? ` (${w.reason})` : ''}`),
        ),
      ),
    );
  };

  const upload = async (files: File[]) => {
    leaveImport();
    workouts.replaceChildren();
    if (files.length === 0) return;
    if (files.length > MAX_FILES) {
      status.textContent = `At most ${MAX_FILES} files at once: zip the rest.`;
      return;
    }
    const tooBig = files.find((f) => f.size > MAX_FILE_BYTES);
    if (tooBig) {
      status.textContent = `${tooBig.name} is over 25 MB.`;
      return;
    }
    try {
      status.textContent = 'Reading files…';
      const contents = await Promise.all(files.map(async (f) => new Uint8Array(await f.arrayBuffer())));
      const declared = await Promise.all(
        files.map(async (f, i) => ({ name: f.name.slice(-200), sizeBytes: f.size, sha256: await sha256(contents[i]) })),
      );
      // GPX and TCX give UTC times only: they were done where this browser is.
      const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      const { startImport } = await request(StartImportDocument, { files: declared, timeZone });
      const total = files.reduce((sum, f) => sum + f.size, 0);
      let sent = 0;
      showFiles(files.map((f) => ({ name: f.name, state: 'UPLOADING' })));
      for (const [index, bytes] of contents.entries()) {
        for (let offset = 0; offset < bytes.length; offset += startImport.chunkBytes) {
          const chunk = bytes.subarray(offset, offset + startImport.chunkBytes);
          await request(UploadImportChunkDocument, { importId: startImport.id, file: index, offset, data: base64(chunk) });
          sent += chunk.length;
          status.textContent = `Uploading… ${Math.round((100 * sent) / Math.max(total, 1))} %`;
        }
      }
      await request(FinishImportDocument, { importId: startImport.id });
      status.textContent = 'Reading your workouts…';
      const finished = async () => {
        leaveImport();
        showOutcome((await request(ImportStatusDocument, { id: startImport.id })).importStatus);
      };
      stopProgress = subscribe(
        ImportProgressDocument,
        { id: startImport.id },
        ({ importProgress: progress }) => {
          showFiles(progress.files);
          if (progress.state === 'DONE') void finished().catch((error) => (status.textContent = errorText(error)));
          else status.textContent = `Reading your workouts… ${progress.imported} imported so far`;
        },
        (error) => (status.textContent = errorText(error)),
      );
    } catch (error) {
      status.textContent = errorText(error);
    }
  };

  input.addEventListener('change', () => void upload([...(input.files ?? [])]));
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    void upload([...(e.dataTransfer?.files ?? [])]);
  });
  return h('section', { className: 'card' }, h('h2', {}, 'Import workouts'), zone, status, table, workouts);
}
