// The whole history as one zip, built in the browser from the API: every
// workout (JSON) and each file a workout was imported from, as uploaded.
import { strToU8, Zip, ZipDeflate } from 'fflate';

import { ApiError, request } from './api';
import { errorText, h } from './dom';
import { ActivityOriginalFileDocument, ExportMyDataDocument, MyActivitiesDocument, type MyActivitiesQuery } from './gql/graphql';

/** Bytes of standard, padded base64. */
function base64Bytes(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** One workout's original file; a RATE_LIMITED refusal (60 a minute) waits and asks again. */
async function originalFile(id: string) {
  for (let refused = 0; ; refused++) {
    try {
      const { activity } = await request(ActivityOriginalFileDocument, { id });
      return activity.originalFile ?? null;
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 'RATE_LIMITED') || refused >= 30) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5000));
    }
  }
}

/**
 * A zip written as its entries come: each is compressed when added and its
 * bytes let go, so a long history holds the zip's compressed parts (a Blob,
 * which the browser may keep on disk), not every original file besides.
 */
function streamedZip() {
  const parts: Uint8Array[] = [];
  let failure: Error | null = null;
  const zip = new Zip((error, chunk) => {
    if (error) failure = error;
    else parts.push(chunk);
  });
  return {
    add(name: string, bytes: Uint8Array) {
      const entry = new ZipDeflate(name, { level: 6 });
      zip.add(entry);
      entry.push(bytes, true);
    },
    finish(): Blob {
      zip.end();
      if (failure) throw failure;
      return new Blob(parts as BlobPart[], { type: 'application/zip' });
    },
  };
}

/** The file name alone: the uploader chose it, and a zip path must not climb out. */
function baseName(name: string): string {
  const last = name.split(/[\\/]/).pop() ?? '';
  return last && last !== '.' && last !== '..' ? last : 'original';
}

export function historyDownload(): HTMLElement {
  const status = h('p', { className: 'status', role: 'status' });
  const button = h('button', { type: 'button', name: 'download-history' }, 'Download my history');
  button.onclick = async () => {
    button.disabled = true;
    status.textContent = 'Reading your workouts…';
    try {
      const workouts = [];
      let after: string | null = null;
      do {
        // Typed here: `after` feeds the next request, which TypeScript cannot infer through.
        const { myActivities }: MyActivitiesQuery = await request(MyActivitiesDocument, { first: 100, after });
        workouts.push(...myActivities.edges.map((edge) => edge.node));
        after = myActivities.pageInfo.hasNextPage ? (myActivities.pageInfo.endCursor ?? null) : null;
      } while (after);
      // The data export (the first 100 of each list; activities.json has every workout).
      const account = await request(ExportMyDataDocument, { first: 100 });
      const zip = streamedZip();
      zip.add('account.json', strToU8(JSON.stringify(account, null, 2)));
      zip.add('activities.json', strToU8(JSON.stringify(workouts, null, 2)));
      let kept = 0;
      for (const [index, workout] of workouts.entries()) {
        status.textContent = `Fetching files: ${index + 1} of ${workouts.length}…`;
        const file = await originalFile(workout.id);
        if (!file) continue;
        zip.add(`originals/${workout.id}/${baseName(file.fileName)}`, base64Bytes(file.contentBase64));
        kept++;
      }
      const url = URL.createObjectURL(zip.finish());
      const link = h('a', { href: url, download: `fittrack-history-${new Date().toISOString().slice(0, 10)}.zip` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      status.textContent = `Downloaded: ${workouts.length} workouts, ${kept} original files.`;
    } catch (error) {
      status.textContent = errorText(error);
    } finally {
      button.disabled = false;
    }
  };
  return h('section', { className: 'card' },
    h('h2', {}, 'Your data'),
    h('p', {}, 'Your account and every workout as JSON, and each file you imported as you uploaded it, in one zip. A long history takes minutes: files come one a second at most.'),
    button,
    status,
  );
}
